//! Configuration of certificates, trust and signatures: `[server.tls]`,
//! `[[server.client_auth]]`, `[[server.signed_routes]]`, `[trust.<name>]`, `[signing]` and a
//! destination's `[destinations.<name>.tls]`.
//!
//! Only the shapes are here; loading the files (and so finding bad certificates, mismatched
//! keys and unknown trust store names) is `crate::trust::security::Security::build`, which
//! `check-config` runs too.

use std::path::PathBuf;
use std::time::Duration;

use lienthong_connectors::serde_duration;
use serde::Deserialize;

/// Lowest TLS version accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    #[serde(rename = "1.2")]
    V12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V13,
}

impl TlsVersion {
    /// As the certs crate names it.
    pub fn to_min(self) -> lienthong_certs::tls::MinVersion {
        match self {
            Self::V12 => lienthong_certs::tls::MinVersion::Tls12,
            Self::V13 => lienthong_certs::tls::MinVersion::Tls13,
        }
    }
}

/// `[server.tls]`: serve HTTPS on `server.listen`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// PEM certificate chain of the gateway, leaf first.
    pub cert: PathBuf,
    /// Its private key file (PEM or DER; mode 0600). One of `key`, `key_pkcs11`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Its private key on a PKCS#11 token or HSM (same form as `[signing] key_pkcs11`).
    #[serde(default)]
    pub key_pkcs11: Option<lienthong_certs::pkcs11::TokenKeyConfig>,
    /// Name of the `[trust.<name>]` store whose CAs may issue client certificates. Without it,
    /// clients cannot authenticate with certificates.
    #[serde(default)]
    pub client_trust: Option<String>,
    /// `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// Staple an OCSP answer about the gateway's certificate to its handshakes (default true;
    /// done when the certificate names a responder, or `ocsp_responder` is set, and the `cert`
    /// file holds the issuer after the leaf). Refreshed in the background.
    #[serde(default = "yes")]
    pub staple_ocsp: bool,
    /// The responder to ask for the stapled answer, instead of the one the certificate names.
    #[serde(default)]
    pub ocsp_responder: Option<String>,
}

/// `[[server.client_auth]]`: which client certificates may call the paths under a prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthRule {
    /// Path prefix, e.g. `/v1/callbacks/` or `/v1/exchange`. The longest matching prefix wins.
    pub path_prefix: String,
    /// A client certificate is required (default true); when false, one that is presented must
    /// still satisfy the lists below.
    #[serde(default = "yes")]
    pub required: bool,
    /// Accepted issuers: an issuer's distinguished name as `certs inspect` prints it, or its CN.
    /// Empty: any issuer of `server.tls.client_trust`.
    #[serde(default)]
    pub allowed_issuers: Vec<String>,
    /// Accepted subjects: the subject DN, its CN, or a subject alternative name (DNS name,
    /// e-mail, URI or IP). Empty: any subject.
    #[serde(default)]
    pub allowed_subjects: Vec<String>,
    /// X-Road: the certificate of this rule is the member's own Security Server, which relays
    /// requests of other X-Road members; the caller is then the `X-Road-Client` it names, and
    /// only these clients (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`) may call. Needs `required` and
    /// `allowed_subjects` (naming the Security Server). Outside such a rule the header means
    /// nothing and is dropped.
    #[serde(default)]
    pub xroad_clients: Vec<String>,
}

impl ClientAuthRule {
    /// Whether this rule is for requests relayed by an X-Road Security Server.
    pub fn relays_xroad(&self) -> bool {
        !self.xroad_clients.is_empty()
    }
}

fn yes() -> bool {
    true
}

/// `[[server.signed_routes]]`: requests under a prefix must carry a valid RFC 9421 signature
/// over `@method`, `@target-uri` and `content-digest`, by one of the listed keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRouteRule {
    /// Path prefix.
    pub path_prefix: String,
    /// The keys that may sign, by `keyid`.
    pub keys: Vec<InboundKeyConfig>,
    /// Oldest accepted `created` (default 5 minutes).
    #[serde(default = "default_max_age", with = "serde_duration")]
    pub max_age: Duration,
    /// Require a `nonce` (default true); nonces are accepted once within `max_age`.
    #[serde(default = "yes")]
    pub require_nonce: bool,
}

fn default_max_age() -> Duration {
    Duration::from_secs(300)
}

