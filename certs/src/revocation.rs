//! Revocation checking beyond CRL files: OCSP with a cache, under a trust store's policy.
//!
//! A trust store says how the certificates it vouches for are checked ([`Revocation`]):
//! `crl` (its CRL files, during chain validation — the only check when no OCSP is wanted),
//! `ocsp` (ask the leaf's responder; no answer or an `unknown` answer follows `on_unknown`), or
//! `ocsp-then-crl` (ask the responder; without a good or revoked answer, the CRL files decide).
//! Only the leaf is asked about, as X-Road does; the chain above it is covered by the CRLs
//! when configured.
//!
//! [`RevocationChecker`] is shared by the whole process: it sends requests through an
//! [`OcspTransport`] (the gateway's HTTP client; this crate does no I/O of its own), bounds every
//! exchange with the store's `ocsp_timeout`, and keeps checked answers until their
//! `nextUpdate` (five minutes when the responder gives none). A responder that failed is not
//! asked again for [`FAILURE_HOLD`], so a dead responder costs one time-out, not one per
//! request. Every decision is reported to the checker's observer (metrics and logs).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::ocsp::{self, Query, Status};
use crate::trust::{Purpose, TrustError, TrustStore, VerifiedSigner};

/// How long an answer without `nextUpdate` is kept.
pub const TTL_WITHOUT_NEXT_UPDATE: Duration = Duration::from_secs(300);
/// How long a responder that failed is not asked again about the same certificate.
pub const FAILURE_HOLD: Duration = Duration::from_secs(10);
/// Answers kept at most (the oldest are dropped first).
const CACHE_CAPACITY: usize = 10_000;

pub use crate::revocation_policy::{OnUnknown, Policy, Revocation};

/// A boxed future, for [`OcspTransport`].
pub type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Sends an OCSP request and returns the responder's body (the gateway's HTTP client, with
/// its own byte limit). Errors are one line, for the log.
pub trait OcspTransport: Send + Sync + std::fmt::Debug {
    /// POSTs `request` (DER, `application/ocsp-request`) to `url`.
    fn post<'a>(&'a self, url: &'a str, request: &'a [u8]) -> Fetch<'a>;
}

/// What one check found, as reported to the observer.
#[derive(Debug, Clone)]
pub struct Report {
    /// The trust store.
    pub store: String,
    /// The certificate's subject.
    pub subject: String,
    /// The responder asked (or that would have been).
    pub responder: String,
    /// `good`, `revoked`, `unknown`, `unreachable` (no answer in time, or an HTTP failure),
    /// `invalid` (an answer not believed), `no-responder`.
    pub result: &'static str,
    /// Whether the answer came from the cache.
    pub cached: bool,
    /// What was decided: `accepted`, `refused`, `crl` (handed to the CRL files).
    pub decision: &'static str,
    /// Detail for the log.
    pub detail: String,
}

/// Called with every [`Report`].
pub type Observer = Arc<dyn Fn(&Report) + Send + Sync>;

#[derive(Debug, Clone)]
enum Cached {
    Answer {
        answer: ocsp::Answer,
        until: OffsetDateTime,
    },
    Failed {
        result: &'static str,
        reason: String,
        until: OffsetDateTime,
    },
}

impl Cached {
    fn until(&self) -> OffsetDateTime {
        match self {
            Self::Answer { until, .. } | Self::Failed { until, .. } => *until,
        }
    }
}

/// Asks responders, keeps their answers, applies trust stores' policies. One per process.
pub struct RevocationChecker {
    transport: Arc<dyn OcspTransport>,
    cache: Mutex<HashMap<(String, Vec<u8>), Cached>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for RevocationChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationChecker")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl RevocationChecker {
    /// A checker sending through `transport`.
    pub fn new(transport: Arc<dyn OcspTransport>) -> Self {
        Self {
            transport,
            cache: Mutex::new(HashMap::new()),
            observer: None,
        }
    }

