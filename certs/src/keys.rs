//! Private keys and certificate chains: loading (PEM or DER), signing, and verifying with a
//! certificate's public key.
//!
//! Keys are accepted as PKCS#8 (RSA 2048–4096, ECDSA P-256/P-384, Ed25519), PKCS#1 (RSA) and
//! SEC1 (EC). The key material lives only inside aws-lc-rs key objects and a [`PrivateKey`]'s
//! `Debug` shows the algorithm, never the bytes. A key file that the group or others can read
//! gets a warning ([`key_file_permission_warning`]): the gateway still starts, because
//! operators sometimes share a key with a backup agent's group on purpose, but it is logged.

use std::fmt;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a key or certificate could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are neither a PEM block of the expected kind nor DER.
    #[error("{what}: {reason}")]
    Malformed {
        /// What was being read (a path or "input").
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The key type or size is not one we sign with.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The key cannot make the requested kind of signature.
    #[error("a {key} key cannot sign with {algorithm}")]
    WrongAlgorithm {
        /// The key's kind.
        key: &'static str,
        /// The requested algorithm.
        algorithm: &'static str,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyCertMismatch,
    /// Signing failed inside the crypto library.
    #[error("signing failed")]
    SigningFailed,
    /// A key on a PKCS#11 token cannot be opened or failed to sign.
    #[error(transparent)]
    Token(#[from] crate::pkcs11::TokenError),
}

impl KeyError {
    /// True when the key is on a token that cannot be used just now ([`crate::pkcs11::TokenError::is_transient`]):
    /// a signature asked for later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Token(t) if t.is_transient())
    }
}

pub use crate::algorithm::SignatureAlgorithm;

enum KeyKind {
    Rsa(RsaKeyPair),
    EcdsaP256(EcdsaKeyPair),
    EcdsaP384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    /// On a PKCS#11 token ([`crate::pkcs11`]): the material never leaves it.
    Token(Box<crate::pkcs11::TokenKey>),
}

/// A private signing key, in memory (from a file) or on a PKCS#11 token. Cheap to share behind
/// an `Arc`; `Debug` never shows key material.
pub struct PrivateKey {
    kind: KeyKind,
    /// The DER form of a key held in memory; `None` for a token key.
    der: Option<PrivateKeyDer<'static>>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, redacted)", self.describe())
    }
}

