//! Pushes from the national systems (`POST /v1/callbacks/{source}`): the national portal's
//! dossiers, tax notices and payment receipts (`dvcqg`, shared `SecurityKey`), and the payment
//! platform's confirmations (`payment`, SHA-256 `MaXacThuc`), and the investment system's signed
//! decisions (`investment`, XML-DSig against `[callbacks.investment] trust`), which also become
//! status events on the dossier.
//!
//! The sources are the registry [`crate::config::PUSH_SOURCES`]; each reads and authenticates
//! its own pushes ([`lienthong_connectors::push::PushSource`], in its connector folder). Here,
//! the same for all: [`prepare`] has the source read the push, refuses it when it is dated
//! outside `[callbacks] max_age` (a replay), and builds what it leads to: the record kept
//! (secrets removed) and the notices for the center. [`commit`] stores all of it in one
//! transaction, deduplicated by the source's key; only then is the pusher answered, in its own
//! format. A refused push stores nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use lienthong_certs::trust::{Purpose, TrustStore, VerifiedSigner};
use lienthong_certs::{Secret, sha256_hex};
use lienthong_connectors::push::{Credential, PushError, PushSource, fresh};
use lienthong_mappings::StatusEvent;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{CallbacksConfig, ConfigError, PushSourceConfig};
use crate::delivery::destinations::Destinations;
use crate::store::{CallbackOutcome, CallbackReceipt, Store, StoreError};
use crate::trust::security::Security;

/// A system that pushes to the province: an entry of the registry
/// ([`crate::config::PUSH_SOURCES`]).
#[derive(Clone, Copy)]
pub struct Source(&'static dyn PushSource);

impl Source {
    /// The source named in the path, if it is in the registry.
    pub fn parse(name: &str) -> Option<Self> {
        crate::config::push_source(name).map(Self)
    }

    /// Its name in paths, metrics and the store.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The pusher's answer when the push is taken (or was, for a repeat).
    pub fn accepted(self) -> Value {
        self.0.accepted()
    }

    /// The pusher's answer to a refused push.
    pub fn refused(self, e: &PushError) -> Value {
        self.0.refused(e)
    }

    /// The pusher's answer when the province cannot take it now.
    pub fn unavailable(self) -> Value {
        self.0.unavailable()
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({})", self.name())
    }
}

/// How a configured source is believed, its secret read.
enum Believed {
    /// The shared secret.
    SharedKey(Secret),
    /// The trust store (by name) and the allowed signer names.
    Signature { trust: String, signers: Vec<String> },
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
    /// Each configured source's secret or trust; a source not here is refused.
    believed: BTreeMap<&'static str, Believed>,
}

impl CallbackSettings {
    /// Whether pushes from `source` can be believed at all (its secret or trust is configured):
    /// checked before a byte of a push is read.
    pub fn configured(&self, source: Source) -> bool {
        self.believed.contains_key(source.name())
    }

    /// From the configuration (reads the secret files).
    ///
    /// Errors: a secret that cannot be had, named by its key (`callbacks.<source>.secret`).
    pub fn new(c: &CallbacksConfig) -> Result<Self, ConfigError> {
        let mut believed = BTreeMap::new();
        for (&name, source) in &c.sources {
            let b = match source {
                PushSourceConfig::SharedKey(k) => Believed::SharedKey(
                    k.load()
                        .map_err(|e| ConfigError::new(format!("callbacks.{name}.secret"), e))?,
                ),
                PushSourceConfig::Signature(s) => Believed::Signature {
                    trust: s.trust.clone(),
                    signers: s.signers.clone(),
                },
            };
            believed.insert(name, b);
        }
        Ok(Self {
            forward_to: c.forward_to.clone(),
            max_body: c.max_body,
            max_age: time::Duration::try_from(c.max_age).unwrap_or(time::Duration::DAY),
            max_skew: time::Duration::try_from(c.max_skew).unwrap_or(time::Duration::MINUTE),
            believed,
        })
    }
}

/// Why a push was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The push is malformed, not authentic or stale (nothing stored).
    #[error(transparent)]
    Refused(#[from] PushError),
    /// This source has no `[callbacks.<source>]` table: nothing from it can be believed.
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

/// Reads, authenticates and checks a push with its source ([`PushSource::read`]), refuses it
/// outside the replay window, and builds what storing it takes. `security` holds the trust
/// stores of signing pushers.
///
/// Errors: [`CallbackError::Refused`] or [`CallbackError::NotConfigured`]; nothing is stored.
pub fn prepare(
    source: Source,
    body: &[u8],
    settings: &CallbackSettings,
    security: &Security,
    now: OffsetDateTime,
) -> Result<Prepared, CallbackError> {
    let not_configured = || CallbackError::NotConfigured(source);
    let believed = settings
        .believed
        .get(source.name())
        .ok_or_else(not_configured)?;
    let mut trust_store = None;
    let credential = match believed {
        Believed::SharedKey(key) => Credential::SharedKey(key),
        Believed::Signature { trust, signers } => {
            let trust = security.trust.get(trust).ok_or_else(not_configured)?;
            trust_store = Some(Arc::clone(trust));
            Credential::Signature { trust, signers }
        }
    };
    let read = source.0.read(body, credential)?;
    if let Some((field, at)) = &read.dated {
        fresh(field, *at, now, settings.max_age, settings.max_skew)?;
    }
    let signed_by = read.signed_by.zip(trust_store);
    let kept = read.kept.to_string();
    let notices = crate::outbox::Outbox::notice(
        &settings.forward_to,
        read.event,
        &read.dossier_code,
        read.notice,
    )
    .map_err(|e| CallbackError::Internal(e.to_string()))?;
    Ok(Prepared {
        receipt: CallbackReceipt {
            source: source.name().to_owned(),
            event: read.event.to_owned(),
            dedupe_key: read.dedupe_key,
            dossier_code: read.dossier_code,
            sha256: sha256_hex(kept.as_bytes()),
            // Set by the HTTP handler, which knows the connection.
            peer_certificate_sha256: None,
            body: kept,
            answer: source.accepted().to_string(),
            notices,
            event_intake: None,
            on_change: source.0.repeats(),
        },
        event: read.decision,
        signed_by,
    })
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
