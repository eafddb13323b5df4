//! The middleware in front of every handler: it gathers what a request presents (client
//! certificate, `X-Road-Client`, RFC 9421 signature, bearer token, console session) and asks
//! the `auth` rules — client-certificate rules (`auth::client`), administrators
//! (`auth::admin`), the center's API (`auth::caller::center_may`) — per part of the API
//! ([`crate::auth::access::Area`]); a refusal ([`crate::auth::Refusal`]) is answered as its
//! problem.
//!
//! The certificate itself was verified against the client trust store during the TLS
//! handshake (an expired certificate or one from another CA never gets this far). A signed
//! route checks the signature over `@method`, `@target-uri` and `content-digest` from the head
//! alone, then buffers the body (within `server.max_body` and the body budget) and holds it to
//! `Content-Digest`, then passes the request on with the verified signature as an extension.
//! Whatever is refused before the body is read is refused without reading more than a little
//! of it ([`refuse`]). What the caller proved is put on the request as
//! a [`Caller`]; the center's API and the admin API are refused here, in one place, to callers
//! that proved nothing they accept.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lienthong_certs::httpsig::{self, VerifiedHttpSignature};

use super::AppState;
use super::problem::Problem;
use crate::auth::access::{self, Area, Role, longest};
use crate::auth::admin::{self as admins, AdminCredentials, Presented};
use crate::auth::caller::{self, Caller, bearer, session_cookie};
use crate::auth::client::{XROAD_CLIENT, check_client, relayed_client};
use crate::http::listener::{ConnectionInfo, PeerCertificate};
use crate::trust::security::SignedRoute;

/// 421 for a `Host` the gateway is not reached by (`server.public_names`): a page whose name
/// was re-pointed at this address (DNS rebinding) cannot use what a browser's ambient
/// authority opens (a session cookie, a token its script found), with or without an
/// `Authorization` header of its own making. Not checked: liveness and readiness (orchestrators
/// probe by address; readiness then gives the status only, see [`foreign_host`]).
fn host_allowed(state: &AppState, headers: &HeaderMap, uri: &http::Uri) -> Result<(), Problem> {
    if matches!(uri.path(), "/healthz" | "/readyz") {
        return Ok(());
    }
    match foreign_host(state, headers, uri) {
        None => Ok(()),
        Some(host) => {
            metrics::counter!("lienthong_host_refused_total").increment(1);
            Err(Problem::new(
                StatusCode::MISDIRECTED_REQUEST,
                "unknown-host",
                "This gateway is not reached by that name",
                format!("Host {host:?} is not one of server.public_names"),
            ))
        }
    }
}

