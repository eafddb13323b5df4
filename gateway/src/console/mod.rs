//! The operator console (bảng điều khiển) at `/console`: server-rendered HTML with Vietnamese and
//! English labels, no script, so it works offline on the center's own network and on a big
//! screen.
//!
//! Pages: the overview (destinations with queue depth, oldest age, circuit state and last
//! error; certificates with days left; deadline totals as a chart), dead letters with a replay
//! button, dossier lookup (history and per-destination delivery), and the deadline statistics.
//!
//! Access is the admin API's: the admin token when configured (sent as a bearer token, or kept in
//! an `HttpOnly`, `SameSite=Strict` cookie by the login form), loopback clients otherwise. The
//! replay form is a POST carrying a per-process CSRF token compared in constant time, and a
//! request whose `Origin` is another site is refused.

pub mod html;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::breaker::CircuitState;
use crate::deadlines::ms;
use crate::http::AppState;
use crate::http::problem::Problem;
use crate::store::{DeliveryFilter, ReplayOutcome, now_ms};
use html::{esc, label, page, table};

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
}

/// Lets a request through to a console page, or answers what the browser should see instead.
async fn guard(
    State(st): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match refusal(&st, req.extensions().get::<crate::http::guard::Caller>()) {
        Some(r) => r,
        None => next.run(req).await,
    }
}