    /// The same checker, reporting every decision to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Checks a signer [`TrustStore::verify`] accepted, under `store`'s policy (nothing to do
    /// for `crl`: the CRLs were applied during validation).
    ///
    /// Errors: [`TrustError::Revoked`] when revoked, or refused for want of a status
    /// ([`TrustError::RevocationUnknown`]; [`TrustError::is_transient`] tells whether asking
    /// again later may help).
    pub async fn check_signer(
        &self,
        store: &TrustStore,
        signer: &VerifiedSigner,
        purpose: Purpose,
    ) -> Result<(), TrustError> {
        self.check(
            store,
            &signer.end_entity,
            &signer.chain,
            &signer.issuer_spki,
            &signer.certificate.subject,
            purpose,
            OffsetDateTime::now_utc(),
        )
        .await
    }

    /// Validates `end_entity` (with the `chain` the peer sent) for `purpose` now, then checks
    /// its revocation under the store's policy: what a TLS peer's certificate gets.
    ///
    /// Errors: as [`TrustStore::verify`] and [`Self::check_signer`].
    pub async fn verify(
        &self,
        store: &TrustStore,
        end_entity: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        purpose: Purpose,
    ) -> Result<VerifiedSigner, TrustError> {
        let signer = store.verify(end_entity, chain, OffsetDateTime::now_utc(), purpose)?;
        self.check_signer(store, &signer, purpose).await?;
        Ok(signer)
    }

    #[allow(clippy::too_many_arguments)]
    async fn check(
        &self,
        store: &TrustStore,
        leaf: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        issuer_spki: &[u8],
        subject: &str,
        purpose: Purpose,
        now: OffsetDateTime,
    ) -> Result<(), TrustError> {
        let settings = store.revocation();
        if !settings.policy.uses_ocsp() {
            return Ok(());
        }
        let responder = settings
            .responder
            .clone()
            .or_else(|| ocsp::responder_url(leaf));
        let mut report = Report {
            store: store.name().to_string(),
            subject: subject.to_string(),
            responder: responder.clone().unwrap_or_else(|| "-".into()),
            result: "no-responder",
            cached: false,
            decision: "refused",
            detail: String::new(),
        };
        let answer = match responder {
            None => Err((
                "no-responder",
                "the certificate names no OCSP responder (AIA) and the store configures none"
                    .to_string(),
            )),
            Some(url) => {
                self.answer(&url, leaf, issuer_spki, settings, now, &mut report)
                    .await
            }
        };
        let outcome = match answer {
            Ok(a) => match a.status {
                Status::Good => {
                    report.result = "good";
                    Decision::Accept
                }
                Status::Revoked { at, reason } => {
                    report.result = "revoked";
                    report.detail = format!(
                        "revoked at {at}{}",
                        reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    );
                    Decision::Revoked
                }
                Status::Unknown => {
                    report.result = "unknown";
                    report.detail = format!("the responder ({}) does not know it", a.signed_by);
                    Decision::NoStatus { transient: false }
                }
            },
            Err((result, reason)) => {
                report.result = result;
                report.detail = reason;
                Decision::NoStatus {
                    transient: result == "unreachable",
                }
            }
        };
        let result = match outcome {
            Decision::Accept => {
                report.decision = "accepted";
                Ok(())
            }
            Decision::Revoked => Err(TrustError::Revoked {
                store: report.store.clone(),
                subject: subject.to_string(),
                reason: format!("OCSP: {}", report.detail),
            }),
            Decision::NoStatus { transient } => {
                report.decision = if settings.policy == Policy::OcspThenCrl {
                    "crl"
                } else {
                    "accepted"
                };
                store.without_status(
                    leaf,
                    chain,
                    now,
                    purpose,
                    subject,
                    format!("OCSP {}: {}", report.result, report.detail),
                    transient,
                )
            }
        };
        if result.is_err() {
            report.decision = "refused";
        }
        if let Some(observe) = &self.observer {
            observe(&report);
        }
        result
    }

