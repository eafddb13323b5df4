//! Signature algorithms: the ones Lienthong signs and verifies with ([`SignatureAlgorithm`]),
//! and the ones accepted in certificate chains and OCSP answers. A leaf: keys, tokens, trust
//! and OCSP all name algorithms here, so none of them needs another for that.

use aws_lc_rs::signature;

/// Signature algorithms Lienthong signs and verifies with. SHA-1 is verify-only and only where a
/// peer's trust profile allows legacy algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PKCS1-v1_5 with SHA-1 (legacy, verify only).
    RsaPkcs1Sha1,
    /// RSASSA-PSS with SHA-256 (salt 32 bytes, MGF1-SHA-256), as TLS 1.3 `rsa_pss_rsae_sha256`.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-512 (salt 64 bytes, MGF1-SHA-512), as RFC 9421 `rsa-pss-sha512`.
    RsaPssSha512,
    /// ECDSA P-256 with SHA-256, signature as fixed-width `r||s` (XML-DSig and RFC 9421 form).
    EcdsaP256Sha256,
    /// ECDSA P-384 with SHA-384, fixed-width `r||s`.
    EcdsaP384Sha384,
    /// Ed25519.
    Ed25519,
}

impl SignatureAlgorithm {
    /// A short name for messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1Sha256 => "rsa-sha256",
            Self::RsaPkcs1Sha512 => "rsa-sha512",
            Self::RsaPkcs1Sha1 => "rsa-sha1",
            Self::RsaPssSha256 => "rsa-pss-sha256",
            Self::RsaPssSha512 => "rsa-pss-sha512",
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::Ed25519 => "ed25519",
        }
    }

    /// True for algorithms only accepted from peers configured with `allow_legacy`.
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::RsaPkcs1Sha1)
    }

    pub(crate) fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            Self::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RsaPkcs1Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::RsaPkcs1Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Self::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
            Self::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::Ed25519 => &signature::ED25519,
        }
    }
}

/// The signature algorithms accepted in certificate chains (aws-lc-rs, as rustls uses).
pub(crate) fn verification_algorithms()
-> &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm] {
    static PROVIDER: std::sync::OnceLock<rustls::crypto::CryptoProvider> =
        std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(rustls::crypto::aws_lc_rs::default_provider)
        .signature_verification_algorithms
        .all
}
