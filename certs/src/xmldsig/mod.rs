//! XML-DSig (W3C XML Signature 1.1) enveloped signatures: [`sign`] and [`verify`].
//!
//! Signing produces the Lienthong profile: one `Reference` (the whole document, `URI=""`, or one
//! element by its `Id`), transforms enveloped-signature + exclusive C14N, SHA-256 or SHA-512
//! digest, RSA-SHA256/RSA-SHA512/ECDSA-SHA256, and `KeyInfo/X509Data` carrying the signing
//! certificate (and chain). The `SignedInfo` is written in its exclusive-canonical form, so the
//! bytes signed are exactly the bytes embedded; the signature is spliced into the original text,
//! leaving everything else byte-for-byte as it was.
//!
//! Verification accepts what other implementations (xmlsec1, .NET, Java) produce for that
//! shape, plus inclusive C14N and — only for trust stores that allow legacy — RSA-SHA1 and SHA-1
//! digests. It is deliberately narrow: exactly one `Signature`, exactly one `Reference`, URIs
//! `""` or `#id` only, no transforms but enveloped-signature and C14N, unique IDs, and the
//! referenced element must be the one the caller asked about (the defence against signature
//! wrapping). The signing certificate is validated against the caller's trust store.
//!
//! The enveloped transform leaves the whole `Signature` out of the digest, so nothing in it is
//! signed: the verifier accepts there only the XML-DSig grammar (`SignedInfo`, `SignatureValue`,
//! `KeyInfo` in that order; no `Object`, no element of another namespace, no text outside the
//! value elements), and [`Verified::covers`] and [`Verified::signature`] let a reader take data
//! only from signed nodes and check where the signature sits in its profile.

mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use sign::{Placement, SignOptions, SignedPart, Signer, sign};
pub use verify::{Expected, Verified, VerifyPolicy, verify, verify_parsed};

use crate::keys::{KeyError, SignatureAlgorithm};
use crate::trust::TrustError;
use crate::xml::XmlError;

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The exclusive C14N namespace (for `InclusiveNamespaces`).
pub const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform.
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Why signing or verification failed.
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    /// The document is not acceptable XML.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The signature's structure is not the one we accept (names the element or attribute).
    #[error("signature structure: {0}")]
    Structure(String),
    /// An algorithm we do not accept (or a legacy one the trust profile does not allow).
    #[error("algorithm not accepted: {0}")]
    Algorithm(String),
    /// The reference does not point where the caller expects, or cannot be resolved uniquely.
    #[error("reference: {0}")]
    Reference(String),
    /// The digest of the referenced content does not match: the content was changed.
    #[error("digest mismatch: the signed content was changed")]
    DigestMismatch,
    /// The signature value does not verify with the certificate in `KeyInfo`.
    #[error("signature value does not verify")]
    BadSignature,
    /// The signing certificate is not trusted.
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    /// A key problem while signing.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl DsigError {
    /// True when signing failed because the key is on a token that cannot be used just now;
    /// the same document signed later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Key(k) if k.is_transient())
    }
}

/// Signature algorithms, as XML-DSig names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlSignatureAlgorithm {
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha256`
    RsaSha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha512`
    RsaSha512,
    /// `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256` (value is raw `r||s`)
    EcdsaSha256,
    /// `http://www.w3.org/2000/09/xmldsig#rsa-sha1` (verify only, legacy)
    RsaSha1,
}

impl XmlSignatureAlgorithm {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            Self::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            Self::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }

    /// The algorithm for a URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        [
            Self::RsaSha256,
            Self::RsaSha512,
            Self::EcdsaSha256,
            Self::RsaSha1,
        ]
        .into_iter()
        .find(|a| a.uri() == uri)
    }

    /// Parses a CLI name: `rsa-sha256`, `rsa-sha512`, `ecdsa-sha256`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rsa-sha256" => Some(Self::RsaSha256),
            "rsa-sha512" => Some(Self::RsaSha512),
            "ecdsa-sha256" => Some(Self::EcdsaSha256),
            _ => None,
        }
    }

    fn key_algorithm(self) -> SignatureAlgorithm {
        match self {
            Self::RsaSha256 => SignatureAlgorithm::RsaPkcs1Sha256,
            Self::RsaSha512 => SignatureAlgorithm::RsaPkcs1Sha512,
            Self::EcdsaSha256 => SignatureAlgorithm::EcdsaP256Sha256,
            Self::RsaSha1 => SignatureAlgorithm::RsaPkcs1Sha1,
        }
    }
}

/// Digest algorithms for references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestMethod {
    /// `http://www.w3.org/2001/04/xmlenc#sha256`
    Sha256,
    /// `http://www.w3.org/2001/04/xmlenc#sha512`
    Sha512,
    /// `http://www.w3.org/2000/09/xmldsig#sha1` (verify only, legacy)
    Sha1,
}

impl DigestMethod {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            Self::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
            Self::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        }
    }

    fn from_uri(uri: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha512, Self::Sha1]
            .into_iter()
            .find(|d| d.uri() == uri)
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// Attribute names treated as element IDs for `URI="#…"` references (no namespace), besides
/// `xml:id`.
pub(crate) const ID_ATTRIBUTES: [&str; 3] = ["Id", "ID", "id"];
