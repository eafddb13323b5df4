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
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lienthong_certs::httpsig::{Algorithm, HmacSecret, SigningKey, VerifyingKey};
use lienthong_certs::inspect::CertificateInfo;
use lienthong_certs::keys::{PrivateKey, load_certificates};
use lienthong_certs::revocation::RevocationChecker;
use lienthong_certs::tls::{self, Identity};
use lienthong_certs::trust::CrlStatus;
use lienthong_certs::trust::{Purpose, TrustStore, TrustStoreFiles};
use lienthong_certs::xmldsig::{Signer, XmlSignatureAlgorithm};
use lienthong_connectors::http::{OutboundSecurity, RequestSigner};
use time::OffsetDateTime;

use crate::config::{ClientAuthRule, Config, ConfigError, SignedRouteRule};

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

fn err(key: impl Into<String>, message: impl ToString) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.to_string(),
    }
}

impl Security {
    /// Loads everything the configuration names. Every problem is returned with its key.
    pub fn build(config: &Config) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut certificates = Vec::new();
        let mut watch =
            |name: String, path: &PathBuf, certs: &[rustls_pki_types::CertificateDer<'_>]| {
                for (i, c) in certs.iter().enumerate() {
                    if let Ok(info) = CertificateInfo::from_der(c) {
                        let name = if certs.len() > 1 {
                            format!("{name}[{i}]")
                        } else {
                            name.clone()
                        };
                        certificates.push(WatchedCertificate {
                            name,
                            path: path.clone(),
                            info,
                        });
                    }
                }
            };

