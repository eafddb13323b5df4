//! Loading the trust material the configuration names, one kind of material at a time: trust
//! stores, the listener's TLS identity, client-certificate rules, signed routes' keys, the
//! center's signing identity, each destination's outbound TLS and signer, the peers edXML is
//! received from. [`Material`] collects what every step shares — the problems found (each with
//! its key, in the order of the sections), the certificates to watch for expiry, the keys on
//! tokens, the trust stores by name — and [`Security::build`] (here, beside the steps it runs)
//! runs them in order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lienthong_certs::httpsig::{Algorithm, HmacSecret, SigningKey, VerifyingKey};
use lienthong_certs::inspect::CertificateInfo;
use lienthong_certs::keys::{PrivateKey, load_certificates};
use lienthong_certs::tls::{self, Identity};
use lienthong_certs::trust::{Purpose, TrustStore, TrustStoreFiles};
use lienthong_certs::xmldsig::{Signer, XmlSignatureAlgorithm};
use lienthong_connectors::http::{OutboundSecurity, RequestSigner};
use time::OffsetDateTime;

use crate::config::{Config, ConfigError};
use crate::trust::security::{
    InboundPeer, ListenerStaple, Security, SignedRoute, SigningIdentity, WatchedCertificate,
};

/// What the loading steps share.
#[derive(Default)]
pub(crate) struct Material {
    /// Every problem, with its key, in the order found.
    pub(crate) errors: Vec<ConfigError>,
    /// Every configured certificate, for expiry monitoring.
    pub(crate) certificates: Vec<WatchedCertificate>,
    /// Keys on PKCS#11 tokens, by where they are configured.
    pub(crate) token_keys: Vec<(String, Arc<PrivateKey>)>,
    /// Trust stores by name.
    pub(crate) trust: BTreeMap<String, Arc<TrustStore>>,
}

/// The listener's TLS set-up (`[server.tls]`).
#[derive(Default)]
pub(crate) struct Listener {
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) client_trust: Option<Arc<TrustStore>>,
    pub(crate) staple: Option<ListenerStaple>,
}

