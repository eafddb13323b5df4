//! Secrets, keys, certificates and signatures for Lienthong.
//!
//! This crate starts small: [`secret`] holds credentials (portal passwords, client secrets,
//! admin tokens) so that they never reach logs, and compares them in constant time;
//! [`content_digest`] computes and checks RFC 9530 `Content-Digest` headers. Key and
//! certificate loading, trust stores, XML-DSig and HTTP message signatures come with the trust
//! issue and live here too, so that the rest of the gateway never handles key material directly.

pub mod content_digest;
pub mod httpsig;
pub mod inspect;
pub mod keys;
pub mod pkcs11;
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
