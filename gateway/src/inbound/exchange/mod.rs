//! Receiving edXML from other centers (liên thông), whichever way it arrives: pushed to
//! `POST /v1/exchange` ([`crate::http::exchange`]) or pulled from the document-exchange axis
//! ([`pull`]).
//!
//! Both paths share one sequence, so they share its guarantees: [`prepare`] reads and believes a
//! document (safe parse, the sender is a configured peer, the whole document is signed by that
//! peer's certificate, the last trace hop is recent) and builds everything it leads to — its
//! effect on the dossier, the notices for the center and the signed `01` answer; [`commit`]
//! stores all of it in one transaction, deduplicated by `DocumentId` (or, for status messages,
//! the answered document, code, time and description). Only after the commit is the sender
//! answered (push) or the axis told `done` (pull), so a crash in between loses nothing and the
//! resend changes nothing.

pub mod pull;

use std::sync::Arc;

use lienthong_certs::sha256_hex;
use lienthong_certs::xml::Limits;
use lienthong_connectors::peer::inbound::{self, Inbound, InboundError};
use lienthong_mappings::{Dossier, DossierStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::store::{ExchangeReceipt, ReceiptEffect, ReceiptOutcome, Store, StoreError};
use crate::trust::security::{InboundPeer, Security, SecurityHandle};
use lienthong_certs::trust::{Purpose, TrustStore, VerifiedSigner};

/// Receiving settings, from `[exchange]`.
pub struct ExchangeSettings {
    /// Webhook destinations received messages are forwarded to.
    pub forward_to: Vec<String>,
    /// Largest document.
    pub max_body: u64,
    /// Oldest acceptable trace hop of a pushed document.
    pub max_age: time::Duration,
    /// Furthest acceptable future trace hop.
    pub max_skew: time::Duration,
    /// Room for documents being read and verified, in KiB permits.
    pub budget: Arc<Semaphore>,
    /// The budget's size in KiB.
    pub budget_kib: u32,
    /// The most permits one sender may hold at once.
    pub client_share_kib: u32,
    /// Permits held per sender.
    held: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    /// How fast a pushed document must arrive (`exchange.body_timeout`, `min_body_rate`).
    pub limits: crate::config::ConnectionLimits,
}

/// A sender's share of the budget in use; given back when dropped.
#[derive(Debug)]
pub struct SenderHold {
    held: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    sender: String,
    permits: u32,
}

impl Drop for SenderHold {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.sender) {
            *n = n.saturating_sub(self.permits);
            if *n == 0 {
                held.remove(&self.sender);
            }
        }
    }
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
            client_share_kib: c
                .memory_per_client
                .map_or(kib.div_ceil(2), |b| {
                    u32::try_from(b.div_ceil(1024)).unwrap_or(u32::MAX)
                })
                .clamp(1, kib),
            held: Arc::default(),
            limits: crate::config::ConnectionLimits {
                header_timeout: c.body_timeout,
                body_timeout: c.body_timeout,
                min_body_rate: c.min_body_rate,
                max_connections: usize::MAX,
                max_connections_per_client: usize::MAX,
                max_requests_per_client: usize::MAX,
            },
        }
    }

    /// Counts `permits` against `sender`'s share (a document larger than the share counts as
    /// the whole share: it is received when the sender has nothing else in flight).
    ///
    /// Errors: `None` when the sender already holds its share.
    pub fn hold_for(&self, sender: &str, permits: u32) -> Option<SenderHold> {
        let permits = permits.min(self.client_share_kib);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = held.entry(sender.to_owned()).or_insert(0);
        if *now + permits > self.client_share_kib {
            return None;
        }
        *now += permits;
        Some(SenderHold {
            held: self.held.clone(),
            sender: sender.to_owned(),
            permits,
        })
    }

    /// Permits of the memory budget a document of `bytes` needs (at least 1, at most all): a
    /// document costs [`RECEIVE_COST`] times its size while it is received, and the budget counts
    /// that, so what is in flight stays within it (a document as large as the budget is received
    /// alone).
    pub fn permits_for(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.saturating_mul(RECEIVE_COST).div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_kib)
    }
}

