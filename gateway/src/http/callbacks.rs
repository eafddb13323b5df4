//! `POST /v1/callbacks/{source}`: pushes from the national systems ([`crate::inbound::callbacks`]).
//!
//! Every answer is in the pusher's own format (the rule, over the problem+json of the
//! rest of the API): 200 with its success body only after the push is committed; 400 malformed,
//! 401 forged or stale, 403 a source without a configured secret, 404 a decision about an
//! unknown dossier, 409 a decision about a dossier never delivered to the deciding system, 413
//! too large, 503 with
//! `Retry-After` when the store is unavailable or request bodies fill their memory budget — each with the pusher's error body. An unknown
//! source is a problem+json 404: there is no pusher to answer in its format.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lienthong_connectors::push::PushError;
use serde_json::Value;

use super::AppState;
use super::body::read_limited;
use super::problem::Problem;
use crate::inbound::callbacks::{self, CallbackError, Source};

fn answer(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// A refusal in the pusher's format, logged and counted.
fn refused(source: Source, e: &CallbackError) -> Response {
    let (status, body) = match e {
        CallbackError::Refused(p) => {
            let status = StatusCode::from_u16(p.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, source.refused(p))
        }
        CallbackError::NotConfigured(_) => (
            StatusCode::FORBIDDEN,
            source.refused(&PushError::Forged(e.to_string())),
        ),
        CallbackError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, source.unavailable()),
        CallbackError::Store(_) | CallbackError::RevocationUnavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, source.unavailable())
        }
    };
    let outcome = if status.is_server_error() {
        tracing::error!(source = source.name(), error = %e, "push not taken");
        "unavailable"
    } else {
        // A refused push may be an attack: logged with its reason, never with its content.
        tracing::warn!(source = source.name(), reason = %e, "push refused");
        "refused"
    };
    crate::monitoring::telemetry::callback(source.name(), outcome);
    answer(status, &body)
}

/// `POST /v1/callbacks/{source}`.
pub(super) async fn post_callback(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    peer: Option<axum::Extension<crate::http::listener::PeerCertificate>>,
    allowance: Option<axum::Extension<Arc<crate::http::limits::Allowance>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(source) = Source::parse(&name) else {
        return Problem::not_found(format!(
            "unknown callback source `{name}` (the sources are {})",
            crate::config::push_source_names()
        ))
        .into_response();
    };
    let settings = st.callbacks.get();
    let limit = settings.max_body;
    // What the request line and headers can refuse is refused before a byte of the body is read
    // (a source with nothing to check it by, a body announced over the limit): bytes from a
    // caller not yet known cost no memory.
    if !settings.configured(source) {
        super::body::discard_some(
            allowance.as_ref().map(|axum::Extension(a)| a),
            body,
            super::body::REFUSAL_DRAIN,
        )
        .await;
        return refused(source, &CallbackError::NotConfigured(source));
    }
    if super::body::announced_length(&headers).is_some_and(|n| n > limit) {
        let e = CallbackError::Refused(PushError::Malformed(format!(
            "the body is larger than callbacks.max_body ({limit} bytes)"
        )));
        let mut resp = refused(source, &e);
        *resp.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        return resp;
    }
    let bytes = match read_limited(&headers, body, limit, "callbacks.max_body", |d| {
        Problem::bad_json(d)
    })
    .await
    {
        Ok(b) => b,
        Err(p) if p.status() == StatusCode::SERVICE_UNAVAILABLE => {
            // The body budget is full: nothing taken, the pusher retries.
            crate::monitoring::telemetry::callback(source.name(), "unavailable");
            tracing::warn!(
                source = source.name(),
                "push not read: request bodies fill server.max_body_memory"
            );
            return answer(StatusCode::SERVICE_UNAVAILABLE, &source.unavailable());
        }
        Err(p) => {
            let e = CallbackError::Refused(PushError::Malformed(p.detail().to_owned()));
            let mut resp = refused(source, &e);
            *resp.status_mut() = p.status();
            return resp;
        }
    };
    let security = st.security.current();
    // Parsing a large push (a dossier with its files) and checking its base64 or its signature
    // is CPU work.
    let prepared = tokio::task::spawn_blocking(move || {
        callbacks::prepare(
            source,
            &bytes,
            &settings,
            &security,
            time::OffsetDateTime::now_utc(),
        )
    })
    .await
    .unwrap_or_else(|e| Err(CallbackError::Internal(e.to_string())));
    let receipt = match prepared {
        Ok(mut p) => {
            if let Err(e) = p.check_revocation(st.security.revocation()).await {
                return refused(source, &e);
            }
            p.receipt.peer_certificate_sha256 =
                peer.map(|axum::Extension(c)| c.info.sha256_fingerprint.clone());
            match callbacks::with_event(p, &st.store, &st.destinations).await {
                Ok(receipt) => receipt,
                Err(e) => return refused(source, &e),
            }
        }
        Err(e) => return refused(source, &e),
    };
    match callbacks::commit(&st.store, receipt).await {
        Ok(taken) => {
            let body: Value =
                serde_json::from_str(&taken.answer).unwrap_or_else(|_| source.accepted());
            answer(StatusCode::OK, &body)
        }
        Err(e) => refused(source, &e),
    }
}