    /// The checked answer for the certificate, from the cache or the responder.
    async fn answer(
        &self,
        url: &str,
        leaf: &[u8],
        issuer_spki: &[u8],
        settings: &Revocation,
        now: OffsetDateTime,
        report: &mut Report,
    ) -> Result<ocsp::Answer, (&'static str, String)> {
        let query = Query::new(leaf, issuer_spki).map_err(|e| ("invalid", e.to_string()))?;
        let key = (url.to_string(), query.cache_key());
        if let Some(hit) = self.cached(&key, now) {
            report.cached = true;
            return match hit {
                Cached::Answer { answer, .. } => Ok(answer),
                Cached::Failed { result, reason, .. } => Err((
                    result,
                    format!("{reason} (not asked again for {FAILURE_HOLD:?})"),
                )),
            };
        }
        let fetched = tokio::time::timeout(settings.timeout, self.transport.post(url, query.der()))
            .await
            .map_err(|_| {
                (
                    "unreachable",
                    format!("no answer from {url} within {:?}", settings.timeout),
                )
            })
            .and_then(|r| r.map_err(|e| ("unreachable", e)))
            .and_then(|body| {
                query
                    .check(&body, now, settings.require_nonce)
                    .map_err(|e| ("invalid", e.to_string()))
            });
        let entry = match &fetched {
            Ok(answer) => {
                let ttl = time::Duration::try_from(TTL_WITHOUT_NEXT_UPDATE)
                    .unwrap_or(time::Duration::MINUTE);
                Cached::Answer {
                    answer: answer.clone(),
                    until: answer.next_update.unwrap_or(now + ttl),
                }
            }
            Err((result, reason)) => Cached::Failed {
                result,
                reason: reason.clone(),
                until: now + time::Duration::try_from(FAILURE_HOLD).unwrap_or_default(),
            },
        };
        self.remember(key, entry);
        fetched
    }

    fn cached(&self, key: &(String, Vec<u8>), now: OffsetDateTime) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).filter(|c| c.until() > now).cloned()
    }

    fn remember(&self, key: (String, Vec<u8>), entry: Cached) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            // Expired first; then the entries that expire soonest.
            let now = OffsetDateTime::now_utc();
            cache.retain(|_, c| c.until() > now);
            if cache.len() >= CACHE_CAPACITY {
                let mut untils: Vec<_> = cache.values().map(Cached::until).collect();
                untils.sort();
                let cut = untils[untils.len() / 2];
                cache.retain(|_, c| c.until() > cut);
            }
        }
        cache.insert(key, entry);
    }

    /// Asks `url` about the gateway's own certificate `leaf` (issued by the holder of
    /// `issuer_spki`), for stapling: the DER answer and what it says. A nonce is sent; an answer
    /// without one is accepted (responders for TLS stapling often pre-produce their answers), a
    /// wrong one is not. Not cached: the caller keeps the answer until its refresh.
    ///
    /// Errors: one line naming what failed (transport, time limit, an answer not believed).
    pub async fn fetch_for_staple(
        &self,
        url: &str,
        leaf: &[u8],
        issuer_spki: &[u8],
        timeout: Duration,
    ) -> Result<(Vec<u8>, ocsp::Answer), String> {
        let query = Query::new(leaf, issuer_spki).map_err(|e| e.to_string())?;
        let body = tokio::time::timeout(timeout, self.transport.post(url, query.der()))
            .await
            .map_err(|_| format!("no answer from {url} within {timeout:?}"))??;
        let answer = query
            .check(&body, OffsetDateTime::now_utc(), false)
            .map_err(|e| e.to_string())?;
        Ok((body, answer))
    }

    /// Forgets every cached answer (after a trust store changed).
    pub fn clear(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

enum Decision {
    Accept,
    Revoked,
    NoStatus { transient: bool },
}
