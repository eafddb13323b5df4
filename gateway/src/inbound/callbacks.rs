//! Pushes from the national systems (`POST /v1/callbacks/{source}`): the national portal's
//! dossiers, tax notices and payment receipts (`dvcqg`, shared `SecurityKey`), and the payment
//! platform's confirmations (`payment`, SHA-256 `MaXacThuc`), and the investment system's signed
//! decisions (`investment`, XML-DSig against `[callbacks.investment] trust`), which also become
//! status events on the dossier.
//!
//! [`prepare`] reads a push with its source's parser (`lienthong_connectors::dvcqg::push`,
//! `lienthong_connectors::payment`), authenticates it in constant time, refuses it when it is
//! dated outside `[callbacks] max_age` (a replay), and builds what it leads to: the record kept
//! (secrets removed) and the notices for the center. [`commit`] stores all of it in one
//! transaction, deduplicated by the source's key; only then is the pusher answered, in its own
//! format. A refused push stores nothing.

use std::fmt;
use std::sync::Arc;

use lienthong_certs::trust::{Purpose, TrustStore, VerifiedSigner};
use lienthong_certs::{Secret, sha256_hex};
use lienthong_connectors::dvcqg::push::{self as portal, PortalPush};
use lienthong_connectors::investment::result::{self as investment, Decision, InvestmentResult};
use lienthong_connectors::payment::{self, PaymentConfirmation};
use lienthong_connectors::push::{PushError, fresh};
use lienthong_mappings::{Actor, DossierStatus, StatusEvent};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::config::CallbacksConfig;
use crate::delivery::destinations::Destinations;
use crate::store::{CallbackOutcome, CallbackReceipt, OnChange, Store, StoreError};
use crate::trust::security::Security;

/// A system that pushes to the province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The National Public Service Portal.
    Dvcqg,
    /// The public-service payment platform.
    Payment,
    /// The National Investment Information System (signed results).
    Investment,
}

