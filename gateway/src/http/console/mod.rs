//! The operator console (bảng điều khiển) at `/console`: server-rendered HTML with Vietnamese and
//! English labels, no script, so it works offline on the center's own network and on a big
//! screen.
//!
//! Pages: the overview (destinations with queue depth, oldest age, circuit state and last
//! error; certificates with days left; deadline totals as a chart), dead letters with a replay
//! button, dossier lookup (history and per-destination delivery), and the deadline statistics.
//!
//! Access is the admin API's (`http::guard`): the admin token (bearer), a client certificate
//! rule for admin paths, or a console session; no address (a lab's
//! `server.allow_unauthenticated` lets everyone in). Signing in with the admin token starts an operator's session, with the viewer
//! token a viewer's (the overview and the deadline boards only); the browser keeps a random
//! session id (`HttpOnly`, `SameSite=Strict`, `Secure` over https), the store its hash, role and
//! end, so every instance knows it and signing out ends it. Failed sign-ins are limited per
//! address. Forms that change state carry a CSRF token derived from the session and must come
//! from this gateway's own origin (`Origin`, else `Referer`).

pub mod html;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::access::Role;
use crate::delivery::breaker::CircuitState;
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::records::deadlines::ms;
use crate::store::{DeliveryFilter, DeliveryState, ReplayOutcome, now_ms};
use askama::Template;
use html::{
    CertificateRow, Chart, DeadPage, DestinationRow, DossierPage, LoginPage, MessagePage,
    OverviewPage, StatsLine, StatsPage, StatsTable,
};

/// The console's routes, under `/console`; every page but the sign-in form behind [`guard`].
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/dead", get(dead_letters))
        .route("/console/replay/{id}", post(replay))
        .route("/console/dossier", get(dossier))
        .route("/console/stats", get(stats))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
}

/// Lets a request through to a console page, or answers what the browser should see instead.
async fn guard(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match refusal(&st, req.extensions().get::<crate::auth::Caller>()) {
        Some(r) => r,
        None => next.run(req).await,
    }
}

/// A rendered page with the headers of every console page: no caching, no framing, no script.
fn html_response(status: StatusCode, page: &impl Template) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        // Templates are checked at compile time; rendering fails only when a value's Display
        // does (not expected).
        Err(e) => {
            tracing::error!(error = %e, "console page not rendered");
            return crate::http::problem::Problem::internal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                &e,
            )
            .into_response();
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// `None` lets the request through; otherwise what the browser should see instead (the login
/// form when a token is configured). The caller was authorized by `http::guard` with the `auth` rules.
fn refusal(st: &AppState, caller: Option<&crate::auth::Caller>) -> Option<Response> {
    match caller.map(|c| &c.admin) {
        Some(Ok(_)) => None,
        // Signed in, but the role does not allow this page: say so.
        Some(Err(p)) if caller.is_some_and(|c| c.session.is_some()) => {
            Some(Problem::from(p).into_response())
        }
        _ if st.admin_token.is_some() || st.viewer_token.is_some() => {
            Some(Redirect::to("/console/login").into_response())
        }
        Some(Err(p)) => Some(Problem::from(p).into_response()),
        None => Some(crate::http::problem::Problem::not_found("no such page").into_response()),
    }
}

fn fail(e: impl std::fmt::Display) -> Response {
    html_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &MessagePage {
            title: ("Không đọc được dữ liệu", "Data unavailable"),
            message: None,
            detail: e.to_string(),
        },
    )
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// A circuit's CSS class and labels.
fn circuit(state: CircuitState) -> (&'static str, &'static str, &'static str) {
    match state {
        CircuitState::Closed => ("ok", "Bình thường", "closed"),
        CircuitState::HalfOpen => ("warn", "Đang thử", "half-open"),
        CircuitState::Open => ("bad", "Tạm dừng", "open (paused)"),
    }
}