/// What a document costs in memory while it is received, as a multiple of its size: the body,
/// its parse tree, the files' text moved into the notice, and the copies the store binds
/// (measured in BENCHMARKS.md).
pub const RECEIVE_COST: u64 = 4;

/// Why a received document was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Malformed, badly signed, from an unknown peer or the wrong signer.
    #[error(transparent)]
    Refused(#[from] InboundError),
    /// The last trace hop is too old or in the future (a replay).
    #[error("{0}")]
    Stale(String),
    /// The TLS client certificate that pushed the document does not name its sender (403).
    #[error("{0}")]
    WrongTransport(String),
    /// The dossier exists but was not exchanged with the sender.
    #[error("{0}")]
    NotYours(String),
    /// A status for a dossier not known here.
    #[error("dossier {0} is not known here")]
    UnknownDossier(String),
    /// This instance cannot receive (no signing identity to answer with…).
    #[error("{0}")]
    Internal(String),
    /// The key that signs the answer is on a token that cannot be used just now: nothing was
    /// stored, the sender tries again later.
    #[error("the signing key is unavailable: {0}")]
    KeyUnavailable(String),
    /// The signer's CA could not say whether its certificate is revoked (its OCSP responder
    /// is unreachable) and the peer's trust store refuses in that case: nothing was stored,
    /// the sender tries again later.
    #[error("revocation status unavailable: {0}")]
    RevocationUnavailable(String),
    /// The store is unavailable: nothing was stored, try again later.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ReceiveError {
    /// Whether the sender can only be told to try again (nothing is wrong with the document).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            Self::Internal(_)
                | Self::Store(_)
                | Self::KeyUnavailable(_)
                | Self::RevocationUnavailable(_)
        )
    }
}

/// A document [`prepare`] believed, before its signer's revocation status is asked
/// ([`Prepared::believe`]).
#[derive(Debug)]
pub struct Prepared {
    receipt: ExchangeReceipt,
    signer: VerifiedSigner,
    trust: Arc<TrustStore>,
}

impl Prepared {
    /// Asks the signer's CA (OCSP) whether its certificate is revoked, when the peer's trust
    /// store says to (`revocation = "ocsp"` or `"ocsp-then-crl"`; under `"crl"` the CRLs were
    /// applied when the signature was verified), and gives the receipt to store.
    ///
    /// Errors: [`ReceiveError::Refused`] when revoked or refused for want of a status;
    /// [`ReceiveError::RevocationUnavailable`] (try again) when the responder could not be
    /// reached and the policy refuses.
    pub async fn believe(self, security: &SecurityHandle) -> Result<ExchangeReceipt, ReceiveError> {
        match security
            .revocation()
            .check_signer(&self.trust, &self.signer, Purpose::Signing)
            .await
        {
            Ok(()) => Ok(self.receipt),
            Err(e) if e.is_transient() => Err(ReceiveError::RevocationUnavailable(e.to_string())),
            Err(e) => Err(InboundError::BadSignature(e.to_string()).into()),
        }
    }
}

/// A committed document: the signed answer, and whether it was a resend.
#[derive(Debug)]
pub struct Received {
    /// The signed edXML answer (the original one for a resend).
    pub answer: String,
    /// A resend of a document already stored: nothing changed.
    pub repeat: bool,
}