        // Trust stores.
        let mut trust = BTreeMap::new();
        for (name, t) in &config.trust {
            use lienthong_certs::revocation::Policy;
            if t.revocation == Policy::OcspThenCrl && t.crls.is_empty() {
                errors.push(err(
                    format!("trust.{name}.crls"),
                    "revocation = \"ocsp-then-crl\" falls back on CRL files: list at least one",
                ));
            }
            if let Some(url) = &t.ocsp_responder
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                errors.push(err(
                    format!("trust.{name}.ocsp_responder"),
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
            if t.ocsp_timeout.is_zero() || t.ocsp_timeout > Duration::from_secs(60) {
                errors.push(err(
                    format!("trust.{name}.ocsp_timeout"),
                    "must be between 1 ms and 60 s (a handshake or a received document waits for it)",
                ));
            }
            let files = TrustStoreFiles {
                anchors: t.anchors.clone(),
                intermediates: t.intermediates.clone(),
                crls: t.crls.clone(),
                allow_legacy: t.allow_legacy,
                allow_stale_crl: t.allow_stale_crl,
                revocation: t.revocation(),
            };
            match TrustStore::load(name, &files) {
                Ok(store) => {
                    for p in &t.anchors {
                        if let Ok(c) = load_certificates(p) {
                            watch(format!("trust.{name}"), p, &c);
                        }
                    }
                    trust.insert(name.clone(), Arc::new(store));
                }
                Err(e) => errors.push(err(format!("trust.{name}"), e)),
            }
        }
        let store = |key: &str, name: &str, errors: &mut Vec<ConfigError>| {
            let found = trust.get(name).cloned();
            if found.is_none() {
                errors.push(err(
                    key,
                    format!("unknown trust store `{name}` (add [trust.{name}])"),
                ));
            }
            found
        };

        let mut token_keys = Vec::new();
        let mut on_token = |name: String, key: &Arc<PrivateKey>| {
            if key.token_kind().is_some() {
                token_keys.push((name, Arc::clone(key)));
            }
        };

        // Listener.
        let mut listener_tls = None;
        let mut listener_client_trust = None;
        let mut listener_staple = None;
        if let Some(t) = &config.server.tls {
            match load_identity(
                &t.cert,
                t.key.as_deref(),
                t.key_pkcs11.as_ref(),
                "server.tls.key",
            ) {
                Ok(id) => {
                    watch("server.tls".into(), &t.cert, &id.chain[..1]);
                    on_token("server.tls".into(), &id.key);
                    let client_trust = match &t.client_trust {
                        Some(n) => store("server.tls.client_trust", n, &mut errors),
                        None => None,
                    };
                    listener_client_trust = client_trust.clone();
                    let clients = match client_trust.as_deref() {
                        Some(ts) => tls::ClientCertificates::Optional(ts),
                        None => tls::ClientCertificates::None,
                    };
                    match tls::server_config_stapling(&id, clients, t.min_version.to_min()) {
                        Ok((c, resolver)) => {
                            listener_tls = Some(c);
                            let responder = t
                                .ocsp_responder
                                .clone()
                                .or_else(|| lienthong_certs::ocsp::responder_url(&id.chain[0]));
                            if t.staple_ocsp
                                && let Some(responder) = responder
                            {
                                listener_staple = Some(ListenerStaple {
                                    resolver,
                                    leaf: id.chain[0].clone(),
                                    issuer_spki: id
                                        .chain
                                        .get(1)
                                        .and_then(|c| lienthong_certs::ocsp::public_key_of(c)),
                                    responder,
                                });
                            }
                        }
                        Err(e) => errors.push(err("server.tls", e)),
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for (i, r) in config.server.client_auth.iter().enumerate() {
            let key = format!("server.client_auth[{i}]");
            if !r.path_prefix.starts_with('/') {
                errors.push(err(format!("{key}.path_prefix"), "must start with /"));
            }
            match &config.server.tls {
                Some(t) if t.client_trust.is_some() => {}
                _ => errors.push(err(
                    key.clone(),
                    "client certificates need server.tls with client_trust",
                )),
            }
            if r.relays_xroad() {
                for c in &r.xroad_clients {
                    if let Err(e) = lienthong_connectors::xroad::ClientId::parse(c) {
                        errors.push(err(format!("{key}.xroad_clients"), e.to_string()));
                    }
                }
                if !r.required || r.allowed_subjects.is_empty() {
                    errors.push(err(
                        format!("{key}.xroad_clients"),
                        "a Security Server relays for others: the rule must require its certificate (required = true) and name it (allowed_subjects)",
                    ));
                }
            }
        }

        // Signed routes.
        let mut signed_routes = Vec::new();
        for (i, r) in config.server.signed_routes.iter().enumerate() {
            let key = format!("server.signed_routes[{i}]");
            if r.keys.is_empty() {
                errors.push(err(format!("{key}.keys"), "list at least one key"));
            }
            let mut keys = BTreeMap::new();
            for k in &r.keys {
                let kkey = format!("{key}.keys.{}", k.keyid);
                let Some(alg) = Algorithm::from_name(&k.algorithm) else {
                    errors.push(err(
                        format!("{kkey}.algorithm"),
                        format!("unknown algorithm `{}`", k.algorithm),
                    ));
                    continue;
                };
                let vk = match (&k.certificate, &k.public_key, &k.secret_file) {
                    (Some(c), None, None) => match load_certificates(c) {
                        Ok(chain) => {
                            watch(kkey.clone(), c, &chain[..1]);
                            if let Some(tn) = &k.trust
                                && let Some(ts) = store(&format!("{kkey}.trust"), tn, &mut errors)
                                && let Err(e) = ts.verify(
                                    &chain[0],
                                    &chain,
                                    OffsetDateTime::now_utc(),
                                    Purpose::Signing,
                                )
                            {
                                errors.push(err(&kkey, e));
                            }
                            VerifyingKey::from_certificate(&chain[0], alg)
                                .map_err(|e| err(&kkey, e))
                        }
                        Err(e) => Err(err(&kkey, e)),
                    },
                    (None, Some(p), None) => std::fs::read_to_string(p)
                        .map_err(|e| err(&kkey, format!("{}: {e}", p.display())))
                        .and_then(|pem| {
                            VerifyingKey::from_public_key_pem(&pem, alg).map_err(|e| err(&kkey, e))
                        }),
                    (None, None, Some(p)) if alg == Algorithm::HmacSha256 => {
                        std::fs::read_to_string(p)
                            .map_err(|e| err(&kkey, format!("{}: {e}", p.display())))
                            .and_then(|t| HmacSecret::from_base64(&t).map_err(|e| err(&kkey, e)))
                            .map(VerifyingKey::Hmac)
                    }
                    _ => Err(err(
                        &kkey,
                        "give exactly one of certificate, public_key or (for hmac-sha256) secret_file",
                    )),
                };
                match vk {
                    Ok(vk) => {
                        keys.insert(k.keyid.clone(), vk);
                    }
                    Err(e) => errors.push(e),
                }
            }
            signed_routes.push(SignedRoute {
                rule: r.clone(),
                keys,
            });
        }

        // Signing identity.
        let mut signing = None;
        if let Some(s) = &config.signing {
            match build_signing(s, &config.center.agency_code) {
                Ok(id) => {
                    watch("signing".into(), &s.cert, &id.identity.chain[..1]);
                    on_token("signing".into(), &id.identity.key);
                    signing = Some(id);
                }
                Err(e) => errors.push(e),
            }
        }

        // Destinations.
        let mut outbound = BTreeMap::new();
        for (name, d) in &config.destinations {
            let key = format!("destinations.{name}");
            let mut sec = OutboundSecurity::default();
            if let Some(t) = &d.tls {
                let identity = match (&t.client_cert, &t.client_key, &t.client_key_pkcs11) {
                    (None, None, None) => None,
                    (Some(c), file, token) => match load_identity(
                        c,
                        file.as_deref(),
                        token.as_ref(),
                        &format!("{key}.tls.client_key"),
                    ) {
                        Ok(id) => {
                            watch(format!("{key}.tls"), c, &id.chain[..1]);
                            on_token(format!("{key}.tls"), &id.key);
                            Some(id)
                        }
                        Err(e) => {
                            errors.push(e);
                            None
                        }
                    },
                    (None, _, _) => {
                        errors.push(err(
                            format!("{key}.tls.client_cert"),
                            "a client key needs its certificate (client_cert)",
                        ));
                        None
                    }
                };
                match &t.trust {
                    Some(tn) => {
                        if let Some(ts) = store(&format!("{key}.tls.trust"), tn, &mut errors) {
                            match tls::observed_client_config(
                                &ts,
                                identity.as_ref(),
                                t.min_version.to_min(),
                                Some(crate::trust::revocation::observer()),
                            ) {
                                Ok(c) => sec.tls = Some(c),
                                Err(e) => errors.push(err(format!("{key}.tls"), e)),
                            }
                        }
                    }
                    None if identity.is_some() => errors.push(err(
                        format!("{key}.tls.trust"),
                        "a client certificate needs a trust store for the destination's server certificate",
                    )),
                    None => {}
                }
            }
            if let Some(x) = &d.xroad {
                match lienthong_connectors::xroad::Route::new(x) {
                    Ok(route) => sec.xroad = Some(Arc::new(route)),
                    Err(p) => errors.push(err(format!("{key}.xroad.{}", p.key), p.message)),
                }
            }
            if d.sign_requests {
                match &signing {
                    Some(s) => {
                        sec.signer = Some(Arc::new(RequestSigner::new(
                            s.http.clone(),
                            s.keyid.clone(),
                        )));
                    }
                    None => errors.push(err(
                        format!("{key}.sign_requests"),
                        "needs a [signing] identity",
                    )),
                }
            }
            outbound.insert(name.clone(), sec);
        }

        // Peers we receive from.
        let mut peers = Vec::new();
        for (name, d) in &config.destinations {
            if let crate::config::DestinationKind::Peer(p) = &d.kind
                && let Some(tn) = &p.signature_trust
                && let Some(ts) = store(
                    &format!("destinations.{name}.signature_trust"),
                    tn,
                    &mut errors,
                )
            {
                peers.push(InboundPeer {
                    destination: name.clone(),
                    known: lienthong_connectors::peer::inbound::KnownPeer {
                        organ_id: p.organ_id.clone(),
                        trust: ts,
                        signers: p.signers.clone(),
                    },
                    transport_identity: p.transport_identity(),
                });
            }
        }
        let answerer = match &signing {
            Some(s) => match lienthong_connectors::peer::answer::Answerer::new(
                lienthong_connectors::peer::Sender {
                    organ_id: config.center.agency_code.clone(),
                    organ_name: config.center.agency_name.clone(),
                    signer: Arc::new(s.xml.clone()),
                },
            ) {
                Ok(a) => Some(Arc::new(a)),
                Err(e) => {
                    errors.push(err("signing", e));
                    None
                }
            },
            None => None,
        };

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            center_organ_id: config.center.agency_code.clone(),
            peers,
            answerer,
            listener_tls,
            listener_client_trust,
            listener_staple,
            client_auth: config.server.client_auth.clone(),
            signed_routes,
            trust,
            signing,
            outbound,
            certificates,
            warning: config.server.certificate_warning,
            token_keys,
        })
    }

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

/// Loads a certificate chain and its key, from a file (`<key>`) or a token (`<key>_pkcs11`),
/// exactly one of them; errors name the key that was used.
fn load_identity(
    cert: &Path,
    file: Option<&Path>,
    token: Option<&lienthong_certs::pkcs11::TokenKeyConfig>,
    key: &str,
) -> Result<Identity, ConfigError> {
    match (file, token) {
        (Some(file), None) => Identity::load(cert, file).map_err(|e| err(key, e)),
        (None, Some(token)) => {
            Identity::load_with_token(cert, token).map_err(|e| err(format!("{key}_pkcs11"), e))
        }
        _ => Err(err(
            key,
            format!("give the key file ({key}) or the key on a token ({key}_pkcs11), one of them"),
        )),
    }
}

fn build_signing(
    s: &crate::config::SigningConfig,
    agency_code: &str,
) -> Result<SigningIdentity, ConfigError> {
    let identity = load_identity(
        &s.cert,
        s.key.as_deref(),
        s.key_pkcs11.as_ref(),
        "signing.key",
    )?;
    let http = match &s.http_algorithm {
        Some(name) => {
            let algorithm = Algorithm::from_name(name)
                .filter(|a| *a != Algorithm::HmacSha256)
                .ok_or_else(|| {
                    err(
                        "signing.http_algorithm",
                        format!("unknown algorithm `{name}`"),
                    )
                })?;
            SigningKey::Private {
                key: identity.key.clone(),
                algorithm,
            }
        }
        None => SigningKey::for_key(identity.key.clone(), false).map_err(|e| err("signing", e))?,
    };
    // Probe once so that an algorithm that does not fit the key fails at load, not at send.
    lienthong_certs::httpsig::sign(
        &lienthong_certs::httpsig::Message::response(200, &http::HeaderMap::new()),
        "probe",
        &lienthong_certs::httpsig::SignatureParams {
            components: vec![lienthong_certs::httpsig::ComponentId::new("@status")],
            ..Default::default()
        },
        &http,
    )
    .map_err(|e| err("signing.http_algorithm", e))?;
    let xml_alg = match &s.xml_algorithm {
        Some(n) => XmlSignatureAlgorithm::from_name(n)
            .ok_or_else(|| err("signing.xml_algorithm", format!("unknown algorithm `{n}`")))?,
        None => Signer::default_algorithm(&identity.key),
    };
    let xml = Signer::new(identity.key.clone(), identity.chain.clone(), xml_alg)
        .map_err(|e| err("signing.xml_algorithm", e))?;
    Ok(SigningIdentity {
        keyid: s.keyid.clone().unwrap_or_else(|| agency_code.to_string()),
        identity,
        http,
        xml,
    })
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
