//! The gateway's trust material, loaded from the configuration: the listener's TLS
//! configuration, client-certificate and signed-route rules, trust stores, the center's
//! signing identity, each destination's outbound TLS and signer, and the list of every
//! configured certificate for expiry monitoring.
//!
//! [`SecurityHandle`] holds the current [`Security`] and swaps it on reload (SIGHUP or
//! `POST /v1/admin/reload`): the configuration file is read again and everything rebuilt; if
//! anything fails the old material stays in force and the reason is returned and logged.
//! Connections already open keep the TLS configuration they were accepted with, so a reload
//! never drops them. Destinations' outbound clients are built once at start-up (a new client
//! certificate for a destination takes a restart in this version).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lienthong_certs::httpsig::{SigningKey, VerifyingKey};
use lienthong_certs::inspect::CertificateInfo;
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::revocation::RevocationChecker;
use lienthong_certs::tls::{self, Identity};
use lienthong_certs::trust::CrlStatus;
use lienthong_certs::trust::TrustStore;
use lienthong_certs::xmldsig::Signer;
use lienthong_connectors::http::OutboundSecurity;
use time::OffsetDateTime;

use crate::config::{ClientAuthRule, SignedRouteRule};

/// A signed route with its keys resolved.
#[derive(Debug)]
pub struct SignedRoute {
    /// The rule as configured.
    pub rule: SignedRouteRule,
    /// Keys by `keyid`.
    pub keys: BTreeMap<String, VerifyingKey>,
}

/// The center's signing identity.
#[derive(Debug)]
pub struct SigningIdentity {
    /// Certificate chain and key.
    pub identity: Identity,
    /// `keyid` for HTTP signatures.
    pub keyid: String,
    /// RFC 9421 key.
    pub http: SigningKey,
    /// XML-DSig signer.
    pub xml: Signer,
}

/// A configured certificate, watched for expiry.
#[derive(Debug, Clone)]
pub struct WatchedCertificate {
    /// Where it is configured, e.g. `server.tls`, `signing`, `trust.peers[0]`.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// What it says.
    pub info: CertificateInfo,
}

/// Everything loaded from certificate, key, CRL and secret files.
#[derive(Debug)]
pub struct Security {
    /// The listener's TLS configuration, when `[server.tls]` is set.
    pub listener_tls: Option<Arc<rustls::ServerConfig>>,
    /// What stapling an OCSP answer to the listener's handshakes takes, when it is done.
    pub listener_staple: Option<ListenerStaple>,
    /// The store client certificates chain to (`server.tls.client_trust`): when it asks an
    /// OCSP responder, a client's certificate is checked right after the handshake.
    pub listener_client_trust: Option<Arc<TrustStore>>,
    /// Client-certificate rules.
    pub client_auth: Vec<ClientAuthRule>,
    /// Signed routes.
    pub signed_routes: Vec<SignedRoute>,
    /// Trust stores by name.
    pub trust: BTreeMap<String, Arc<TrustStore>>,
    /// The center's signing identity.
    pub signing: Option<SigningIdentity>,
    /// Outbound TLS and signer per destination.
    pub outbound: BTreeMap<String, OutboundSecurity>,
    /// Every configured certificate.
    pub certificates: Vec<WatchedCertificate>,
    /// Warning window before expiry.
    pub warning: Duration,
    /// This center's agency code (`[center] agency_code`): received dossier messages must be
    /// addressed to it (`To/OrganId`).
    pub center_organ_id: String,
    /// Peers we receive edXML from (peer destinations with a `signature_trust`), with the
    /// destination statuses about their dossiers go back to.
    pub peers: Vec<InboundPeer>,
    /// Signs the answers to received edXML (with the `[signing]` identity).
    pub answerer: Option<Arc<lienthong_connectors::peer::answer::Answerer>>,
    /// The keys on PKCS#11 tokens, by where they are configured (`signing`, `server.tls`,
    /// `destinations.<name>.tls`): watched for availability.
    pub token_keys: Vec<(String, Arc<PrivateKey>)>,
}

/// The listener's certificate, its issuer's key and its CA's responder: what the stapling task
/// ([`crate::trust::revocation::staple`]) asks about, and the resolver it hands the answer to.
#[derive(Debug, Clone)]
pub struct ListenerStaple {
    /// Where the answer goes.
    pub resolver: Arc<tls::StaplingResolver>,
    /// The listener's certificate.
    pub leaf: rustls_pki_types::CertificateDer<'static>,
    /// Its issuer's SubjectPublicKeyInfo (from the certificate after it in `server.tls.cert`);
    /// `None` when the file holds the leaf alone (then nothing can be asked, and it is logged).
    pub issuer_spki: Option<Vec<u8>>,
    /// The responder.
    pub responder: String,
}