/// What a verified message becomes: its effect and the notice for the center.
fn effect_of(
    m: &mut Inbound,
    peer: &InboundPeer,
) -> Result<(ReceiptEffect, &'static str, Value), InboundError> {
    let from = crate::outbox::notices::Sender {
        code: m.from.clone(),
        name: m.from_name.clone(),
    };
    let as_data = |n: Result<Value, serde_json::Error>| {
        n.map_err(|e| InboundError::Malformed(format!("notice data: {e}")))
    };
    match &m.status_code {
        None => {
            let business = m.business_doc_type.unwrap_or(0);
            let mut facts = None;
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
                    facts = Some(crate::records::deadlines::DossierFacts::of(&d));
                    serde_json::to_value(&d).map_err(|e| InboundError::Malformed(e.to_string()))?
                }
                None => json!({
                    "code": m.dossier_code,
                    "summary": m.subject,
                    "procedure": { "code": m.procedure_code },
                }),
            };
            let mut files = Vec::new();
            // The files' base64 text is moved into the notice, not copied: a large document
            // should cost as few copies of itself as possible.
            for a in std::mem::take(&mut m.attachments) {
                if a.content_id == lienthong_connectors::peer::DOSSIER_DATA_ID {
                    continue;
                }
                let (size, sha256) = a.size_and_sha256()?;
                files.push(crate::outbox::notices::ReceivedFile {
                    content_id: a.content_id,
                    name: a.name,
                    content_type: a.content_type,
                    size: size as u64,
                    sha256,
                    content: a.content,
                });
            }
            let body = dossier.to_string();
            let notice = as_data(crate::outbox::notices::data(
                &crate::outbox::notices::ExchangeDossierNotice {
                    from,
                    document_id: m.document_id.clone(),
                    business_doc_type: business,
                    subject: m.subject.clone(),
                    signer: m.signer.clone(),
                    dossier,
                    attachments: files,
                },
            ))?;
            Ok((
                ReceiptEffect::Dossier {
                    business_doc_type: business,
                    sha256: sha256_hex(body.as_bytes()),
                    body,
                    status: DossierStatus::Registered.as_str().to_owned(),
                    reply_destination: peer.destination.clone(),
                    facts,
                },
                "exchange.dossier",
                notice,
            ))
        }
        Some(code) => {
            let status = inbound::canonical_status(code)?;
            let at = m.status_at.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
            let notice = as_data(crate::outbox::notices::data(
                &crate::outbox::notices::ExchangeStatusNotice {
                    from,
                    document_id: m.document_id.clone(),
                    status_code: code.clone(),
                    status: status.map(|s| s.as_str().to_owned()),
                    description: m.description.clone(),
                    staff: m.staff.clone(),
                    at,
                    signer: m.signer.clone(),
                },
            ))?;
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
/// `max_age` bounds the age of the last trace hop (pushes: `exchange.max_age`; pulls wait in
/// the axis's mailbox and have their own bound).
///
/// Errors: the document is refused ([`ReceiveError::Refused`], [`ReceiveError::Stale`]) or
/// this instance cannot answer ([`ReceiveError::Internal`]).
pub fn prepare(
    xml: String,
    security: &Security,
    settings: &ExchangeSettings,
    now: OffsetDateTime,
    max_age: time::Duration,
    transport: Option<&lienthong_certs::inspect::CertificateInfo>,
) -> Result<Prepared, ReceiveError> {
    let known: Vec<_> = security.peers.iter().map(|p| p.known.clone()).collect();
    let mut m = inbound::read(
        &xml,
        &inbound::Receiver {
            organ_id: &security.center_organ_id,
            peers: &known,
            limits: Limits::default(),
        },
    )?;
    let peer = security
        .peers
        .iter()
        .find(|p| p.known.organ_id == m.from)
        .ok_or_else(|| InboundError::UnknownPeer(m.from.clone()))?;
    // A direct peer's documents come over its own TLS connection: a certificate of another
    // center (trusted by client_trust all the same) may not hand them in.
    if let Some(cert) = transport
        && peer.transport_identity == lienthong_connectors::peer::TransportIdentity::SameAsSigner
        && !peer.known.is_named_by(cert)
    {
        return Err(ReceiveError::WrongTransport(format!(
            "the TLS client certificate ({}) does not name {} as its documents' signer must (destinations.{}.transport_identity = \"same-as-signer\"; \"any-trusted\" for a relay)",
            cert.subject, peer.known.organ_id, peer.destination
        )));
    }
    let Some(sent_at) = m.sent_at else {
        return Err(InboundError::Malformed("missing element TraceHeader/Timestamp".into()).into());
    };
    if now - sent_at > max_age {
        return Err(ReceiveError::Stale(format!(
            "the last trace hop is at {sent_at}, older than the accepted {max_age} (a replay is refused)"
        )));
    }
    if sent_at - now > settings.max_skew {
        return Err(ReceiveError::Stale(format!(
            "the last trace hop is at {sent_at}, {} ahead of this gateway's clock: more than the accepted clock skew of {} (exchange.max_skew); check both clocks (NTP)",
            sent_at - now,
            settings.max_skew
        )));
    }
    let (effect, event, data) = effect_of(&mut m, peer)?;
    let answerer = security.answerer.clone().ok_or_else(|| {
        ReceiveError::Internal(
            "receiving edXML needs the center's [signing] identity to answer".into(),
        )
    })?;
    let answer = answerer.arrived(&m, now).map_err(|e| {
        // A token that is away was recorded as such by the failed signature.
        match security
            .signing
            .as_ref()
            .and_then(|s| s.identity.key.unavailable())
        {
            Some(reason) => ReceiveError::KeyUnavailable(reason),
            None => ReceiveError::Internal(format!("cannot sign the answer: {e}")),
        }
    })?;
    let notices = crate::outbox::Outbox::notice(&settings.forward_to, event, &m.dossier_code, data)
        .map_err(|e| ReceiveError::Internal(e.to_string()))?;
    let receipt = ExchangeReceipt {
        source: m.from.clone(),
        dedupe_key: m.dedupe_key(),
        document_id: m.document_id.clone(),
        dossier_code: m.dossier_code.clone(),
        signer: m.signer.clone(),
        signature_value: m.signature_value.clone(),
        signer_certificate_sha256: Some(m.signer_certificate_sha256.clone()),
        sha256: sha256_hex(xml.as_bytes()),
        xml: xml.into(),
        answer,
        effect,
        notices,
    };
    Ok(Prepared {
        receipt,
        signer: m.signed_by.clone(),
        trust: peer.known.trust.clone(),
    })
}

/// Stores a prepared document with its effect and notices (one transaction), counts it and
/// logs it. `via` says how it came (`push`, `pull`).
///
/// Errors: the dossier is not the sender's or not known, or the store is unavailable.
pub async fn commit(
    store: &Store,
    receipt: ExchangeReceipt,
    via: &'static str,
) -> Result<Received, ReceiveError> {
    let (source, code, document) = (
        receipt.source.clone(),
        receipt.dossier_code.clone(),
        receipt.document_id.clone(),
    );
    match store.receive_exchange(receipt).await? {
        ReceiptOutcome::Stored { answer, effect } => {
            crate::test_hooks::crash_point("exchange");
            tracing::info!(
                source,
                dossier = code,
                document,
                effect,
                via,
                "edXML received"
            );
            crate::monitoring::telemetry::exchange(&source, "stored");
            Ok(Received {
                answer,
                repeat: false,
            })
        }
        ReceiptOutcome::Repeat(answer) => {
            tracing::info!(
                source,
                dossier = code,
                document,
                via,
                "edXML resend: original answer"
            );
            crate::monitoring::telemetry::exchange(&source, "repeat");
            Ok(Received {
                answer,
                repeat: true,
            })
        }
        ReceiptOutcome::NotYours(detail) => Err(ReceiveError::NotYours(detail)),
        ReceiptOutcome::UnknownDossier => Err(ReceiveError::UnknownDossier(code)),
    }
}