/// The request's host when it is not one of the names the gateway is reached by (`None` when
/// it is, or when no names are known: an exposed listener without `server.public_names`).
fn foreign_host(state: &AppState, headers: &HeaderMap, uri: &http::Uri) -> Option<String> {
    if state.public_names.is_empty() {
        return None;
    }
    let host = uri
        .authority()
        .map(|a| a.host().to_owned())
        .or_else(|| {
            let h = headers.get(header::HOST)?.to_str().ok()?;
            // `name:port`, `[v6]:port`, `[v6]`, `name`.
            Some(match h.rsplit_once(':') {
                Some((name, port))
                    if !name.is_empty()
                        && port.bytes().all(|b| b.is_ascii_digit())
                        && !h.ends_with(']') =>
                {
                    name.to_owned()
                }
                _ => h.to_owned(),
            })
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    (!state.public_names.contains(&host)).then_some(host)
}

/// The middleware.
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(p) = host_allowed(&state, req.headers(), req.uri()) {
        return refuse(req, p).await;
    }
    let security = state.security.current();
    let path = req.uri().path().to_string();
    let area = access::area(&path);
    let rule = longest(&security.client_auth, &path, |r| &r.path_prefix);
    let mut certified = false;
    if let Some(rule) = rule {
        let peer = req.extensions().get::<PeerCertificate>();
        if let Err(r) = check_client(rule, peer.map(|p| &*p.info)) {
            metrics::counter!("lienthong_client_auth_refused_total").increment(1);
            tracing::warn!(path, reason = %r, "client certificate refused");
            return refuse(req, Problem::from(&r)).await;
        }
        certified = peer.is_some();
    }
    // X-Road: only a rule naming the member's Security Server makes `X-Road-Client` an
    // identity; anywhere else the header is dropped before anything can read it.
    let mut req = req;
    let xroad_client = match rule.filter(|r| r.relays_xroad()) {
        Some(rule) => match relayed_client(rule, req.headers()) {
            Ok(client) => {
                tracing::info!(
                    path,
                    xroad_client = client,
                    "relayed by the Security Server"
                );
                Some(client)
            }
            Err(r) => {
                metrics::counter!("lienthong_client_auth_refused_total").increment(1);
                tracing::warn!(path, reason = %r, "X-Road client refused");
                return refuse(req, Problem::from(&r)).await;
            }
        },
        None => {
            req.headers_mut().remove(XROAD_CLIENT);
            None
        }
    };
    let route = longest(&security.signed_routes, &path, |r| &r.rule.path_prefix);
    let mut req = match route {
        None => req,
        Some(route) => match verified(&state, route, req, &path).await {
            Ok(req) => req,
            Err(response) => return response,
        },
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let headers = req.headers();
    let center = certified
        || route.is_some()
        || state
            .center_token
            .as_ref()
            .is_some_and(|t| bearer(headers).is_some_and(|b| t.matches(b)));
    let session = match session_cookie(headers) {
        Some(id) => live_session(&state, id).await,
        None => None,
    };
    let method = req.method().clone();
    // Readiness answers a foreign name too (orchestrators probe by address), with the status
    // only: its detail is an administrator's, and nobody is one under a foreign name.
    let foreign = foreign_host(&state, headers, req.uri()).is_some();
    let held = AdminCredentials {
        admin_token: state.admin_token.as_ref(),
        viewer_token: state.viewer_token.as_ref(),
        allow_unauthenticated: state.allow_unauthenticated,
    };
    let admin = admins::authorize(
        held,
        &Presented {
            bearer: bearer(headers),
            certified_admin: certified && rule.is_some_and(access::rule_is_admin),
            session: session.as_ref().map(|(_, role)| *role),
            method: &method,
            path: &path,
        },
    )
    .and_then(|role| admins::allowed(role, foreign, &method, &path));
    let caller = Caller {
        center,
        admin,
        session: session.map(|(id, _)| id),
        xroad_client,
    };
    match area {
        Area::Center => {
            // Open only in a lab (server.allow_unauthenticated) where nothing protects it: no
            // address is an identity (a reverse proxy on this host makes every client loopback).
            let open = state.allow_unauthenticated
                && state.center_token.is_none()
                && !rule.is_some_and(|r| r.required)
                && route.is_none();
            if let Err(r) = caller::center_may(&caller, open, &method) {
                metrics::counter!("lienthong_unauthenticated_refused_total").increment(1);
                tracing::info!(path, peer = ?peer, "center API: no credentials accepted");
                return refuse(req, Problem::from(&r)).await;
            }
        }
        // The console answers a browser with its sign-in page instead (console::guard).
        Area::Admin if !path.starts_with("/console") => {
            if let Err(r) = &caller.admin {
                let p = Problem::from(r);
                return refuse(req, p).await;
            }
        }
        _ => {}
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The answer to a request refused before its body is read: a little of the body is read and
/// thrown away first ([`super::body::discard_some`]), so a client that writes a small body
/// before reading sees the refusal (over HTTP/1, and over HTTP/2 before the stream is reset)
/// rather than a reset connection; a larger one is not read.
async fn refuse(req: Request, problem: Problem) -> Response {
    super::body::discard_request(req).await;
    problem.into_response()
}

/// The SHA-256 and role of a live console session, `None` for an unknown or expired one (or
/// when the store cannot say: the caller is then not signed in).
async fn live_session(state: &AppState, id: &str) -> Option<(String, Role)> {
    let hash = lienthong_certs::sha256_hex(id.as_bytes());
    match state.store.session_role(&hash).await {
        Ok(role) => role.as_deref().and_then(Role::parse).map(|r| (hash, r)),
        Err(e) => {
            tracing::warn!(error = %e, "console session cannot be read: not signed in");
            None
        }
    }
}

/// Checks a signed route's signature, then its body, then its nonce, and gives back the request
/// with the body and the verified signature; or the answer to send. The signature covers
/// `Content-Digest` (a header), so the caller is known from the head alone: a request whose
/// signature, key, window or coverage is refused is answered before its body is read (a little
/// of it is thrown away, [`refuse`]). Only then is the body read, within `server.max_body` and
/// the body budget, and held to the digest the signature covers.
async fn verified(
    state: &AppState,
    route: &SignedRoute,
    req: Request,
    path: &str,
) -> Result<Request, Response> {
    let signed = match check_signature(
        route,
        req.uri(),
        req.method(),
        req.headers(),
        req.extensions(),
    ) {
        Ok(signed) => signed,
        Err(p) => {
            metrics::counter!("lienthong_signature_refused_total").increment(1);
            tracing::warn!(path, reason = p.detail(), "request signature refused");
            return Err(refuse(req, p).await);
        }
    };
    let (mut parts, body) = req.into_parts();
    let bytes = super::body::read_limited(
        &parts.headers,
        body,
        state.max_body,
        "server.max_body",
        |reason| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "unreadable",
                "Unreadable body",
                reason,
            )
        },
    )
    .await
    .map_err(IntoResponse::into_response)?;
    let checked = match httpsig::verify_request_body(&parts.headers, &bytes) {
        Ok(()) => remember_nonce(state, signed).await,
        Err(e) => Err(unauthorized(e.to_string())),
    };
    match checked {
        Ok(verified) => {
            parts.extensions.insert(verified);
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        Err(p) => {
            if p.status() == StatusCode::UNAUTHORIZED {
                metrics::counter!("lienthong_signature_refused_total").increment(1);
                tracing::warn!(path, reason = p.detail(), "request signature refused");
            }
            Err(p.into_response())
        }
    }
}

/// Records a verified signature's nonce in the store, where every instance sharing it (and this
/// one after a restart) sees it: a second use within the signature's window is a replay (401).
///
/// Errors: the replay problem, or 503 when the store cannot record it (the request cannot be
/// told from a replay, so it is not taken).
async fn remember_nonce(
    state: &AppState,
    verified: VerifiedHttpSignature,
) -> Result<VerifiedHttpSignature, Problem> {
    let Some(nonce) = &verified.nonce else {
        return Ok(verified);
    };
    let keyid = verified.keyid.as_deref().unwrap_or("");
    match state
        .store
        .remember_nonce(keyid, nonce, verified.nonce_until)
        .await
    {
        Ok(true) => Ok(verified),
        Ok(false) => Err(unauthorized(httpsig::HttpSigError::Replay.to_string())),
        Err(e) => Err(super::store_unavailable(&e)),
    }
}

fn unauthorized(detail: String) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "signature-invalid",
        "Request signature invalid",
        detail,
    )
}

/// Verifies the signature of a request's head (key, algorithm, window, covered components,
/// `Content-Digest` present once and covered); the body is held to the digest afterwards.
fn check_signature(
    route: &SignedRoute,
    uri: &http::Uri,
    method: &Method,
    headers: &HeaderMap,
    extensions: &http::Extensions,
) -> Result<VerifiedHttpSignature, Problem> {
    let tls = extensions.get::<ConnectionInfo>().is_some_and(|c| c.tls);
    let authority = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get("host").and_then(|v| v.to_str().ok()))
        .ok_or_else(|| unauthorized("no Host".into()))?;
    let target = format!(
        "{}://{}{}",
        if tls { "https" } else { "http" },
        authority,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let policy = httpsig::VerifyPolicy {
        label: None,
        max_age: route.rule.max_age,
        max_skew: std::time::Duration::from_secs(60),
        required_components: &["@method", "@target-uri", "content-digest"],
        require_nonce: route.rule.require_nonce,
        // Recorded in the store afterwards (remember_nonce), shared by the cluster.
        nonces: None,
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    httpsig::verify_request_head(method.as_str(), &target, headers, &policy, |keyid, _| {
        keyid.and_then(|k| route.keys.get(k)).cloned()
    })
    .map_err(|e| unauthorized(e.to_string()))
}
