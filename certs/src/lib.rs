//! Secrets, keys, certificates and signatures for Lienthong.
//!
//! Everything that touches key material lives here, so that the rest of the gateway never does:
//! [`secret`] holds credentials (portal passwords, client secrets, admin tokens) away from logs
//! and compares them in constant time; [`keys`] loads private keys from files and [`pkcs11`]
//! opens them on tokens and HSMs; [`tls`] builds rustls configurations over either; [`trust`]
//! holds trust stores and their CRLs, [`ocsp`] and [`revocation`] ask CAs' responders; [`xml`] and [`xmldsig`] parse, canonicalise, sign and
//! verify XML; [`httpsig`] and [`content_digest`] are RFC 9421 and RFC 9530; [`inspect`]
//! describes certificates for operators.

pub mod algorithm;
pub mod content_digest;
pub mod httpsig;
pub mod inspect;
pub mod keys;
pub mod ocsp;
pub mod pkcs11;
pub mod revocation;
pub mod revocation_policy;
pub mod secret;
#[cfg(any(test, feature = "testing"))]
pub mod testpki;
pub mod tls;
pub mod trust;
pub mod xml;
pub mod xmldsig;

pub use content_digest::{
    DigestAlgorithm, DigestError, content_digest, sha256_hex, verify_content_digest,
};
pub use secret::{Secret, SecretError, constant_time_eq};