/// A key that may sign inbound requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundKeyConfig {
    /// The `keyid` the sender puts in its signature.
    pub keyid: String,
    /// RFC 9421 algorithm: `rsa-v1_5-sha256`, `rsa-pss-sha512`, `ecdsa-p256-sha256`, `ed25519`,
    /// `hmac-sha256`.
    pub algorithm: String,
    /// The sender's certificate (PEM).
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// Trust store the certificate must chain to (checked at load and reload).
    #[serde(default)]
    pub trust: Option<String>,
    /// The sender's public key (PEM, SPKI or PKCS#1), instead of a certificate.
    #[serde(default)]
    pub public_key: Option<PathBuf>,
    /// File holding a base64 shared secret, for `hmac-sha256`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// `[trust.<name>]`: a named trust store for a peer or destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustStoreConfig {
    /// PEM files of trust anchors.
    pub anchors: Vec<PathBuf>,
    /// PEM files of intermediate CAs.
    #[serde(default)]
    pub intermediates: Vec<PathBuf>,
    /// CRL files (PEM or DER), re-read on reload.
    #[serde(default)]
    pub crls: Vec<PathBuf>,
    /// Accept RSA-SHA1 / SHA-1 in XML signatures from peers using this store.
    #[serde(default)]
    pub allow_legacy: bool,
    /// Accept a CRL past its `nextUpdate` (default false: the certificates it covers are
    /// refused until a fresh CRL is installed and reloaded, and `/readyz`, the
    /// `lienthong_crl_next_update_seconds` metric and `certs check` report it).
    #[serde(default)]
    pub allow_stale_crl: bool,
    /// How the certificates this store vouches for are checked for revocation: `"crl"`
    /// (default: the `crls` files), `"ocsp"` (the CA's OCSP responder) or `"ocsp-then-crl"`
    /// (the responder; the `crls` files when it gives no usable answer).
    #[serde(default)]
    pub revocation: lienthong_certs::revocation::Policy,
    /// When OCSP cannot tell (the responder says `unknown`, cannot be reached in
    /// `ocsp_timeout`, or answers something not believed): `"deny"` (default) or `"allow"`.
    #[serde(default)]
    pub on_unknown: lienthong_certs::revocation::OnUnknown,
    /// The OCSP responder to ask (an `http://` or `https://` URL) instead of the one each
    /// certificate names in its Authority Information Access.
    #[serde(default)]
    pub ocsp_responder: Option<String>,
    /// Time limit of one exchange with the responder (default 5 s).
    #[serde(default = "ocsp_timeout", with = "serde_duration")]
    pub ocsp_timeout: Duration,
    /// Refuse OCSP answers that do not echo the request's nonce (default true). Set false for a
    /// responder that only serves pre-produced answers (RFC 5019).
    #[serde(default = "yes")]
    pub ocsp_require_nonce: bool,
}

fn ocsp_timeout() -> Duration {
    Duration::from_secs(5)
}

impl TrustStoreConfig {
    /// The store's revocation settings as the certs crate takes them.
    pub fn revocation(&self) -> lienthong_certs::revocation::Revocation {
        lienthong_certs::revocation::Revocation {
            policy: self.revocation,
            on_unknown: self.on_unknown,
            responder: self.ocsp_responder.clone(),
            timeout: self.ocsp_timeout,
            require_nonce: self.ocsp_require_nonce,
        }
    }
}

/// `[signing]`: the center's signing identity (XML-DSig and RFC 9421).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key file (one of `key`, `key_pkcs11`).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Its private key on a PKCS#11 token or HSM: `{ module, token_label | token_serial,
    /// key_label | key_id, pin_file }` (the PIN in its file, never here).
    #[serde(default)]
    pub key_pkcs11: Option<lienthong_certs::pkcs11::TokenKeyConfig>,
    /// `keyid` announced in HTTP signatures (default: the center's agency code).
    #[serde(default)]
    pub keyid: Option<String>,
    /// RFC 9421 algorithm; default by key type (`rsa-pss-sha512`, `ecdsa-p256-sha256`, `ed25519`).
    #[serde(default)]
    pub http_algorithm: Option<String>,
    /// XML-DSig algorithm: `rsa-sha256` (RSA default), `rsa-sha512`, `ecdsa-sha256` (EC default).
    #[serde(default)]
    pub xml_algorithm: Option<String>,
}

/// `[destinations.<name>.tls]`: the destination's own trust and client identity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationTlsConfig {
    /// Trust store for the destination's server certificate (instead of the system roots).
    #[serde(default)]
    pub trust: Option<String>,
    /// Client certificate chain for mutual TLS.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// Its key file (one of `client_key`, `client_key_pkcs11`).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Its key on a PKCS#11 token or HSM (same form as `[signing] key_pkcs11`).
    #[serde(default)]
    pub client_key_pkcs11: Option<lienthong_certs::pkcs11::TokenKeyConfig>,
    /// `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: TlsVersion,
}
