//! rustls configurations for the gateway's listener and its outbound clients.
//!
//! Server: TLS 1.2 minimum (1.3 only when asked), the gateway's certificate chain, and —
//! when a client trust store is given — client certificates verified at the handshake against
//! that store's anchors and CRLs. Client certificates stay *optional* at the handshake so that
//! routes without mutual TLS keep working; routes that require one check for it per request.
//! Client: a destination's trust store (with CRLs) instead of the platform roots, and its
//! client identity for mutual TLS.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::keys::{KeyError, PrivateKey, load_certificates};
use crate::trust::TrustStore;

mod signing_key;
mod stapled;
mod stapling;
pub use signing_key::TokenSigningKey;
pub use stapled::StapledOcspVerifier;
pub use stapling::StaplingResolver;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate or key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// rustls refused the configuration (e.g. an unsupported key).
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// The identity as rustls presents it: its chain and a signing key (in memory or on a token).
///
/// Errors: the provider refuses the key; the key is not the certificate's.
fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, TlsError> {
    let key = signing_key::signing_key(&identity.key, &provider())?;
    let certified = CertifiedKey::new(identity.chain.clone(), key);
    certified
        .keys_match()
        .map_err(|e| TlsError::Rustls(format!("{}: {e}", identity.key.describe())))?;
    Ok(Arc::new(certified))
}

/// The lowest TLS version to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key.
    pub key: Arc<PrivateKey>,
}

impl Identity {
    /// Loads a chain (PEM, leaf first) and opens its key on a PKCS#11 token, and checks that
    /// they belong together.
    pub fn load_with_token(
        cert: &Path,
        key: &crate::pkcs11::TokenKeyConfig,
    ) -> Result<Self, TlsError> {
        let chain = load_certificates(cert)?;
        let key = PrivateKey::from_token(key)?;
        key.check_matches(&chain[0])?;
        Ok(Self {
            chain,
            key: Arc::new(key),
        })
    }

    /// Loads a chain (PEM, leaf first) and its key, and checks that they belong together.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let chain = load_certificates(cert)?;
        let key = PrivateKey::from_file(key)?;
        key.check_matches(&chain[0])?;
        Ok(Self {
            chain,
            key: Arc::new(key),
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

static TLS12_AND_13: [&rustls::SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];
static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

fn versions(min: MinVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    match min {
        MinVersion::Tls12 => &TLS12_AND_13,
        MinVersion::Tls13 => &TLS13_ONLY,
    }
}

/// Whether a server asks for client certificates.
#[derive(Debug, Clone, Copy)]
pub enum ClientCertificates<'a> {
    /// Never asked for.
    None,
    /// Asked for; a client may present none, but one presented must chain to the store.
    Optional(&'a TrustStore),
    /// Required and must chain to the store.
    Required(&'a TrustStore),
}

/// The listener's configuration. Client certificates, when asked for, are verified against the
/// store's anchors and CRLs during the handshake.
pub fn server_config(
    identity: &Identity,
    clients: ClientCertificates<'_>,
    min: MinVersion,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_stapling(identity, clients, min).map(|(config, _)| config)
}

/// As [`server_config`], with the resolver through which an OCSP answer for the identity's
/// certificate can be stapled ([`StaplingResolver::staple`]).
pub fn server_config_stapling(
    identity: &Identity,
    clients: ClientCertificates<'_>,
    min: MinVersion,
) -> Result<(Arc<ServerConfig>, Arc<StaplingResolver>), TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(min))
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let verifier = |trust: &TrustStore| {
        let b =
            WebPkiClientVerifier::builder_with_provider(Arc::new(trust.root_store()), provider())
                .with_crls(trust.handshake_crls().iter().cloned());
        if trust.allows_stale_crls() {
            b
        } else {
            b.enforce_revocation_expiration()
        }
    };
    let builder = match clients {
        ClientCertificates::Optional(trust) => builder.with_client_cert_verifier(
            verifier(trust)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?,
        ),
        ClientCertificates::Required(trust) => builder.with_client_cert_verifier(
            verifier(trust)
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?,
        ),
        ClientCertificates::None => builder.with_no_client_auth(),
    };
    let resolver = Arc::new(StaplingResolver::new(certified_key(identity)?));
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), resolver))
}

/// An outbound client configuration trusting only `trust` (with its CRLs, or, when its policy
/// asks a responder, the server's stapled OCSP answer: [`StapledOcspVerifier`]), presenting
/// `identity` when the server asks for a client certificate.
pub fn client_config(
    trust: &Arc<TrustStore>,
    identity: Option<&Identity>,
    min: MinVersion,
) -> Result<ClientConfig, TlsError> {
    observed_client_config(trust, identity, min, None)
}

/// [`client_config`] whose stapled-OCSP decisions are reported to `observer` (the daemon's
/// metric and log line).
///
/// Errors: as [`client_config`].
pub fn observed_client_config(
    trust: &Arc<TrustStore>,
    identity: Option<&Identity>,
    min: MinVersion,
    observer: Option<crate::revocation::Observer>,
) -> Result<ClientConfig, TlsError> {
    let mut verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(trust.root_store()),
        provider(),
    )
    .with_crls(trust.handshake_crls().iter().cloned());
    if !trust.allows_stale_crls() {
        verifier = verifier.enforce_revocation_expiration();
    }
    let verifier = verifier
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(min))
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = if trust.revocation().policy.uses_ocsp() {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(StapledOcspVerifier::new(
                verifier,
                Arc::clone(trust),
                observer,
            )))
    } else {
        builder.with_webpki_verifier(verifier)
    };
    let mut config = match identity {
        Some(id) => {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key(id)?)))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
