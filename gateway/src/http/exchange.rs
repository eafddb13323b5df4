//! `POST /v1/exchange`: edXML from other centers (liên thông).
//!
//! The path of a message: a client certificate is required (the listener verified it against
//! `server.tls.client_trust`); the body is bounded (`exchange.max_body`, 413) and waits for room
//! in `exchange.memory_budget` before it is read, so many large documents at once queue instead
//! of exhausting memory; parsing and verification run on the blocking pool (a big document does
//! not stall other requests); the sender must be a configured peer whose trust store holds the
//! signer, and the signer must be that agency (401/403); the last trace hop must be recent
//! (`exchange.max_age`, a replay is 401); then the message, its effect on the dossier and the
//! notices for the center are committed together, and only then is the signed `01` answer sent.
//! A resend (same DocumentId, or same status) gets the original answer and changes nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lienthong_certs::xml::Limits;
use lienthong_connectors::peer::inbound::{self, Inbound, InboundError};
use lienthong_connectors::{MessageBody, MessageKind, Notice};
use lienthong_mappings::{Dossier, DossierStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use lienthong_certs::sha256_hex;

use super::body;
use super::problem::Problem;
use super::{AppState, internal, store_unavailable};
use crate::listener::PeerCertificate;
use crate::security::InboundPeer;
use crate::store::{ExchangeReceipt, NewMessage, ReceiptEffect, ReceiptOutcome};

/// Receiving settings, from `[exchange]`.
pub struct ExchangeSettings {
    /// Webhook destinations received messages are forwarded to.
    pub forward_to: Vec<String>,
    /// Largest document.
    pub max_body: u64,
    /// Oldest acceptable trace hop.
    pub max_age: time::Duration,
    /// Furthest acceptable future trace hop.
    pub max_skew: time::Duration,
    /// Room for documents being read and verified, in KiB permits.
    pub budget: Arc<Semaphore>,
    /// The budget's size in KiB.
    pub budget_kib: u32,
}

impl ExchangeSettings {
    /// From the configuration.
    pub fn new(c: &crate::config::ExchangeConfig) -> Self {
        let kib = u32::try_from(c.memory_budget.div_ceil(1024)).unwrap_or(u32::MAX);
        Self {
            forward_to: c.forward_to.clone(),
            max_body: c.max_body,
            max_age: time::Duration::try_from(c.max_age).unwrap_or(time::Duration::HOUR),
            max_skew: time::Duration::try_from(c.max_skew).unwrap_or(time::Duration::MINUTE),
            budget: Arc::new(Semaphore::new(kib as usize)),
            budget_kib: kib,
        }
    }
}

/// How long a document waits for room in the memory budget before the sender is told to retry.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn refused(e: &InboundError) -> Problem {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let (kind, title) = match e {
        InboundError::Malformed(_) => ("malformed-edxml", "The edXML document is malformed"),
        InboundError::BadSignature(_) => ("bad-signature", "The signature is not accepted"),
        InboundError::UnknownPeer(_) => ("unknown-peer", "The sender is not a configured peer"),
        InboundError::WrongSigner { .. } => ("wrong-signer", "The signer is not the sender"),
    };
    Problem::new(status, kind, title, e.to_string())
}

/// The canonical status an edXML StatusCode moves a dossier to (`None`: recorded only).
///
/// Errors: a code the standard does not define.
fn canonical(code: &str) -> Result<Option<DossierStatus>, InboundError> {
    Ok(match code {
        "01" | "15" | "16" => None,
        "02" => Some(DossierStatus::Rejected),
        "03" => Some(DossierStatus::Accepted),
        "04" | "05" => Some(DossierStatus::Processing),
        "06" => Some(DossierStatus::Processed),
        "13" => Some(DossierStatus::Withdrawn),
        other => {
            return Err(InboundError::Malformed(format!(
                "StatusCode {other} is not an edXML status (01-06, 13, 15, 16)"
            )));
        }
    })
}