impl PrivateKey {
    /// Reads a key file (PEM or DER). Logs a warning when the file is readable by group or others.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        if let Some(warning) = key_file_permission_warning(path) {
            tracing::warn!(path = %path.display(), "{warning}");
        }
        let bytes = read(path)?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses a key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`) or DER bytes.
    /// `what` names the source in error messages.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, KeyError> {
        if looks_like_pem(bytes) {
            if std::str::from_utf8(bytes)
                .map(|s| s.contains("ENCRYPTED PRIVATE KEY"))
                .unwrap_or(false)
            {
                return Err(KeyError::Unsupported(format!(
                    "{what}: encrypted PKCS#8 keys are not supported; decrypt it with `openssl pkcs8` and protect the file with permissions 0600"
                )));
            }
            let der = PrivateKeyDer::from_pem_slice(bytes).map_err(|e| KeyError::Malformed {
                what: what.to_string(),
                reason: format!("no usable private key PEM block ({e})"),
            })?;
            Self::from_der(der)
        } else {
            let der = PrivateKeyDer::try_from(bytes.to_vec()).map_err(|e| KeyError::Malformed {
                what: what.to_string(),
                reason: format!("not a PEM or DER private key ({e})"),
            })?;
            Self::from_der(der)
        }
    }

    /// Builds a key from parsed DER.
    pub fn from_der(der: PrivateKeyDer<'static>) -> Result<Self, KeyError> {
        let kind = match &der {
            PrivateKeyDer::Pkcs8(p) => parse_pkcs8(p.secret_pkcs8_der())?,
            PrivateKeyDer::Pkcs1(p) => KeyKind::Rsa(
                RsaKeyPair::from_der(p.secret_pkcs1_der())
                    .map_err(|e| KeyError::Unsupported(format!("RSA key rejected: {e}")))?,
            ),
            PrivateKeyDer::Sec1(p) => parse_sec1(p.secret_sec1_der())?,
            _ => return Err(KeyError::Unsupported("unknown private key format".into())),
        };
        if let KeyKind::Rsa(k) = &kind {
            let bits = k.public_modulus_len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(KeyError::Unsupported(format!(
                    "RSA-{bits}: keys must be 2048 to 4096 bits"
                )));
            }
        }
        Ok(Self {
            kind,
            der: Some(der),
        })
    }

    /// Opens a key on a PKCS#11 token.
    ///
    /// Errors: the module, token, PIN or key cannot be had, naming the key.
    pub fn from_token(config: &crate::pkcs11::TokenKeyConfig) -> Result<Self, KeyError> {
        Ok(Self {
            kind: KeyKind::Token(Box::new(crate::pkcs11::TokenKey::open(config)?)),
            der: None,
        })
    }

    /// What kind of key this is, e.g. "RSA-2048" or "ECDSA P-256".
    pub fn describe(&self) -> String {
        match &self.kind {
            KeyKind::Rsa(k) => format!("RSA-{}", k.public_modulus_len() * 8),
            KeyKind::EcdsaP256(_) => "ECDSA P-256".into(),
            KeyKind::EcdsaP384(_) => "ECDSA P-384".into(),
            KeyKind::Ed25519(_) => "Ed25519".into(),
            KeyKind::Token(t) => t.describe(),
        }
    }

    /// The algorithm this key signs with by default (SHA-256 family, or Ed25519).
    pub fn default_algorithm(&self) -> SignatureAlgorithm {
        match &self.kind {
            KeyKind::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
            KeyKind::EcdsaP256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            KeyKind::EcdsaP384(_) => SignatureAlgorithm::EcdsaP384Sha384,
            KeyKind::Ed25519(_) => SignatureAlgorithm::Ed25519,
            KeyKind::Token(t) => match t.kind() {
                crate::pkcs11::TokenKeyKind::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
                crate::pkcs11::TokenKeyKind::EcdsaP256 => SignatureAlgorithm::EcdsaP256Sha256,
            },
        }
    }

    /// The raw public key as it appears in a certificate's `subjectPublicKey` bit string.
    pub fn public_key_bytes(&self) -> &[u8] {
        match &self.kind {
            KeyKind::Rsa(k) => k.public_key().as_ref(),
            KeyKind::EcdsaP256(k) | KeyKind::EcdsaP384(k) => k.public_key().as_ref(),
            KeyKind::Ed25519(k) => k.public_key().as_ref(),
            KeyKind::Token(t) => t.public_key_bytes(),
        }
    }

    /// Why the key could not be used the last time it was tried, for a key on a token that
    /// was pulled out or failed; `None` when it works (always, for a key in memory).
    pub fn unavailable(&self) -> Option<String> {
        match &self.kind {
            KeyKind::Token(t) => t.unavailable(),
            _ => None,
        }
    }

    /// Checks that a key on a token can be used now (token present, logged in, key found),
    /// without signing; always `Ok` for a key in memory.
    ///
    /// Errors: the token's reason.
    pub fn check_available(&self) -> Result<(), KeyError> {
        match &self.kind {
            KeyKind::Token(t) => Ok(t.check()?),
            _ => Ok(()),
        }
    }

    /// The kind of key on the token; `None` for a key in memory.
    pub fn token_kind(&self) -> Option<crate::pkcs11::TokenKeyKind> {
        match &self.kind {
            KeyKind::Token(t) => Some(t.kind()),
            _ => None,
        }
    }

    /// The DER `SubjectPublicKeyInfo` of a key on a token (rustls checks it against the
    /// certificate); `None` for a key in memory, whose provider key knows its own.
    pub fn subject_public_key_info(&self) -> Option<Vec<u8>> {
        match &self.kind {
            KeyKind::Token(t) => Some(t.subject_public_key_info()),
            _ => None,
        }
    }

    /// The DER form, for handing to rustls; `None` for a key on a token. Never log it.
    pub fn der(&self) -> Option<&PrivateKeyDer<'static>> {
        self.der.as_ref()
    }

    /// Signs `message` with `algorithm`.
    ///
    /// Fails when the algorithm does not fit the key (an RSA algorithm with an EC key…) or when
    /// a legacy algorithm is asked for: Lienthong never signs with SHA-1.
    pub fn sign(&self, algorithm: SignatureAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        let mismatch = || KeyError::WrongAlgorithm {
            key: match &self.kind {
                KeyKind::Rsa(_) => "RSA",
                KeyKind::EcdsaP256(_) => "ECDSA P-256",
                KeyKind::EcdsaP384(_) => "ECDSA P-384",
                KeyKind::Ed25519(_) => "Ed25519",
                KeyKind::Token(_) => "token",
            },
            algorithm: algorithm.name(),
        };
        match (&self.kind, algorithm) {
            (KeyKind::Token(t), alg) => Ok(t.sign(alg, message)?),
            (KeyKind::Rsa(k), alg) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    SignatureAlgorithm::RsaPkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
                    SignatureAlgorithm::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
                    SignatureAlgorithm::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                    SignatureAlgorithm::RsaPssSha512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(mismatch()),
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut out)
                    .map_err(|_| KeyError::SigningFailed)?;
                Ok(out)
            }
            (KeyKind::EcdsaP256(k), SignatureAlgorithm::EcdsaP256Sha256)
            | (KeyKind::EcdsaP384(k), SignatureAlgorithm::EcdsaP384Sha384) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::SigningFailed),
            (KeyKind::Ed25519(k), SignatureAlgorithm::Ed25519) => {
                Ok(k.sign(message).as_ref().to_vec())
            }
            _ => Err(mismatch()),
        }
    }

    /// Checks that this key belongs to `certificate`.
    pub fn check_matches(&self, certificate: &CertificateDer<'_>) -> Result<(), KeyError> {
        let spki = subject_public_key(certificate)?;
        if spki == self.public_key_bytes() {
            Ok(())
        } else {
            Err(KeyError::KeyCertMismatch)
        }
    }
}

fn parse_pkcs8(der: &[u8]) -> Result<KeyKind, KeyError> {
    if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
        return Ok(KeyKind::Rsa(k));
    }
    if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(KeyKind::EcdsaP256(k));
    }
    if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der) {
        return Ok(KeyKind::EcdsaP384(k));
    }
    if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        return Ok(KeyKind::Ed25519(k));
    }
    Err(KeyError::Unsupported(
        "PKCS#8 key is not RSA, ECDSA P-256/P-384 or Ed25519".into(),
    ))
}

fn parse_sec1(der: &[u8]) -> Result<KeyKind, KeyError> {
    if let Ok(k) =
        EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
    {
        return Ok(KeyKind::EcdsaP256(k));
    }
    if let Ok(k) =
        EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der)
    {
        return Ok(KeyKind::EcdsaP384(k));
    }
    Err(KeyError::Unsupported(
        "SEC1 key is not on P-256 or P-384".into(),
    ))
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    head.windows(11).any(|w| w == b"-----BEGIN ")
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A warning when a private key file can be read by its group or by others (mode & 0o077),
/// `None` when its permissions are tight or cannot be read.
pub fn key_file_permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "private key file {} has mode {:o}: it is readable by group or others; use chmod 600",
            path.display(),
            mode & 0o777
        )
    })
}

/// Reads certificates (a chain, leaf first) from a PEM file with one or more `CERTIFICATE`
/// blocks, or a single DER certificate.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    let bytes = read(path)?;
    parse_certificates(&bytes, &path.display().to_string())
}

/// Parses certificates from PEM or DER bytes; `what` names the source in errors. Fails when
/// there is no certificate at all, or when a certificate does not parse as X.509.
pub fn parse_certificates(
    bytes: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    let certs: Vec<CertificateDer<'static>> = if looks_like_pem(bytes) {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| KeyError::Malformed {
                what: what.to_string(),
                reason: format!("bad PEM: {e}"),
            })?
    } else {
        vec![CertificateDer::from(bytes.to_vec())]
    };
    if certs.is_empty() {
        return Err(KeyError::Malformed {
            what: what.to_string(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    for c in &certs {
        x509_parser::parse_x509_certificate(c).map_err(|e| KeyError::Malformed {
            what: what.to_string(),
            reason: format!("not an X.509 certificate ({e})"),
        })?;
    }
    Ok(certs)
}

/// The `subjectPublicKey` bits of a certificate (PKCS#1 `RSAPublicKey`, an EC point, or an
/// Ed25519 key).
pub fn subject_public_key(certificate: &CertificateDer<'_>) -> Result<Vec<u8>, KeyError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(certificate).map_err(|e| KeyError::Malformed {
            what: "certificate".into(),
            reason: e.to_string(),
        })?;
    Ok(cert
        .tbs_certificate
        .subject_pki
        .subject_public_key
        .data
        .to_vec())
}

/// Verifies `sig` over `message` with the public key of `certificate`. `false` on any mismatch,
/// including an algorithm that does not fit the key.
pub fn verify_with_certificate(
    certificate: &CertificateDer<'_>,
    algorithm: SignatureAlgorithm,
    message: &[u8],
    sig: &[u8],
) -> bool {
    let Ok(public_key) = subject_public_key(certificate) else {
        return false;
    };
    verify_with_public_key(&public_key, algorithm, message, sig)
}

/// Verifies with a raw public key in `subjectPublicKey` form.
pub fn verify_with_public_key(
    public_key: &[u8],
    algorithm: SignatureAlgorithm,
    message: &[u8],
    sig: &[u8],
) -> bool {
    signature::UnparsedPublicKey::new(algorithm.verification(), public_key)
        .verify(message, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcgen_key(alg: &'static rcgen::SignatureAlgorithm) -> rcgen::KeyPair {
        rcgen::KeyPair::generate_for(alg).expect("generate")
    }

    #[test]
    fn loads_each_key_kind_and_matches_its_certificate() {
        for alg in [
            &rcgen::PKCS_RSA_SHA256,
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let kp = rcgen_key(alg);
            let cert = rcgen::CertificateParams::new(vec!["a.example".into()])
                .unwrap()
                .self_signed(&kp)
                .unwrap();
            let key = PrivateKey::from_bytes(kp.serialize_pem().as_bytes(), "test").unwrap();
            key.check_matches(cert.der()).unwrap();
            let der_key = PrivateKey::from_bytes(&kp.serialize_der(), "test").unwrap();
            assert_eq!(der_key.public_key_bytes(), key.public_key_bytes());
            // Sign and verify with the certificate.
            let sig = key.sign(key.default_algorithm(), b"ho so").unwrap();
            assert!(verify_with_certificate(
                cert.der(),
                key.default_algorithm(),
                b"ho so",
                &sig
            ));
            assert!(!verify_with_certificate(
                cert.der(),
                key.default_algorithm(),
                b"ho sO",
                &sig
            ));
            assert!(!format!("{key:?}").contains("BEGIN"));
        }
    }

    #[test]
    fn pkcs1_and_sec1_keys_load() {
        // Files as `openssl genrsa -traditional` and `openssl ecparam -genkey` write them.
        let dir = tempfile::tempdir().unwrap();
        let rsa = dir.path().join("rsa.pem");
        let ec = dir.path().join("ec.pem");
        let run = |args: &[&str]| {
            let st = std::process::Command::new("openssl")
                .args(args)
                .status()
                .unwrap();
            assert!(st.success(), "openssl {args:?}");
        };
        run(&[
            "genrsa",
            "-traditional",
            "-out",
            rsa.to_str().unwrap(),
            "3072",
        ]);
        run(&[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            ec.to_str().unwrap(),
        ]);
        assert!(
            std::fs::read_to_string(&rsa)
                .unwrap()
                .contains("BEGIN RSA PRIVATE KEY")
        );
        assert!(
            std::fs::read_to_string(&ec)
                .unwrap()
                .contains("BEGIN EC PRIVATE KEY")
        );
        assert_eq!(PrivateKey::from_file(&rsa).unwrap().describe(), "RSA-3072");
        assert_eq!(
            PrivateKey::from_file(&ec).unwrap().describe(),
            "ECDSA P-256"
        );
    }

    #[test]
    fn mismatched_key_and_algorithm_are_refused() {
        let kp = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let other = rcgen_key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&other)
            .unwrap();
        let key = PrivateKey::from_bytes(kp.serialize_pem().as_bytes(), "k").unwrap();
        assert!(matches!(
            key.check_matches(cert.der()),
            Err(KeyError::KeyCertMismatch)
        ));
        assert!(matches!(
            key.sign(SignatureAlgorithm::RsaPkcs1Sha256, b"x"),
            Err(KeyError::WrongAlgorithm { .. })
        ));
        assert!(PrivateKey::from_bytes(b"garbage", "k").is_err());
        let enc =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = PrivateKey::from_bytes(enc, "k").unwrap_err().to_string();
        assert!(err.contains("encrypted"), "{err}");
    }

    #[test]
    fn loose_key_file_permissions_warn() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(key_file_permission_warning(&path).unwrap().contains("644"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(key_file_permission_warning(&path).is_none());
    }
}
