//! Algorithms and keys for HTTP message signatures (RFC 9421 §3.3).

use std::sync::Arc;

use aws_lc_rs::hmac;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::HttpSigError;
use crate::keys::{PrivateKey, SignatureAlgorithm, subject_public_key, verify_with_public_key};

/// The RFC 9421 algorithms Lienthong supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `rsa-v1_5-sha256`
    RsaV15Sha256,
    /// `rsa-pss-sha512`
    RsaPssSha512,
    /// `ecdsa-p256-sha256` (signature `r||s`, 64 bytes)
    EcdsaP256Sha256,
    /// `ed25519`
    Ed25519,
    /// `hmac-sha256`
    HmacSha256,
}

impl Algorithm {
    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaV15Sha256 => "rsa-v1_5-sha256",
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::Ed25519 => "ed25519",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    /// The algorithm for a registered name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::RsaV15Sha256,
            Self::RsaPssSha512,
            Self::EcdsaP256Sha256,
            Self::Ed25519,
            Self::HmacSha256,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    fn asymmetric(self) -> Option<SignatureAlgorithm> {
        Some(match self {
            Self::RsaV15Sha256 => SignatureAlgorithm::RsaPkcs1Sha256,
            Self::RsaPssSha512 => SignatureAlgorithm::RsaPssSha512,
            Self::EcdsaP256Sha256 => SignatureAlgorithm::EcdsaP256Sha256,
            Self::Ed25519 => SignatureAlgorithm::Ed25519,
            Self::HmacSha256 => return None,
        })
    }
}

/// A key to sign with.
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// A private key with the algorithm to use with it.
    Private {
        /// The key.
        key: Arc<PrivateKey>,
        /// The algorithm (must fit the key).
        algorithm: Algorithm,
    },
    /// A shared secret for `hmac-sha256`.
    Hmac(HmacSecret),
}

/// A shared HMAC secret; `Debug` never shows it.
#[derive(Clone)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    /// Wraps raw secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A secret given as base64 text (how shared secrets are usually exchanged).
    pub fn from_base64(text: &str) -> Result<Self, HttpSigError> {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim())
            .map(Self)
            .map_err(|e| HttpSigError::UnknownKey(format!("shared secret is not base64: {e}")))
    }
}

impl std::fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecret(redacted)")
    }
}

impl SigningKey {
    /// A private key with the algorithm that fits it: RSA → `rsa-pss-sha512` unless
    /// `prefer_pkcs1`, P-256 → `ecdsa-p256-sha256`, Ed25519 → `ed25519`.
    pub fn for_key(key: Arc<PrivateKey>, prefer_pkcs1: bool) -> Result<Self, HttpSigError> {
        let algorithm = match key.default_algorithm() {
            SignatureAlgorithm::RsaPkcs1Sha256 if prefer_pkcs1 => Algorithm::RsaV15Sha256,
            SignatureAlgorithm::RsaPkcs1Sha256 => Algorithm::RsaPssSha512,
            SignatureAlgorithm::EcdsaP256Sha256 => Algorithm::EcdsaP256Sha256,
            SignatureAlgorithm::Ed25519 => Algorithm::Ed25519,
            other => {
                return Err(HttpSigError::Signing(format!(
                    "no RFC 9421 algorithm for a {} key",
                    other.name()
                )));
            }
        };
        Ok(Self::Private { key, algorithm })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Private { algorithm, .. } => *algorithm,
            Self::Hmac(_) => Algorithm::HmacSha256,
        }
    }

    pub(crate) fn sign(&self, base: &[u8]) -> Result<Vec<u8>, HttpSigError> {
        match self {
            Self::Private { key, algorithm } => {
                let alg = algorithm
                    .asymmetric()
                    .ok_or_else(|| HttpSigError::Signing("HMAC needs a shared secret".into()))?;
                key.sign(alg, base).map_err(|e| {
                    if e.is_transient() {
                        HttpSigError::KeyUnavailable(e.to_string())
                    } else {
                        HttpSigError::Signing(e.to_string())
                    }
                })
            }
            Self::Hmac(secret) => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, &secret.0);
                Ok(hmac::sign(&key, base).as_ref().to_vec())
            }
        }
    }
}

/// A key to verify with.
#[derive(Debug, Clone)]
pub enum VerifyingKey {
    /// A public key in `subjectPublicKey` form with its algorithm.
    Public {
        /// `RSAPublicKey` DER, EC point or Ed25519 key.
        key: Vec<u8>,
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// A shared secret for `hmac-sha256`.
    Hmac(HmacSecret),
}

impl VerifyingKey {
    /// The public key of a certificate.
    pub fn from_certificate(
        cert: &CertificateDer<'_>,
        algorithm: Algorithm,
    ) -> Result<Self, HttpSigError> {
        let key = subject_public_key(cert).map_err(|e| HttpSigError::UnknownKey(e.to_string()))?;
        Ok(Self::Public { key, algorithm })
    }

    /// A public key from PEM: `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1).
    pub fn from_public_key_pem(pem: &str, algorithm: Algorithm) -> Result<Self, HttpSigError> {
        let bad = |e: String| HttpSigError::UnknownKey(format!("public key: {e}"));
        if pem.contains("BEGIN RSA PUBLIC KEY") {
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)
                .map_err(|e| bad(e.to_string()))?;
            return Ok(Self::Public {
                key: der,
                algorithm,
            });
        }
        let spki = rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| bad(e.to_string()))?;
        let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki.as_ref())
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self::Public {
            key: parsed.subject_public_key.data.to_vec(),
            algorithm,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Public { algorithm, .. } => *algorithm,
            Self::Hmac(_) => Algorithm::HmacSha256,
        }
    }

    pub(crate) fn verify(&self, base: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Public { key, algorithm } => match algorithm.asymmetric() {
                Some(alg) => verify_with_public_key(key, alg, base, signature),
                None => false,
            },
            Self::Hmac(secret) => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, &secret.0);
                hmac::verify(&key, base, signature).is_ok()
            }
        }
    }
}

use x509_parser::prelude::FromDer as _;