/// What a verified message becomes: its effect and the notice for the center.
fn effect_of(
    m: &Inbound,
    peer: &InboundPeer,
) -> Result<(ReceiptEffect, &'static str, Value), InboundError> {
    let from = json!({ "code": m.from, "name": m.from_name });
    match &m.status_code {
        None => {
            let business = m.business_doc_type.unwrap_or(0);
            let dossier = match m.dossier_data() {
                Some(a) => {
                    let bytes = a.bytes()?;
                    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                        InboundError::Malformed(format!("Attachment {}: {e}", a.content_id))
                    })?;
                    let d = Dossier::from_json(value).map_err(|e| {
                        InboundError::Malformed(format!("Attachment {}: {e}", a.content_id))
                    })?;
                    if d.code != m.dossier_code {
                        return Err(InboundError::Malformed(format!(
                            "Attachment {}: code {} differs from OtherInfo/ReferenceCodes {}",
                            a.content_id, d.code, m.dossier_code
                        )));
                    }
                    serde_json::to_value(&d).map_err(|e| InboundError::Malformed(e.to_string()))?
                }
                None => json!({
                    "code": m.dossier_code,
                    "summary": m.subject,
                    "procedure": { "code": m.procedure_code },
                }),
            };
            let mut files = Vec::new();
            for a in &m.attachments {
                if a.content_id == lienthong_connectors::peer::DOSSIER_DATA_ID {
                    continue;
                }
                let bytes = a.bytes()?;
                files.push(json!({
                    "content_id": a.content_id,
                    "name": a.name,
                    "content_type": a.content_type,
                    "size": bytes.len(),
                    "sha256": sha256_hex(&bytes),
                    "content": a.content,
                }));
            }
            let body = dossier.to_string();
            let notice = json!({
                "from": from,
                "document_id": m.document_id,
                "business_doc_type": business,
                "subject": m.subject,
                "signer": m.signer,
                "dossier": dossier,
                "attachments": files,
            });
            Ok((
                ReceiptEffect::Dossier {
                    business_doc_type: business,
                    sha256: sha256_hex(body.as_bytes()),
                    body,
                    status: DossierStatus::Registered.as_str().to_owned(),
                    reply_destination: peer.destination.clone(),
                },
                "exchange.dossier",
                notice,
            ))
        }
        Some(code) => {
            let status = canonical(code)?;
            let at = m.status_at.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
            let notice = json!({
                "from": from,
                "document_id": m.document_id,
                "status_code": code,
                "status": status.map(DossierStatus::as_str),
                "description": m.description,
                "staff": m.staff,
                "at": at,
                "signer": m.signer,
            });
            Ok((
                ReceiptEffect::Status {
                    status_code: code.clone(),
                    status,
                    event: notice.to_string(),
                    peer_destination: peer.destination.clone(),
                },
                "exchange.status",
                notice,
            ))
        }
    }
}

/// Reads, believes and prepares a received document (blocking: parsing and verification).
fn prepare(xml: String, st: &AppState, now: OffsetDateTime) -> Result<ExchangeReceipt, Problem> {
    let security = st.security.current();
    let known: Vec<_> = security.peers.iter().map(|p| p.known.clone()).collect();
    let m = inbound::read(&xml, &known, Limits::default()).map_err(|e| refused(&e))?;
    let peer = security
        .peers
        .iter()
        .find(|p| p.known.organ_id == m.from)
        .ok_or_else(|| refused(&InboundError::UnknownPeer(m.from.clone())))?;
    let Some(sent_at) = m.sent_at else {
        return Err(refused(&InboundError::Malformed(
            "missing element TraceHeader/Timestamp".into(),
        )));
    };
    if now - sent_at > st.exchange.max_age || sent_at - now > st.exchange.max_skew {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "stale-message",
            "The message is too old or from the future",
            format!(
                "the last trace hop is at {sent_at}; messages must be sent within {} (a replay is refused)",
                st.exchange.max_age
            ),
        ));
    }
    let (effect, event, data) = effect_of(&m, peer).map_err(|e| refused(&e))?;
    let answerer = security.answerer.clone().ok_or_else(|| {
        internal("receiving edXML needs the center's [signing] identity to answer")
    })?;
    let answer = answerer
        .arrived(&m, now)
        .map_err(|e| internal(format!("cannot sign the answer: {e}")))?;
    let notice = MessageBody::Notice(Notice {
        event: event.to_owned(),
        dossier_code: m.dossier_code.clone(),
        data,
    });
    let body = serde_json::to_string(&notice).map_err(|e| internal(e.to_string()))?;
    let notices = st
        .exchange
        .forward_to
        .iter()
        .map(|d| NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            destination: d.clone(),
            kind: MessageKind::Notice,
            body: body.clone(),
        })
        .collect();
    Ok(ExchangeReceipt {
        source: m.from.clone(),
        dedupe_key: m.dedupe_key(),
        document_id: m.document_id.clone(),
        dossier_code: m.dossier_code.clone(),
        signer: m.signer.clone(),
        signature_value: m.signature_value.clone(),
        sha256: sha256_hex(xml.as_bytes()),
        xml,
        answer,
        effect,
        notices,
    })
}