impl Source {
    /// The source named in the path, if known.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "dvcqg" => Some(Self::Dvcqg),
            "payment" => Some(Self::Payment),
            "investment" => Some(Self::Investment),
            _ => None,
        }
    }

    /// Its name in paths, metrics and the store.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dvcqg => "dvcqg",
            Self::Payment => "payment",
            Self::Investment => "investment",
        }
    }

    /// The pusher's answer when the push is taken (or was, for a repeat).
    pub fn accepted(self) -> Value {
        match self {
            Self::Dvcqg => portal::accepted(),
            Self::Payment => payment::accepted(),
            Self::Investment => investment::accepted(),
        }
    }

    /// The pusher's answer to a refused push.
    pub fn refused(self, e: &PushError) -> Value {
        match self {
            Self::Dvcqg => portal::refused(e),
            Self::Payment => payment::refused(e),
            Self::Investment => investment::refused(e),
        }
    }

    /// The pusher's answer when the province cannot take it now.
    pub fn unavailable(self) -> Value {
        match self {
            Self::Dvcqg => portal::unavailable(),
            Self::Payment => payment::unavailable(),
            Self::Investment => investment::unavailable(),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Receiving settings, from `[callbacks]`.
pub struct CallbackSettings {
    /// Webhook destinations pushes are forwarded to.
    pub forward_to: Vec<String>,
    /// Largest push.
    pub max_body: u64,
    /// Oldest acceptable dated push.
    pub max_age: time::Duration,
    /// Furthest acceptable future date.
    pub max_skew: time::Duration,
    /// DVCQG's `SecurityKey`; without it DVCQG pushes are refused.
    pub dvcqg_key: Option<Secret>,
    /// The payment platform's hash key; without it confirmations are refused.
    pub payment_key: Option<Secret>,
    /// The investment system's trust store (by name) and allowed signer names; without it its
    /// results are refused.
    pub investment: Option<(String, Vec<String>)>,
}

impl CallbackSettings {
    /// Whether pushes from `source` can be believed at all (its secret or trust is configured):
    /// checked before a byte of a push is read.
    pub fn configured(&self, source: Source) -> bool {
        match source {
            Source::Dvcqg => self.dvcqg_key.is_some(),
            Source::Payment => self.payment_key.is_some(),
            Source::Investment => self.investment.is_some(),
        }
    }

    /// From the configuration (reads the secret files).
    ///
    /// Errors: a secret that cannot be had, named by its key.
    pub fn new(c: &CallbacksConfig) -> Result<Self, String> {
        let load = |name: &str, k: &Option<crate::config::SharedKeyConfig>| {
            k.as_ref()
                .map(|k| {
                    k.load()
                        .map_err(|e| format!("callbacks.{name}.secret: {e}"))
                })
                .transpose()
        };
        Ok(Self {
            forward_to: c.forward_to.clone(),
            max_body: c.max_body,
            max_age: time::Duration::try_from(c.max_age).unwrap_or(time::Duration::DAY),
            max_skew: time::Duration::try_from(c.max_skew).unwrap_or(time::Duration::MINUTE),
            dvcqg_key: load("dvcqg", &c.dvcqg)?,
            payment_key: load("payment", &c.payment)?,
            investment: c
                .investment
                .as_ref()
                .map(|i| (i.trust.clone(), i.signers.clone())),
        })
    }
}

/// Why a push was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The push is malformed, not authentic or stale (nothing stored).
    #[error(transparent)]
    Refused(#[from] PushError),
    /// This source has no `[callbacks.<source>]` key: nothing from it can be believed.
    #[error("no [callbacks.{0}] secret is configured: pushes from {0} are refused")]
    NotConfigured(Source),
    /// Something on this side failed before the store.
    #[error("{0}")]
    Internal(String),
    /// The store is unavailable (the pusher should retry).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signer's revocation status cannot be learnt now (the pusher should retry).
    #[error("revocation status unavailable: {0}")]
    RevocationUnavailable(String),
}

/// A push ready for the store, with the status event it means for the dossier (a decision),
/// still to be turned into messages for the dossier's destinations ([`with_event`]).
#[derive(Debug)]
pub struct Prepared {
    /// What is stored.
    pub receipt: CallbackReceipt,
    /// The decision as a status event, if the push is one.
    pub event: Option<StatusEvent>,
    /// For a signed push: its signer and the trust store that vouched for it, whose OCSP
    /// policy [`Prepared::check_revocation`] applies.
    pub signed_by: Option<(VerifiedSigner, Arc<TrustStore>)>,
}

impl Prepared {
    /// Asks the signer's CA whether its certificate is revoked, when its trust store says to
    /// (nothing to do for unsigned pushes and the `crl` policy).
    ///
    /// Errors: [`CallbackError::Refused`] when revoked or refused for want of a status;
    /// [`CallbackError::RevocationUnavailable`] when the responder could not be reached and
    /// the policy refuses (the pusher retries).
    pub async fn check_revocation(
        &self,
        checker: &lienthong_certs::revocation::RevocationChecker,
    ) -> Result<(), CallbackError> {
        let Some((signer, trust)) = &self.signed_by else {
            return Ok(());
        };
        match checker.check_signer(trust, signer, Purpose::Signing).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_transient() => Err(CallbackError::RevocationUnavailable(e.to_string())),
            Err(e) => Err(PushError::Forged(format!("signature not accepted: {e}")).into()),
        }
    }
}

/// Reads, authenticates and checks a push, and builds what storing it takes. `security` holds
/// the trust stores of signing pushers.
///
/// Errors: [`CallbackError::Refused`] or [`CallbackError::NotConfigured`]; nothing is stored.
pub fn prepare(
    source: Source,
    body: &[u8],
    settings: &CallbackSettings,
    security: &Security,
    now: OffsetDateTime,
) -> Result<Prepared, CallbackError> {
    let window = |field: &str, at| fresh(field, at, now, settings.max_age, settings.max_skew);
    let mut decision = None;
    let mut signed_by = None;
    let (event, dedupe_key, dossier_code, kept, data) = match source {
        Source::Investment => {
            let (trust_name, signers) = settings
                .investment
                .as_ref()
                .ok_or(CallbackError::NotConfigured(source))?;
            let trust = security
                .trust
                .get(trust_name)
                .ok_or(CallbackError::NotConfigured(source))?;
            let xml =
                std::str::from_utf8(body).map_err(|_| PushError::Malformed("not UTF-8".into()))?;
            let r = InvestmentResult::read(xml, trust, signers)?;
            signed_by = Some((r.signed_by.clone(), Arc::clone(trust)));
            window("NgayQuyetDinh", r.decided_at)?;
            decision = Some(investment_event(&r));
            let key = sha256_hex(
                format!(
                    "{}|{:?}|{:?}|{:?}|{}",
                    r.dossier_code,
                    r.decision,
                    r.project_code,
                    r.certificate_number,
                    r.decided_at.unix_timestamp()
                )
                .as_bytes(),
            );
            // Kept as received: the signed document is the evidence.
            (
                "investment.result",
                key,
                r.dossier_code.clone(),
                Value::String(xml.to_owned()),
                crate::outbox::notices::data(&crate::outbox::notices::InvestmentResultNotice {
                    decision: match r.decision {
                        lienthong_connectors::investment::result::Decision::Granted => {
                            crate::outbox::notices::InvestmentDecision::Granted
                        }
                        lienthong_connectors::investment::result::Decision::Refused => {
                            crate::outbox::notices::InvestmentDecision::Refused
                        }
                    },
                    project_code: r.project_code.clone(),
                    certificate_number: r.certificate_number.clone(),
                    decided_at: r
                        .decided_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .ok(),
                    note: r.note.clone(),
                    signer: r.signer.clone(),
                })
                .map_err(CallbackError::Internal)?,
            )
        }
        Source::Dvcqg => {
            let key = settings
                .dvcqg_key
                .as_ref()
                .ok_or(CallbackError::NotConfigured(source))?;
            // The key first: a stranger learns nothing of what else is wrong with the body.
            PortalPush::check_key(body, key)?;
            let push = PortalPush::parse(body)?;
            push.authenticate(key)?;
            if let (Some(at), Some(field)) = (push.dated()?, push.service.dated_by()) {
                window(&format!("Data.{field}"), at)?;
            }
            // The record keeps everything but the shared key.
            let kept = json!({
                "Service": push.service.wire_name(),
                "IsUpdating": push.is_updating,
                "Data": push.data,
            });
            let data = crate::outbox::notices::data(&crate::outbox::notices::PortalPushNotice {
                service: push.service.wire_name().to_owned(),
                is_updating: push.is_updating,
                data: push.data.clone(),
            })
            .map_err(CallbackError::Internal)?;
            (
                push.service.event(),
                push.dedupe_key(),
                push.dossier_code.clone(),
                kept,
                data,
            )
        }
        Source::Payment => {
            let key = settings
                .payment_key
                .as_ref()
                .ok_or(CallbackError::NotConfigured(source))?;
            PaymentConfirmation::check_mac(body, key)?;
            let c = PaymentConfirmation::parse(body)?;
            c.verify(key)?;
            window("ThoiGianGD", c.at()?)?;
            let event = if c.paid() {
                "payment.confirmed"
            } else {
                "payment.failed"
            };
            // The notice is the ten covered fields; read back into its type, so that what is
            // told is what `docs/schemas/notices.json` says.
            let told: crate::outbox::notices::PaymentNotice = serde_json::from_value(c.data())
                .map_err(|e| CallbackError::Internal(format!("payment notice: {e}")))?;
            (
                event,
                c.transaction().to_owned(),
                c.reference().to_owned(),
                c.data(),
                crate::outbox::notices::data(&told).map_err(CallbackError::Internal)?,
            )
        }
    };
    let body = kept.to_string();
    let notices = crate::outbox::Outbox::notice(&settings.forward_to, event, &dossier_code, data)
        .map_err(|e| CallbackError::Internal(e.to_string()))?;
    Ok(Prepared {
        receipt: CallbackReceipt {
            source: source.name().to_owned(),
            event: event.to_owned(),
            dedupe_key,
            dossier_code,
            sha256: sha256_hex(body.as_bytes()),
            // Set by the HTTP handler, which knows the connection.
            peer_certificate_sha256: None,
            body,
            answer: source.accepted().to_string(),
            notices,
            event_intake: None,
            // A payment is never un-paid; another source's changed push is its new state.
            on_change: match source {
                Source::Payment => OnChange::NeverUnpay,
                Source::Dvcqg | Source::Investment => OnChange::NewState,
            },
        },
        event: decision,
        signed_by,
    })
}

/// The investment system's decision as a status event: granted → `processed` (with the project
/// code and certificate number), refused → `rejected`.
fn investment_event(r: &InvestmentResult) -> StatusEvent {
    let (status, note) = match r.decision {
        Decision::Granted => (
            DossierStatus::Processed,
            format!(
                "Cấp Giấy chứng nhận đăng ký đầu tư số {}, mã số dự án {}",
                r.certificate_number.as_deref().unwrap_or("?"),
                r.project_code.as_deref().unwrap_or("?")
            ),
        ),
        Decision::Refused => (DossierStatus::Rejected, format!("Từ chối: {}", r.note)),
    };
    StatusEvent {
        id: format!(
            "investment:{}:{}",
            match r.decision {
                Decision::Granted => "granted",
                Decision::Refused => "refused",
            },
            r.certificate_number.as_deref().unwrap_or("-")
        ),
        at: r.decided_at,
        status,
        actor: Actor {
            name: "Hệ thống thông tin quốc gia về đầu tư".into(),
            title: None,
            unit: None,
        },
        note: Some(note),
        due_at: None,
        exchange: None,
    }
}

/// Adds to a prepared push the status event it means, with its progress messages for the
/// dossier's destinations.
///
/// A decision (the investment system's result) may only move a dossier that was delivered to
/// that system: a decision about a dossier this center does not have is refused (404), and one
/// about a dossier never delivered to an `investment` destination is refused (409), each in the
/// pusher's format with nothing stored. Otherwise a status event that cannot be built is logged
/// and the push and its notice are still kept.
///
/// Errors: [`CallbackError::Refused`] as above, [`CallbackError::Store`] when the store cannot
/// say.
pub async fn with_event(
    prepared: Prepared,
    store: &Store,
    destinations: &Destinations,
) -> Result<CallbackReceipt, CallbackError> {
    let mut receipt = prepared.receipt;
    let Some(event) = prepared.event else {
        return Ok(receipt);
    };
    let code = receipt.dossier_code.clone();
    if store.dossier(&code).await?.is_none() {
        return Err(PushError::UnknownDossier(format!("dossier {code} is not known here")).into());
    }
    let deciders: Vec<String> = destinations
        .iter()
        .filter(|(_, d)| d.connector().kind() == receipt.source)
        .map(|(name, _)| name.clone())
        .collect();
    if !store.delivered_to(&code, &deciders).await? {
        return Err(PushError::NotApplicable(format!(
            "dossier {code} was not delivered to the {} system",
            receipt.source
        ))
        .into());
    }
    match crate::outbox::decision(store, destinations, &code, &receipt.source, event).await {
        Ok(e) => receipt.event_intake = Some(e),
        Err(crate::outbox::OutboxError::Store(e)) => return Err(e.into()),
        Err(e) => tracing::warn!(
            source = receipt.source,
            dossier = code,
            error = %e,
            "the decision does not become a status event"
        ),
    }
    Ok(receipt)
}

/// What a committed push came to: the answer, and whether it was new.
#[derive(Debug)]
pub struct Taken {
    /// The pusher's answer (the original one for a repeat).
    pub answer: String,
    /// False for a repeat.
    pub new: bool,
}

/// Stores a prepared push with its notices (one transaction), counts and logs it.
///
/// Errors: the store is unavailable (nothing stored).
pub async fn commit(store: &Store, receipt: CallbackReceipt) -> Result<Taken, CallbackError> {
    let (source, event, code) = (
        receipt.source.clone(),
        receipt.event.clone(),
        receipt.dossier_code.clone(),
    );
    match store.receive_callback(receipt).await? {
        CallbackOutcome::Stored(answer) => {
            crate::test_hooks::crash_point("callback");
            tracing::info!(source, event, dossier = code, "push received");
            crate::monitoring::telemetry::callback(&source, "stored");
            Ok(Taken { answer, new: true })
        }
        CallbackOutcome::Changed(answer) => {
            tracing::info!(
                source,
                event,
                dossier = code,
                "push received: a new state of a record seen before"
            );
            crate::monitoring::telemetry::callback(&source, "stored");
            Ok(Taken { answer, new: true })
        }
        CallbackOutcome::Flagged(answer) => {
            tracing::warn!(
                source,
                event,
                dossier = code,
                "push kept and flagged for the operator: it contradicts a payment already confirmed (a payment is never un-paid); not forwarded"
            );
            crate::monitoring::telemetry::callback(&source, "flagged");
            Ok(Taken { answer, new: false })
        }
        CallbackOutcome::Repeat(answer) => {
            tracing::info!(
                source,
                event,
                dossier = code,
                "push repeated: original answer"
            );
            crate::monitoring::telemetry::callback(&source, "duplicate");
            Ok(Taken { answer, new: false })
        }
    }
}