/// `GET /console`.
async fn overview(State(st): State<Arc<AppState>>) -> Response {
    let counts = match st.store.delivery_counts().await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let oldest = match st.store.oldest_undelivered().await {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let now = now_ms();
    let mut rows = Vec::new();
    for (name, d) in &st.destinations {
        let n = |state: DeliveryState| {
            counts
                .iter()
                .find(|c| &c.destination == name && c.state == state)
                .map_or(0, |c| c.count)
        };
        let queued: i64 = DeliveryState::ALL
            .into_iter()
            .filter(|s| s.is_queued())
            .map(n)
            .sum();
        let oldest_age = oldest
            .iter()
            .find(|(dest, _)| dest == name)
            .map_or_else(|| "—".to_owned(), |(_, at)| age((now - at).max(0) / 1000));
        let last_error = match st.store.last_error(name).await {
            Ok(Some((e, at))) => Some((e, crate::store::ms_to_rfc3339(at))),
            Ok(None) => None,
            Err(e) => return fail(e),
        };
        rows.push(DestinationRow {
            name: name.clone(),
            queued,
            retrying: n(DeliveryState::RetryWait),
            dead: n(DeliveryState::Dead),
            oldest: oldest_age,
            circuit: circuit(d.breaker.state()),
            last_error,
        });
    }
    let at = OffsetDateTime::now_utc();
    let certificates = st
        .security
        .current()
        .certificates
        .iter()
        .map(|c| {
            let days_left = c.info.seconds_left(at).div_euclid(86_400);
            CertificateRow {
                name: c.name.clone(),
                subject: c.info.subject.clone(),
                expires: c.info.not_after.date().to_string(),
                days_left,
                class: match days_left {
                    d if d < 0 => "bad",
                    d if d <= 30 => "warn",
                    _ => "ok",
                },
            }
        })
        .collect();
    let stats =
        match crate::http::stats::compute(&st, (i64::MIN, i64::MAX), now, due_soon_ms(&st)).await {
            Ok(s) => s,
            Err(p) => return p.into_response(),
        };
    html_response(
        StatusCode::OK,
        &OverviewPage {
            destinations: rows,
            certificates,
            chart: Chart::of(&stats.totals),
        },
    )
}

fn due_soon_ms(st: &AppState) -> i64 {
    i64::try_from(st.due_soon.as_millis()).unwrap_or(i64::MAX)
}

/// Query of the dead-letter page.
#[derive(Debug, Deserialize)]
struct DeadQuery {
    /// A message just replayed (the notice after the redirect).
    replayed: Option<String>,
    /// A replay refused, with why.
    refused: Option<String>,
}

/// `GET /console/dead`.
async fn dead_letters(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<DeadQuery>,
) -> Response {
    let dead = match st
        .store
        .deliveries(&DeliveryFilter {
            state: Some(DeliveryState::Dead),
            destination: None,
            dossier_code: None,
            limit: 500,
        })
        .await
    {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    html_response(
        StatusCode::OK,
        &DeadPage {
            replayed: q.replayed.as_deref(),
            refused: q.refused.as_deref(),
            dead: &dead,
            csrf: &csrf_token(&st, &headers),
        },
    )
}

/// The replay form.
#[derive(Debug, Deserialize)]
struct ReplayForm {
    csrf: String,
}

/// The CSRF token the console's forms carry: derived from the session id (so every instance
/// sharing the store knows it, and it ends with the session), or, for a caller authenticated
/// without a session (bearer token, certificate, a lab), the process's own.
fn csrf_token(st: &AppState, headers: &HeaderMap) -> String {
    match crate::auth::caller::session_cookie(headers) {
        Some(id) => lienthong_certs::sha256_hex(format!("lienthong-csrf:{id}").as_bytes()),
        None => st.console_csrf.expose().to_owned(),
    }
}

/// Whether a state-changing request comes from this gateway's own pages: its `Origin` (or,
/// without one, its `Referer`) names this gateway's `Host`. Neither sent: refused (browsers
/// send `Origin` with every form post; tools use the bearer token and the API instead).
fn same_origin(headers: &HeaderMap) -> bool {
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    source
        .split_once("://")
        .is_some_and(|(_, rest)| rest.split('/').next().unwrap_or_default() == host)
}

/// `POST /console/replay/{id}`.
async fn replay(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReplayForm>,
) -> Response {
    let expected = lienthong_certs::Secret::new(csrf_token(&st, &headers));
    if !same_origin(&headers) || !expected.matches(&form.csrf) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "Cross-site request refused",
            "the form's CSRF token is missing or wrong, or the request came from another site",
        )
        .into_response();
    }
    let target = match st.store.replay(&id).await {
        Ok(ReplayOutcome::Replayed) => {
            tracing::info!(message = id, "console: dead letter replayed");
            format!("/console/dead?replayed={}", urlencoding(&id))
        }
        Ok(ReplayOutcome::NotFound) => {
            format!(
                "/console/dead?refused={}",
                urlencoding(&format!("{id}: no such delivery"))
            )
        }
        Ok(ReplayOutcome::NotReplayable(s)) => format!(
            "/console/dead?refused={}",
            urlencoding(&format!(
                "{id} is {s}; only dead or cancelled deliveries can be replayed"
            ))
        ),
        Err(e) => return fail(e),
    };
    Redirect::to(&target).into_response()
}

/// Query of the dossier page.
#[derive(Debug, Deserialize)]
struct DossierQuery {
    code: Option<String>,
}

/// `GET /console/dossier?code=`.
async fn dossier(State(st): State<Arc<AppState>>, Query(q): Query<DossierQuery>) -> Response {
    let code = q.code.unwrap_or_default();
    let view = if code.is_empty() {
        None
    } else {
        match st.store.dossier_view(&code).await {
            Ok(v) => v,
            Err(e) => return fail(e),
        }
    };
    html_response(
        StatusCode::OK,
        &DossierPage {
            code: &code,
            view: view.as_ref(),
        },
    )
}