/// Whether a key on a token can be used now ([`Security::check_token_keys`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenKeyStatus {
    /// Where it is configured, e.g. `signing`.
    pub name: String,
    /// The key, e.g. `ECDSA P-256 on pkcs11:… token … key …`.
    pub key: String,
    /// Whether it answered.
    pub available: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A peer center we accept edXML from.
#[derive(Debug, Clone)]
pub struct InboundPeer {
    /// Its destination (where statuses about its dossiers go).
    pub destination: String,
    /// Its agency code, trust store and accepted signer names.
    pub known: lienthong_connectors::peer::inbound::KnownPeer,
    /// Whose TLS client certificate may push its documents.
    pub transport_identity: lienthong_connectors::peer::TransportIdentity,
}

impl Security {
    /// Asks every key on a token whether it can be used now (blocking: one PKCS#11 round trip
    /// each; a token that is back is found again here) and sets
    /// `lienthong_signing_key_available{name}` to 1 or 0.
    pub fn check_token_keys(&self) -> Vec<TokenKeyStatus> {
        self.token_keys
            .iter()
            .map(|(name, key)| {
                let reason = key.check_available().err().map(|e| e.to_string());
                metrics::gauge!("lienthong_signing_key_available", "name" => name.clone())
                    .set(if reason.is_none() { 1.0 } else { 0.0 });
                TokenKeyStatus {
                    name: name.clone(),
                    key: key.describe(),
                    available: reason.is_none(),
                    reason,
                }
            })
            .collect()
    }

    /// Certificates expired or expiring within the warning window at `now`, with seconds left.
    pub fn expiring(&self, now: OffsetDateTime) -> Vec<(&WatchedCertificate, i64)> {
        let window = i64::try_from(self.warning.as_secs()).unwrap_or(i64::MAX);
        self.certificates
            .iter()
            .map(|c| (c, c.info.seconds_left(now)))
            .filter(|(_, left)| *left <= window)
            .collect()
    }

    /// The CRLs past their `nextUpdate` in trust stores that do not accept them, as
    /// (store, CRL): while one is there, the certificates it covers are refused.
    pub fn stale_crls(&self, now: OffsetDateTime) -> Vec<(&str, &CrlStatus)> {
        self.trust
            .iter()
            .flat_map(|(name, t)| {
                t.stale_crls(now)
                    .into_iter()
                    .map(move |c| (name.as_str(), c))
            })
            .collect()
    }

    /// Sets `lienthong_certificate_expiry_seconds{name}` for every certificate and
    /// `lienthong_crl_next_update_seconds{store,issuer}` for every CRL (negative once stale),
    /// and logs a warning for each certificate expired or within the warning window and an
    /// error for each stale CRL a store does not accept.
    pub fn publish_expiry(&self, now: OffsetDateTime) {
        for (store, t) in &self.trust {
            for c in t.crl_status() {
                if let Some(next) = c.next_update {
                    metrics::gauge!(
                        "lienthong_crl_next_update_seconds",
                        "store" => store.clone(),
                        "issuer" => c.issuer.clone()
                    )
                    .set((next - now).whole_seconds() as f64);
                }
            }
        }
        for (store, c) in self.stale_crls(now) {
            tracing::error!(
                store,
                issuer = c.issuer,
                next_update = ?c.next_update,
                "CRL is past its nextUpdate: certificates it covers are refused until a fresh CRL is installed and reloaded"
            );
        }
        for c in &self.certificates {
            let left = c.info.seconds_left(now);
            metrics::gauge!("lienthong_certificate_expiry_seconds", "name" => c.name.clone())
                .set(left as f64);
        }
        for (c, left) in self.expiring(now) {
            if left <= 0 {
                tracing::error!(certificate = c.name, subject = c.info.subject, path = %c.path.display(), "certificate has EXPIRED");
            } else {
                tracing::warn!(certificate = c.name, subject = c.info.subject, days_left = left / 86_400, path = %c.path.display(), "certificate expires soon");
            }
        }
    }
}

/// The current [`Security`], swapped atomically on reload ([`crate::reload`]).
#[derive(Debug)]
pub struct SecurityHandle {
    current: RwLock<Arc<Security>>,
    revocation: Arc<RevocationChecker>,
}

impl SecurityHandle {
    /// Wraps the material loaded at start-up, with the process's OCSP checker (its cache
    /// outlives reloads).
    pub fn new(security: Security, revocation: RevocationChecker) -> Self {
        Self {
            current: RwLock::new(Arc::new(security)),
            revocation: Arc::new(revocation),
        }
    }

    /// The OCSP checker (for trust stores whose `revocation` asks a responder).
    pub fn revocation(&self) -> &Arc<RevocationChecker> {
        &self.revocation
    }

    /// The material in force.
    pub fn current(&self) -> Arc<Security> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts `security` in force: handshakes and requests from now on use it; those in progress
    /// finish with what they started with.
    pub fn swap(&self, security: Arc<Security>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = security;
    }
}