impl Security {
    /// Loads everything the configuration names, material by material (`trust/material.rs`).
    /// Every problem is returned with its key, in the order of the sections.
    pub fn build(config: &Config) -> Result<Self, Vec<ConfigError>> {
        let mut m = Material::default();
        m.trust_stores(config);
        let listener = m.listener(config);
        m.client_auth(config);
        let signed_routes = m.signed_routes(config);
        let signing = m.signing(config);
        let outbound = m.outbound(config, signing.as_ref());
        let peers = m.peers(config);
        let answerer = m.answerer(config, signing.as_ref());
        let Material {
            errors,
            certificates,
            token_keys,
            trust,
        } = m;
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            center_organ_id: config.center.agency_code.clone(),
            peers,
            answerer,
            listener_tls: listener.tls,
            listener_client_trust: listener.client_trust,
            listener_staple: listener.staple,
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
}

impl Material {
    /// Watches `certs` (from `path`) for expiry under `name` (`name[i]` when there are several).
    fn watch(&mut self, name: String, path: &Path, certs: &[rustls_pki_types::CertificateDer<'_>]) {
        for (i, c) in certs.iter().enumerate() {
            if let Ok(info) = CertificateInfo::from_der(c) {
                let name = if certs.len() > 1 {
                    format!("{name}[{i}]")
                } else {
                    name.clone()
                };
                self.certificates.push(WatchedCertificate {
                    name,
                    path: path.to_path_buf(),
                    info,
                });
            }
        }
    }

    /// Remembers `key` when it lives on a token (watched for availability).
    fn on_token(&mut self, name: String, key: &Arc<PrivateKey>) {
        if key.token_kind().is_some() {
            self.token_keys.push((name, Arc::clone(key)));
        }
    }

    /// The trust store `name`, named at `key`; a problem when there is none.
    fn store(&mut self, key: &str, name: &str) -> Option<Arc<TrustStore>> {
        let found = self.trust.get(name).cloned();
        if found.is_none() {
            self.errors.push(ConfigError::new(
                key,
                format!("unknown trust store `{name}` (add [trust.{name}])"),
            ));
        }
        found
    }

    /// `[trust.<name>]`: each store's files and revocation settings.
    pub(crate) fn trust_stores(&mut self, config: &Config) {
        for (name, t) in &config.trust {
            use lienthong_certs::revocation::Policy;
            if t.revocation == Policy::OcspThenCrl && t.crls.is_empty() {
                self.errors.push(ConfigError::new(
                    format!("trust.{name}.crls"),
                    "revocation = \"ocsp-then-crl\" falls back on CRL files: list at least one",
                ));
            }
            if let Some(url) = &t.ocsp_responder
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                self.errors.push(ConfigError::new(
                    format!("trust.{name}.ocsp_responder"),
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
            if t.ocsp_timeout.is_zero() || t.ocsp_timeout > Duration::from_secs(60) {
                self.errors.push(ConfigError::new(
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
                            self.watch(format!("trust.{name}"), p, &c);
                        }
                    }
                    self.trust.insert(name.clone(), Arc::new(store));
                }
                Err(e) => self
                    .errors
                    .push(ConfigError::new(format!("trust.{name}"), e)),
            }
        }
    }

    /// `[server.tls]`: the listener's identity, the store client certificates chain to, and
    /// OCSP stapling.
    pub(crate) fn listener(&mut self, config: &Config) -> Listener {
        let mut out = Listener::default();
        let Some(t) = &config.server.tls else {
            return out;
        };
        let id = match load_identity(
            &t.cert,
            t.key.as_deref(),
            t.key_pkcs11.as_ref(),
            "server.tls.key",
        ) {
            Ok(id) => id,
            Err(e) => {
                self.errors.push(e);
                return out;
            }
        };
        self.watch("server.tls".into(), &t.cert, &id.chain[..1]);
        self.on_token("server.tls".into(), &id.key);
        let client_trust = match &t.client_trust {
            Some(n) => self.store("server.tls.client_trust", n),
            None => None,
        };
        out.client_trust = client_trust.clone();
        let clients = match client_trust.as_deref() {
            Some(ts) => tls::ClientCertificates::Optional(ts),
            None => tls::ClientCertificates::None,
        };
        match tls::server_config_stapling(&id, clients, t.min_version.to_min()) {
            Ok((c, resolver)) => {
                out.tls = Some(c);
                let responder = t
                    .ocsp_responder
                    .clone()
                    .or_else(|| lienthong_certs::ocsp::responder_url(&id.chain[0]));
                if t.staple_ocsp
                    && let Some(responder) = responder
                {
                    out.staple = Some(ListenerStaple {
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
            Err(e) => self.errors.push(ConfigError::new("server.tls", e)),
        }
        out
    }

    /// `[[server.client_auth]]`: each rule's path, the TLS it needs, and the rules of a Security
    /// Server that relays for others.
    pub(crate) fn client_auth(&mut self, config: &Config) {
        for (i, r) in config.server.client_auth.iter().enumerate() {
            let key = format!("server.client_auth[{i}]");
            if !r.path_prefix.starts_with('/') {
                self.errors.push(ConfigError::new(
                    format!("{key}.path_prefix"),
                    "must start with /",
                ));
            }
            match &config.server.tls {
                Some(t) if t.client_trust.is_some() => {}
                _ => self.errors.push(ConfigError::new(
                    key.clone(),
                    "client certificates need server.tls with client_trust",
                )),
            }
            if r.relays_xroad() {
                for c in &r.xroad_clients {
                    if let Err(e) = lienthong_connectors::xroad::ClientId::parse(c) {
                        self.errors.push(ConfigError::new(
                            format!("{key}.xroad_clients"),
                            e.to_string(),
                        ));
                    }
                }
                if !r.required || r.allowed_subjects.is_empty() {
                    self.errors.push(ConfigError::new(
                        format!("{key}.xroad_clients"),
                        "a Security Server relays for others: the rule must require its certificate (required = true) and name it (allowed_subjects)",
                    ));
                }
            }
        }
    }

    /// `[[server.signed_routes]]`: each route's verifying keys.
    pub(crate) fn signed_routes(&mut self, config: &Config) -> Vec<SignedRoute> {
        let mut signed_routes = Vec::new();
        for (i, r) in config.server.signed_routes.iter().enumerate() {
            let key = format!("server.signed_routes[{i}]");
            if r.keys.is_empty() {
                self.errors.push(ConfigError::new(
                    format!("{key}.keys"),
                    "list at least one key",
                ));
            }
            let mut keys = BTreeMap::new();
            for k in &r.keys {
                let kkey = format!("{key}.keys.{}", k.keyid);
                let Some(alg) = Algorithm::from_name(&k.algorithm) else {
                    self.errors.push(ConfigError::new(
                        format!("{kkey}.algorithm"),
                        format!("unknown algorithm `{}`", k.algorithm),
                    ));
                    continue;
                };
                match self.verifying_key(&kkey, k, alg) {
                    Ok(vk) => {
                        keys.insert(k.keyid.clone(), vk);
                    }
                    Err(e) => self.errors.push(e),
                }
            }
            signed_routes.push(SignedRoute {
                rule: r.clone(),
                keys,
            });
        }
        signed_routes
    }

    /// One signed route's key, from its certificate (checked against its trust store when one
    /// is named), its public key, or its HMAC secret file.
    fn verifying_key(
        &mut self,
        kkey: &str,
        k: &crate::config::InboundKeyConfig,
        alg: Algorithm,
    ) -> Result<VerifyingKey, ConfigError> {
        match (&k.certificate, &k.public_key, &k.secret_file) {
            (Some(c), None, None) => match load_certificates(c) {
                Ok(chain) => {
                    self.watch(kkey.to_owned(), c, &chain[..1]);
                    if let Some(tn) = &k.trust
                        && let Some(ts) = self.store(&format!("{kkey}.trust"), tn)
                        && let Err(e) = ts.verify(
                            &chain[0],
                            &chain,
                            OffsetDateTime::now_utc(),
                            Purpose::Signing,
                        )
                    {
                        self.errors.push(ConfigError::new(kkey, e));
                    }
                    VerifyingKey::from_certificate(&chain[0], alg)
                        .map_err(|e| ConfigError::new(kkey, e))
                }
                Err(e) => Err(ConfigError::new(kkey, e)),
            },
            (None, Some(p), None) => std::fs::read_to_string(p)
                .map_err(|e| ConfigError::new(kkey, format!("{}: {e}", p.display())))
                .and_then(|pem| {
                    VerifyingKey::from_public_key_pem(&pem, alg)
                        .map_err(|e| ConfigError::new(kkey, e))
                }),
            (None, None, Some(p)) if alg == Algorithm::HmacSha256 => std::fs::read_to_string(p)
                .map_err(|e| ConfigError::new(kkey, format!("{}: {e}", p.display())))
                .and_then(|t| HmacSecret::from_base64(&t).map_err(|e| ConfigError::new(kkey, e)))
                .map(VerifyingKey::Hmac),
            _ => Err(ConfigError::new(
                kkey,
                "give exactly one of certificate, public_key or (for hmac-sha256) secret_file",
            )),
        }
    }

    /// `[signing]`: the center's signing identity.
    pub(crate) fn signing(&mut self, config: &Config) -> Option<SigningIdentity> {
        let s = config.signing.as_ref()?;
        match build_signing(s, &config.center.agency_code) {
            Ok(id) => {
                self.watch("signing".into(), &s.cert, &id.identity.chain[..1]);
                self.on_token("signing".into(), &id.identity.key);
                Some(id)
            }
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Each destination's outbound TLS, X-Road route and request signer.
    pub(crate) fn outbound(
        &mut self,
        config: &Config,
        signing: Option<&SigningIdentity>,
    ) -> BTreeMap<String, OutboundSecurity> {
        let mut outbound = BTreeMap::new();
        for (name, d) in &config.destinations {
            let key = format!("destinations.{name}");
            let mut sec = OutboundSecurity::default();
            if let Some(t) = &d.tls {
                sec.tls = self.destination_tls(&key, t);
            }
            if let Some(x) = &d.xroad {
                match lienthong_connectors::xroad::Route::new(x) {
                    Ok(route) => sec.xroad = Some(Arc::new(route)),
                    Err(p) => self.errors.push(ConfigError::new(
                        format!("{key}.xroad.{}", p.key),
                        p.message,
                    )),
                }
            }
            if d.sign_requests {
                match signing {
                    Some(s) => {
                        sec.signer = Some(Arc::new(RequestSigner::new(
                            s.http.clone(),
                            s.keyid.clone(),
                        )));
                    }
                    None => self.errors.push(ConfigError::new(
                        format!("{key}.sign_requests"),
                        "needs a [signing] identity",
                    )),
                }
            }
            outbound.insert(name.clone(), sec);
        }
        outbound
    }

    /// `destinations.<name>.tls`: the client identity and the server's trust store.
    fn destination_tls(
        &mut self,
        key: &str,
        t: &crate::config::DestinationTlsConfig,
    ) -> Option<rustls::ClientConfig> {
        let identity = match (&t.client_cert, &t.client_key, &t.client_key_pkcs11) {
            (None, None, None) => None,
            (Some(c), file, token) => match load_identity(
                c,
                file.as_deref(),
                token.as_ref(),
                &format!("{key}.tls.client_key"),
            ) {
                Ok(id) => {
                    self.watch(format!("{key}.tls"), c, &id.chain[..1]);
                    self.on_token(format!("{key}.tls"), &id.key);
                    Some(id)
                }
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            },
            (None, _, _) => {
                self.errors.push(ConfigError::new(
                    format!("{key}.tls.client_cert"),
                    "a client key needs its certificate (client_cert)",
                ));
                None
            }
        };
        match &t.trust {
            Some(tn) => {
                let ts = self.store(&format!("{key}.tls.trust"), tn)?;
                match tls::observed_client_config(
                    &ts,
                    identity.as_ref(),
                    t.min_version.to_min(),
                    Some(crate::trust::revocation::observer()),
                ) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.errors.push(ConfigError::new(format!("{key}.tls"), e));
                        None
                    }
                }
            }
            None => {
                if identity.is_some() {
                    self.errors.push(ConfigError::new(
                        format!("{key}.tls.trust"),
                        "a client certificate needs a trust store for the destination's server certificate",
                    ));
                }
                None
            }
        }
    }

    /// The peers edXML is received from: peer destinations with a `signature_trust`.
    pub(crate) fn peers(&mut self, config: &Config) -> Vec<InboundPeer> {
        let mut peers = Vec::new();
        for (name, d) in &config.destinations {
            if let crate::config::DestinationKind::Peer(p) = &d.kind
                && let Some(tn) = &p.signature_trust
                && let Some(ts) = self.store(&format!("destinations.{name}.signature_trust"), tn)
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
        peers
    }

    /// What signs the answers to received edXML, with the `[signing]` identity.
    pub(crate) fn answerer(
        &mut self,
        config: &Config,
        signing: Option<&SigningIdentity>,
    ) -> Option<Arc<lienthong_connectors::peer::answer::Answerer>> {
        let s = signing?;
        match lienthong_connectors::peer::answer::Answerer::new(
            lienthong_connectors::peer::Sender {
                organ_id: config.center.agency_code.clone(),
                organ_name: config.center.agency_name.clone(),
                signer: Arc::new(s.xml.clone()),
            },
        ) {
            Ok(a) => Some(Arc::new(a)),
            Err(e) => {
                self.errors.push(ConfigError::new("signing", e));
                None
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
        (Some(file), None) => Identity::load(cert, file).map_err(|e| ConfigError::new(key, e)),
        (None, Some(token)) => Identity::load_with_token(cert, token)
            .map_err(|e| ConfigError::new(format!("{key}_pkcs11"), e)),
        _ => Err(ConfigError::new(
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
                    ConfigError::new(
                        "signing.http_algorithm",
                        format!("unknown algorithm `{name}`"),
                    )
                })?;
            SigningKey::Private {
                key: identity.key.clone(),
                algorithm,
            }
        }
        None => SigningKey::for_key(identity.key.clone(), false)
            .map_err(|e| ConfigError::new("signing", e))?,
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
    .map_err(|e| ConfigError::new("signing.http_algorithm", e))?;
    let xml_alg = match &s.xml_algorithm {
        Some(n) => XmlSignatureAlgorithm::from_name(n).ok_or_else(|| {
            ConfigError::new("signing.xml_algorithm", format!("unknown algorithm `{n}`"))
        })?,
        None => Signer::default_algorithm(&identity.key),
    };
    let xml = Signer::new(identity.key.clone(), identity.chain.clone(), xml_alg)
        .map_err(|e| ConfigError::new("signing.xml_algorithm", e))?;
    Ok(SigningIdentity {
        keyid: s.keyid.clone().unwrap_or_else(|| agency_code.to_string()),
        identity,
        http,
        xml,
    })
}