/// Headers of every console page: no caching, no framing, no script.
fn html_response(status: StatusCode, body: String) -> Response {
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
/// form when a token is configured). The caller was authorized by `http::guard`.
fn refusal(st: &AppState, caller: Option<&crate::http::guard::Caller>) -> Option<Response> {
    match caller.map(|c| &c.admin) {
        Some(Ok(())) => None,
        _ if st.admin_token.is_some() => Some(Redirect::to("/console/login").into_response()),
        Some(Err(p)) => Some(p.clone().into_response()),
        None => Some(crate::http::problem::Problem::not_found("no such page").into_response()),
    }
}

fn fail(e: impl std::fmt::Display) -> Response {
    html_response(
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "Không đọc được dữ liệu",
            "Data unavailable",
            &format!("<p class=err>{}</p>", esc(&e.to_string())),
        ),
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

fn circuit(state: CircuitState) -> String {
    match state {
        CircuitState::Closed => format!("<span class=ok>{}</span>", label("Bình thường", "closed")),
        CircuitState::HalfOpen => {
            format!("<span class=warn>{}</span>", label("Đang thử", "half-open"))
        }
        CircuitState::Open => format!(
            "<span class=bad>{}</span>",
            label("Tạm dừng", "open (paused)")
        ),
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
        let n = |state: &str| {
            counts
                .iter()
                .find(|c| &c.destination == name && c.state == state)
                .map_or(0, |c| c.count)
        };
        let queued = n("pending") + n("retry_wait") + n("in_flight");
        let oldest_age = oldest
            .iter()
            .find(|(dest, _)| dest == name)
            .map_or_else(|| "—".to_owned(), |(_, at)| age((now - at).max(0) / 1000));
        let last_error = match st.store.last_error(name).await {
            Ok(Some((e, at))) => format!(
                "{} <span class=en>({})</span>",
                esc(&e),
                esc(&crate::store::ms_to_rfc3339(at))
            ),
            Ok(None) => "—".to_owned(),
            Err(e) => return fail(e),
        };
        rows.push(vec![
            esc(name),
            format!("<span class=num>{queued}</span>"),
            format!("<span class=num>{}</span>", n("retry_wait")),
            format!("<a href=/console/dead class=num>{}</a>", n("dead")),
            oldest_age,
            circuit(d.breaker.state()),
            last_error,
        ]);
    }
    let destinations = table(
        "destinations",
        &[
            ("Điểm đến", "Destination"),
            ("Đang chờ gửi", "Queued"),
            ("Chờ gửi lại", "Retrying"),
            ("Thư lỗi", "Dead"),
            ("Chờ lâu nhất", "Oldest"),
            ("Trạng thái", "Circuit"),
            ("Lỗi gần nhất", "Last error"),
        ],
        &rows,
    );
    let at = OffsetDateTime::now_utc();
    let certs: Vec<Vec<String>> = st
        .security
        .current()
        .certificates
        .iter()
        .map(|c| {
            let days = c.info.seconds_left(at).div_euclid(86_400);
            let class = match days {
                d if d < 0 => "bad",
                d if d <= 30 => "warn",
                _ => "ok",
            };
            vec![
                esc(&c.name),
                esc(&c.info.subject),
                esc(&c.info.not_after.date().to_string()),
                format!("<span class=\"num {class}\">{days}</span>"),
            ]
        })
        .collect();
    let certificates = table(
        "certificates",
        &[
            ("Chứng thư", "Certificate"),
            ("Chủ thể", "Subject"),
            ("Hết hạn", "Expires"),
            ("Còn (ngày)", "Days left"),
        ],
        &certs,
    );
    let stats =
        match crate::http::stats::compute(&st, (i64::MIN, i64::MAX), now, due_soon_ms(&st)).await {
            Ok(s) => s,
            Err(p) => return p.into_response(),
        };
    let body = format!(
        "<h2>{}</h2>{destinations}<h2>{}</h2>{certificates}<h2>{}</h2>{}<p><a href=/console/stats>{}</a></p>",
        label("Điểm đến", "Destinations"),
        label("Chứng thư số", "Certificates"),
        label("Hồ sơ theo hạn giải quyết", "Dossiers by deadline"),
        html::chart(&stats.totals),
        label(
            "Chi tiết theo cơ quan, thủ tục, lĩnh vực",
            "By agency, procedure and field"
        ),
    );
    html_response(StatusCode::OK, page("Tổng quan", "Overview", &body))
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
async fn dead_letters(State(st): State<Arc<AppState>>, Query(q): Query<DeadQuery>) -> Response {
    let dead = match st
        .store
        .deliveries(&DeliveryFilter {
            state: Some("dead".into()),
            destination: None,
            dossier_code: None,
            limit: 500,
        })
        .await
    {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let csrf = esc(st.console_csrf.expose());
    let rows: Vec<Vec<String>> = dead
        .iter()
        .map(|d| {
            vec![
                format!("<code>{}</code>", esc(&d.id)),
                format!(
                    "<a href=\"/console/dossier?code={}\">{}</a>",
                    esc(&urlencoding(&d.dossier_code)),
                    esc(&d.dossier_code)
                ),
                esc(&d.destination),
                esc(&d.kind),
                format!("<span class=num>{}</span>", d.attempts),
                esc(d.last_error.as_deref().unwrap_or("—")),
                format!(
                    "<form class=inline method=post action=\"/console/replay/{}\">\
                     <input type=hidden name=csrf value=\"{csrf}\">\
                     <button type=submit>Gửi lại / Replay</button></form>",
                    esc(&d.id)
                ),
            ]
        })
        .collect();
    let mut body = String::new();
    if let Some(id) = &q.replayed {
        body.push_str(&format!(
            "<p class=notice id=replayed>{} <code>{}</code></p>",
            label("Đã đưa lại vào hàng đợi", "Queued again"),
            esc(id)
        ));
    }
    if let Some(why) = &q.refused {
        body.push_str(&format!("<p class=err>{}</p>", esc(why)));
    }
    body.push_str(&table(
        "dead-letters",
        &[
            ("Mã thư", "Message"),
            ("Hồ sơ", "Dossier"),
            ("Điểm đến", "Destination"),
            ("Loại", "Kind"),
            ("Số lần", "Attempts"),
            ("Lý do", "Reason"),
            ("", "Action"),
        ],
        &rows,
    ));
    html_response(StatusCode::OK, page("Thư lỗi", "Dead letters", &body))
}

/// The replay form.
#[derive(Debug, Deserialize)]
struct ReplayForm {
    csrf: String,
}

/// Whether the request's `Origin`, when sent, is this gateway (`Host`).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// `POST /console/replay/{id}`.
async fn replay(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReplayForm>,
) -> Response {
    if !same_origin(&headers) || !st.console_csrf.matches(&form.csrf) {
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
    let mut body = format!(
        "<form method=get action=/console/dossier><label>{} <input name=code value=\"{}\" size=40></label> \
         <button type=submit>Tra cứu / Look up</button></form>",
        label("Mã hồ sơ", "Dossier code"),
        esc(&code)
    );
    if !code.is_empty() {
        match st.store.dossier_view(&code).await {
            Ok(Some(v)) => {
                body.push_str(&format!(
                    "<h2>{} {}</h2><p>{}: <strong id=status>{}</strong> · {}: {}</p>",
                    label("Hồ sơ", "Dossier"),
                    esc(&v.code),
                    label("Trạng thái", "Status"),
                    esc(&v.status),
                    label("Tiếp nhận", "Accepted"),
                    esc(&v.accepted_at)
                ));
                let events: Vec<Vec<String>> = v
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            esc(&e.id),
                            esc(&e.status),
                            esc(&e.received_at),
                            esc(e.event["note"].as_str().unwrap_or("")),
                        ]
                    })
                    .collect();
                body.push_str(&format!("<h3>{}</h3>", label("Quá trình xử lý", "History")));
                body.push_str(&table(
                    "history",
                    &[
                        ("Mã", "Id"),
                        ("Trạng thái", "Status"),
                        ("Lúc", "At"),
                        ("Ghi chú", "Note"),
                    ],
                    &events,
                ));
                let deliveries: Vec<Vec<String>> = v
                    .deliveries
                    .iter()
                    .map(|d| {
                        vec![
                            esc(&d.destination),
                            esc(&d.kind),
                            format!("<span class=state>{}</span>", esc(&d.state)),
                            format!("<span class=num>{}</span>", d.attempts),
                            esc(d.delivered_at.as_deref().unwrap_or("—")),
                            esc(d.last_error.as_deref().unwrap_or("—")),
                        ]
                    })
                    .collect();
                body.push_str(&format!(
                    "<h3>{}</h3>",
                    label("Gửi đến các điểm đến", "Delivery per destination")
                ));
                body.push_str(&table(
                    "deliveries",
                    &[
                        ("Điểm đến", "Destination"),
                        ("Loại", "Kind"),
                        ("Trạng thái", "State"),
                        ("Số lần", "Attempts"),
                        ("Đã gửi lúc", "Delivered at"),
                        ("Lỗi", "Error"),
                    ],
                    &deliveries,
                ));
            }
            Ok(None) => body.push_str(&format!(
                "<p class=err>{} <code>{}</code></p>",
                label("Không có hồ sơ", "No such dossier"),
                esc(&code)
            )),
            Err(e) => return fail(e),
        }
    }
    html_response(
        StatusCode::OK,
        page("Tra cứu hồ sơ", "Dossier lookup", &body),
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
    let mut headers_row: Vec<(&str, &str)> = vec![("Mã", "Code")];
    headers_row.extend(html::STATES.iter().map(|(_, vi, en, _)| (*vi, *en)));
    headers_row.push(("Tổng", "Total"));
    let lines = |lines: &[crate::deadlines::Line]| -> Vec<Vec<String>> {
        lines
            .iter()
            .map(|l| {
                let mut row = vec![esc(if l.code.is_empty() { "—" } else { &l.code })];
                row.extend(
                    l.counts
                        .states()
                        .iter()
                        .map(|(_, n)| format!("<span class=num>{n}</span>")),
                );
                row.push(format!("<span class=num>{}</span>", l.counts.total));
                row
            })
            .collect()
    };
    let totals = crate::deadlines::Line {
        code: "Tất cả / All".into(),
        counts: s.totals,
    };
    let body = format!(
        "{}<h2>{}</h2>{}<h2>{}</h2>{}<h2>{}</h2>{}<h2>{}</h2>{}",
        html::chart(&s.totals),
        label("Tổng", "Totals"),
        table(
            "totals",
            &headers_row,
            &lines(std::slice::from_ref(&totals))
        ),
        label("Theo cơ quan", "By agency"),
        table("by-agency", &headers_row, &lines(&s.by_agency)),
        label("Theo thủ tục", "By procedure"),
        table("by-procedure", &headers_row, &lines(&s.by_procedure)),
        label("Theo lĩnh vực", "By field"),
        table("by-field", &headers_row, &lines(&s.by_field)),
    );
    html_response(
        StatusCode::OK,
        page("Thống kê hạn giải quyết", "Deadline statistics", &body),
    )
}

/// `GET /console/login`.
async fn login_form() -> Response {
    let body = format!(
        "<form method=post action=/console/login><label>{} <input type=password name=token autocomplete=current-password></label> \
         <button type=submit>Đăng nhập / Sign in</button></form>",
        label("Mã quản trị", "Admin token")
    );
    html_response(StatusCode::OK, page("Đăng nhập", "Sign in", &body))
}

/// The login form.
#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

/// `POST /console/login`: a right token is kept in an `HttpOnly` cookie.
async fn login(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let ok = st
        .admin_token
        .as_ref()
        .is_some_and(|t| t.matches(&form.token));
    if !ok || !same_origin(&headers) {
        return html_response(
            StatusCode::UNAUTHORIZED,
            page(
                "Đăng nhập",
                "Sign in",
                &format!(
                    "<p class=err>{}</p>",
                    label("Sai mã quản trị", "Wrong admin token")
                ),
            ),
        );
    }
    let cookie = format!(
        "lienthong_admin={}; Path=/; HttpOnly; SameSite=Strict{}",
        form.token,
        if st.security.current().listener_tls.is_some() {
            "; Secure"
        } else {
            ""
        }
    );
    let mut r = Redirect::to("/console").into_response();
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
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_this_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8440".parse().expect("header"));
        assert!(
            same_origin(&h),
            "no Origin: a same-site form post or a tool"
        );
        h.insert(
            header::ORIGIN,
            "http://127.0.0.1:8440".parse().expect("header"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            "https://evil.example".parse().expect("header"),
        );
        assert!(!same_origin(&h));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            urlencoding("000.00.14.H37-2411 a&b"),
            "000.00.14.H37-2411%20a%26b"
        );
    }
}