/// `GET /console/stats`: the deadline statistics as tables and a chart.
async fn stats(State(st): State<Arc<AppState>>) -> Response {
    let now = ms(OffsetDateTime::now_utc());
    let s =
        match crate::http::stats::compute(&st, (i64::MIN, i64::MAX), now, due_soon_ms(&st)).await {
            Ok(s) => s,
            Err(p) => return p.into_response(),
        };
    let mut headers = vec![("Mã", "Code")];
    headers.extend(html::STATES.iter().map(|(_, vi, en, _)| (*vi, *en)));
    headers.push(("Tổng", "Total"));
    let lines =
        |lines: &[crate::records::deadlines::Line]| lines.iter().map(StatsLine::of).collect();
    let totals = crate::records::deadlines::Line {
        code: "Tất cả / All".into(),
        counts: s.totals,
    };
    let tables = vec![
        StatsTable {
            id: "totals",
            vi: "Tổng",
            en: "Totals",
            lines: lines(std::slice::from_ref(&totals)),
        },
        StatsTable {
            id: "by-agency",
            vi: "Theo cơ quan",
            en: "By agency",
            lines: lines(&s.by_agency),
        },
        StatsTable {
            id: "by-procedure",
            vi: "Theo thủ tục",
            en: "By procedure",
            lines: lines(&s.by_procedure),
        },
        StatsTable {
            id: "by-field",
            vi: "Theo lĩnh vực",
            en: "By field",
            lines: lines(&s.by_field),
        },
    ];
    html_response(
        StatusCode::OK,
        &StatsPage {
            chart: Chart::of(&s.totals),
            headers,
            tables,
        },
    )
}

/// `GET /console/login`.
async fn login_form() -> Response {
    html_response(StatusCode::OK, &LoginPage)
}

/// The login form.
#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

/// `POST /console/login`: the admin token starts an operator's session, the viewer token a
/// viewer's; the browser keeps only a random session id (`HttpOnly`, `SameSite=Strict`,
/// `Secure` when the gateway is reached over https), the store its SHA-256, role and end.
/// Failed attempts are limited per address ([`crate::http::limits::SignInLimiter`]).
async fn login(
    State(st): State<Arc<AppState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let refused = |status: StatusCode, vi: &str, en: &str| {
        html_response(
            status,
            &MessagePage {
                title: ("Đăng nhập", "Sign in"),
                message: Some((vi, en)),
                detail: String::new(),
            },
        )
    };
    if let Err(wait) = st.sign_ins.check(peer.ip()) {
        let mut r = refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Quá nhiều lần đăng nhập sai; thử lại sau",
            "Too many failed sign-ins; try again later",
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if !same_origin(&headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "Yêu cầu từ trang khác bị từ chối",
            "Cross-site request refused",
        );
    }
    let Some(role) = Role::of_token(
        st.admin_token.as_ref(),
        st.viewer_token.as_ref(),
        &form.token,
    ) else {
        st.sign_ins.failed(peer.ip());
        tracing::warn!(%peer, "console: failed sign-in");
        return refused(
            StatusCode::UNAUTHORIZED,
            "Sai mã quản trị",
            "Wrong admin token",
        );
    };
    st.sign_ins.succeeded(peer.ip());
    let id = hex::encode(rand::random::<[u8; 32]>());
    let lifetime = i64::try_from(st.console_session.as_millis()).unwrap_or(i64::MAX);
    if let Err(e) = st
        .store
        .start_session(
            &lienthong_certs::sha256_hex(id.as_bytes()),
            role.as_str(),
            now_ms().saturating_add(lifetime),
        )
        .await
    {
        return fail(e);
    }
    tracing::info!(%peer, role = role.as_str(), "console: signed in");
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        crate::auth::caller::SESSION_COOKIE,
        st.console_session.as_secs(),
        if st.secure_cookies { "; Secure" } else { "" }
    );
    let mut r = Redirect::to(if role == Role::Operator {
        "/console"
    } else {
        "/console/stats"
    })
    .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /console/logout`: ends the session everywhere and clears the cookie.
async fn logout(
    State(st): State<Arc<AppState>>,
    caller: Option<axum::extract::Extension<crate::auth::Caller>>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers) {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "Cross-site request refused",
            "sign out from the console's own page",
        )
        .into_response();
    }
    if let Some(hash) = caller.and_then(|c| c.0.session) {
        if let Err(e) = st.store.end_session(&hash).await {
            return fail(e);
        }
        tracing::info!("console: signed out");
    }
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        crate::auth::caller::SESSION_COOKIE,
        if st.secure_cookies { "; Secure" } else { "" }
    );
    let mut r = Redirect::to("/console/login").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Percent-encodes a query value.
fn urlencoding(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
