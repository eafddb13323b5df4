//! Per-route authentication in front of every handler: client-certificate rules
//! (`[[server.client_auth]]`) and required RFC 9421 signatures (`[[server.signed_routes]]`).
//!
//! The certificate itself was verified against the client trust store during the TLS
//! handshake (an expired certificate or one from another CA never gets this far); here the
//! route decides whether one is required and which issuers and subjects it accepts. A signed
//! route buffers the body (within `server.max_body`), checks `Content-Digest` against it and
//! the signature over `@method`, `@target-uri` and `content-digest`, then passes the request on
//! with the verified signature as an extension.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lienthong_certs::httpsig::{self, VerifiedHttpSignature};

use super::AppState;
use super::problem::Problem;
use crate::config::ClientAuthRule;
use crate::listener::{ConnectionInfo, PeerCertificate};
use crate::security::SignedRoute;

/// The middleware.
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let security = state.security.current();
    let path = req.uri().path().to_string();
    if let Some(rule) = longest(&security.client_auth, &path, |r| &r.path_prefix) {
        let peer = req.extensions().get::<PeerCertificate>();
        if let Err(p) = check_client(rule, peer) {
            metrics::counter!("lienthong_client_auth_refused_total").increment(1);
            tracing::warn!(path, reason = p.detail(), "client certificate refused");
            return p.into_response();
        }
    }
    let Some(route) = longest(&security.signed_routes, &path, |r| &r.rule.path_prefix) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let limit = usize::try_from(state.max_body).unwrap_or(usize::MAX);
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request too large",
                format!("the body is larger than {} bytes", state.max_body),
            )
            .into_response();
        }
    };
    let checked = match check_signature(route, &parts, &bytes) {
        Ok(verified) => remember_nonce(&state, verified).await,
        Err(p) => Err(p),
    };
    match checked {
        Ok(verified) => {
            parts.extensions.insert(verified);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(p) => {
            if p.status() == StatusCode::UNAUTHORIZED {
                metrics::counter!("lienthong_signature_refused_total").increment(1);
                tracing::warn!(path, reason = p.detail(), "request signature refused");
            }
            p.into_response()
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

fn longest<'a, T>(rules: &'a [T], path: &str, prefix: impl Fn(&T) -> &String) -> Option<&'a T> {
    rules
        .iter()
        .filter(|r| path.starts_with(prefix(r).as_str()))
        .max_by_key(|r| prefix(r).len())
}

fn forbidden(kind: &'static str, title: &'static str, detail: String) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, kind, title, detail)
}

/// Applies a client-certificate rule to the presented certificate.
pub fn check_client(rule: &ClientAuthRule, peer: Option<&PeerCertificate>) -> Result<(), Problem> {
    let Some(peer) = peer else {
        return if rule.required {
            Err(forbidden(
                "client-certificate-required",
                "Client certificate required",
                format!(
                    "{} requires a TLS client certificate from an allowed issuer",
                    rule.path_prefix
                ),
            ))
        } else {
            Ok(())
        };
    };
    let info = &peer.info;
    if !rule.allowed_issuers.is_empty()
        && !rule.allowed_issuers.iter().any(|a| info.issuer_matches(a))
    {
        return Err(forbidden(
            "client-certificate-not-allowed",
            "Client certificate issuer not allowed",
            format!(
                "issuer {} is not allowed on {}",
                info.issuer, rule.path_prefix
            ),
        ));
    }
    if !rule.allowed_subjects.is_empty()
        && !rule
            .allowed_subjects
            .iter()
            .any(|a| info.subject_matches(a))
    {
        return Err(forbidden(
            "client-certificate-not-allowed",
            "Client certificate subject not allowed",
            format!(
                "subject {} is not allowed on {}",
                info.subject, rule.path_prefix
            ),
        ));
    }
    Ok(())
}

fn unauthorized(detail: String) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "signature-invalid",
        "Request signature invalid",
        detail,
    )
}

fn check_signature(
    route: &SignedRoute,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<VerifiedHttpSignature, Problem> {
    let tls = parts
        .extensions
        .get::<ConnectionInfo>()
        .is_some_and(|c| c.tls);
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| parts.headers.get("host").and_then(|v| v.to_str().ok()))
        .ok_or_else(|| unauthorized("no Host".into()))?;
    let target = format!(
        "{}://{}{}",
        if tls { "https" } else { "http" },
        authority,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
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
    httpsig::verify_request(
        parts.method.as_str(),
        &target,
        &parts.headers,
        body,
        &policy,
        |keyid, _| keyid.and_then(|k| route.keys.get(k)).cloned(),
    )
    .map_err(|e| unauthorized(e.to_string()))
}
