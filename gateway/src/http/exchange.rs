//! `POST /v1/exchange`: edXML from other centers (liên thông).
//!
//! The path of a message: a client certificate is required (the listener verified it against
//! `server.tls.client_trust`); the body is bounded (`exchange.max_body`, 413) and waits for room
//! in `exchange.memory_budget` before it is read, so many large documents at once queue instead
//! of exhausting memory; parsing and verification run on the blocking pool (a big document does
//! not stall other requests); the sender must be a configured peer whose trust store holds the
//! signer, and the signer must be that agency (401/403); the last trace hop must be recent
//! (`exchange.max_age`, a replay is 401); then the message, its effect on the dossier and the
//! notices for the center are committed together, and only then is the signed `01` answer sent
//! ([`crate::inbound::exchange`], shared with the axis poller). A resend (same DocumentId, or same status)
//! gets the original answer and changes nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lienthong_connectors::peer::inbound::InboundError;
use time::OffsetDateTime;

use super::body;
use super::problem::Problem;
use super::{AppState, internal, store_unavailable};
use crate::http::listener::PeerCertificate;
use crate::inbound::exchange::{self, ReceiveError};

fn refused(e: &InboundError) -> Problem {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let (kind, title) = match e {
        InboundError::Malformed(_) => ("malformed-edxml", "The edXML document is malformed"),
        InboundError::BadSignature(_) => ("bad-signature", "The signature is not accepted"),
        InboundError::UnknownPeer(_) => ("unknown-peer", "The sender is not a configured peer"),
        InboundError::WrongSigner { .. } => ("wrong-signer", "The signer is not the sender"),
        InboundError::NotAddressed { .. } => (
            "not-addressed-here",
            "The document is addressed to another center",
        ),
    };
    Problem::new(status, kind, title, e.to_string())
}

/// The problem a refusal is answered with.
fn problem(e: ReceiveError) -> Problem {
    match e {
        ReceiveError::Refused(e) => refused(&e),
        ReceiveError::Stale(detail) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "stale-message",
            "The message is too old or from the future",
            detail,
        ),
        ReceiveError::WrongTransport(detail) => Problem::new(
            StatusCode::FORBIDDEN,
            "transport-identity",
            "The client certificate is not the sender's",
            detail,
        ),
        ReceiveError::NotYours(detail) => Problem::new(
            StatusCode::FORBIDDEN,
            "not-exchanged",
            "The dossier is not exchanged with the sender",
            detail,
        ),
        e @ ReceiveError::UnknownDossier(_) => Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-dossier",
            "No such dossier",
            e.to_string(),
        ),
        ReceiveError::Internal(detail) => internal(detail),
        ReceiveError::KeyUnavailable(detail) => {
            tracing::warn!("an exchange document waits for the signing key: {detail}");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "signing-key-unavailable",
                "The key that signs the answer is unavailable",
                "nothing was stored; send the document again later",
            )
            .with_header(header::RETRY_AFTER, "30")
        }
        ReceiveError::RevocationUnavailable(detail) => {
            tracing::warn!(
                "an exchange document waits for its signer's revocation status: {detail}"
            );
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "revocation-status-unavailable",
                "The signer's certificate status cannot be checked now",
                format!("nothing was stored; send the document again later ({detail})"),
            )
            .with_header(header::RETRY_AFTER, "30")
        }
        ReceiveError::Store(e) => store_unavailable(&e),
    }
}

/// How long a document waits for room in the memory budget before the sender is told to retry.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn xml_answer(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn receive(st: Arc<AppState>, req: Request) -> Result<Response, Problem> {
    let Some(transport) = req.extensions().get::<PeerCertificate>().cloned() else {
        body::discard_request(req).await;
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "client-certificate-required",
            "A client certificate is required",
            "other centers connect with mutual TLS (server.tls.client_trust)",
        ));
    };
    let sender = transport.info.subject.clone();
    if !body::is_xml(req.headers()) {
        body::discard_request(req).await;
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be XML",
            "send Content-Type: application/xml",
        ));
    }
    let limit = st.exchange.max_body;
    let announced = body::announced_length(req.headers());
    if announced.is_some_and(|n| n > limit) {
        return Err(body::too_large(limit, "exchange.max_body"));
    }
    // Room in the memory budget for the whole document before a byte of it is read, within
    // the sender's share (one peer cannot hold what the others need).
    let need = st.exchange.permits_for(announced.unwrap_or(limit));
    let Some(_share) = st.exchange.hold_for(&sender, need) else {
        crate::monitoring::telemetry::exchange("-", "busy");
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "This sender's documents fill its share; nothing was stored, try again",
            "exchange.memory_per_client is in use by this client certificate; retry after the Retry-After delay",
        ));
    };
    // Waiting is bounded: on HTTP/2 a request waiting here holds flow-control window on a shared
    // connection, so an unbounded wait could stall the request being read. Past the wait the
    // sender is told to come back (its retry schedule honours Retry-After).
    let room = tokio::time::timeout(
        BUDGET_WAIT,
        st.exchange.budget.clone().acquire_many_owned(need),
    )
    .await;
    let _room = match room {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "Shutting down",
                "the gateway is stopping; send again to another instance or later",
            ));
        }
        Err(_) => {
            crate::monitoring::telemetry::exchange("-", "busy");
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Other documents are being received; nothing was stored, try again",
                "exchange.memory_budget is in use; retry after the Retry-After delay",
            ));
        }
    };
    let (parts, request_body) = req.into_parts();
    // A pushed document arrives at exchange.min_body_rate or is cut (408), giving back its
    // share of the budget.
    let request_body = Body::new(crate::http::limits::DeadlineBody::new(
        request_body,
        &st.exchange.limits,
    ));
    let bytes = body::read_limited(
        &parts.headers,
        request_body,
        limit,
        "exchange.max_body",
        |reason| refused(&InboundError::Malformed(reason)),
    )
    .await?;
    let xml = String::from_utf8(bytes).map_err(|e| {
        refused(&InboundError::Malformed(format!(
            "the document is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )))
    })?;
    let now = OffsetDateTime::now_utc();
    let state = st.clone();
    let receipt = tokio::task::spawn_blocking(move || {
        let security = state.security.current();
        exchange::prepare(
            xml,
            &security,
            &state.exchange,
            now,
            state.exchange.max_age,
            Some(&transport.info),
        )
    })
    .await
    .map_err(|e| internal(format!("verification task failed: {e}")))?
    .map_err(problem)?
    .believe(&st.security)
    .await
    .map_err(problem)?;
    let received = exchange::commit(&st.store, receipt, "push")
        .await
        .map_err(problem)?;
    Ok(xml_answer(StatusCode::OK, received.answer))
}

/// `POST /v1/exchange`.
pub(super) async fn post_exchange(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    match receive(st, req).await {
        Ok(r) => r,
        Err(p) => {
            crate::monitoring::telemetry::exchange("-", "refused");
            tracing::warn!(status = p.status().as_u16(), "edXML refused");
            p.into_response()
        }
    }
}