fn xml_answer(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn receive(st: Arc<AppState>, req: Request) -> Result<Response, Problem> {
    if req.extensions().get::<PeerCertificate>().is_none() {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "client-certificate-required",
            "A client certificate is required",
            "other centers connect with mutual TLS (server.tls.client_trust)",
        ));
    }
    if !body::is_xml(req.headers()) {
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
    // Room in the memory budget for the whole document before a byte of it is read.
    let need = u32::try_from(announced.unwrap_or(limit).div_ceil(1024))
        .unwrap_or(u32::MAX)
        .clamp(1, st.exchange.budget_kib);
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
        Ok(Err(_)) => return Err(Problem::unavailable("shutting down")),
        Err(_) => {
            crate::telemetry::exchange("-", "busy");
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Other documents are being received; nothing was stored, try again",
                "exchange.memory_budget is in use; retry after the Retry-After delay",
            ));
        }
    };
    let (parts, request_body) = req.into_parts();
    let bytes = body::read_limited(
        &parts.headers,
        request_body,
        limit,
        "exchange.max_body",
        |reason| refused(&InboundError::Malformed(reason)),
    )
    .await?;
    let xml = String::from_utf8(Vec::from(bytes)).map_err(|e| {
        refused(&InboundError::Malformed(format!(
            "the document is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )))
    })?;
    let now = OffsetDateTime::now_utc();
    let state = st.clone();
    let receipt = tokio::task::spawn_blocking(move || prepare(xml, &state, now))
        .await
        .map_err(|e| internal(format!("verification task failed: {e}")))??;
    let (source, code, document) = (
        receipt.source.clone(),
        receipt.dossier_code.clone(),
        receipt.document_id.clone(),
    );
    let outcome = st
        .store
        .receive_exchange(receipt)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if matches!(outcome, ReceiptOutcome::Stored { .. }) {
        crash_point("exchange");
    }
    match outcome {
        ReceiptOutcome::Stored { answer, effect } => {
            tracing::info!(source, dossier = code, document, effect, "edXML received");
            crate::telemetry::exchange(&source, "stored");
            Ok(xml_answer(StatusCode::OK, answer))
        }
        ReceiptOutcome::Repeat(answer) => {
            tracing::info!(
                source,
                dossier = code,
                document,
                "edXML resend: original answer"
            );
            crate::telemetry::exchange(&source, "repeat");
            Ok(xml_answer(StatusCode::OK, answer))
        }
        ReceiptOutcome::NotYours(detail) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "not-exchanged",
            "The dossier is not exchanged with the sender",
            detail,
        )),
        ReceiptOutcome::UnknownDossier => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-dossier",
            "No such dossier",
            format!("dossier {code} is not known here"),
        )),
    }
}

/// `POST /v1/exchange`.
pub(super) async fn post_exchange(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    match receive(st, req).await {
        Ok(r) => r,
        Err(p) => {
            crate::telemetry::exchange("-", "refused");
            tracing::warn!(status = p.status().as_u16(), "edXML refused");
            p.into_response()
        }
    }
}

/// Test-only fault injection: with `LIENTHONG_TEST_CRASH_AFTER_COMMIT=<point>` in the
/// environment, the process aborts (like `kill -9`: no answer, no cleanup) right after the
/// commit at that point, so tests can prove that what was committed is not lost and that the
/// sender's resend is deduplicated. Never set in production.
fn crash_point(point: &str) {
    if std::env::var("LIENTHONG_TEST_CRASH_AFTER_COMMIT").is_ok_and(|p| p == point) {
        tracing::error!(
            point,
            "LIENTHONG_TEST_CRASH_AFTER_COMMIT: aborting after the commit"
        );
        std::process::abort();
    }
}
