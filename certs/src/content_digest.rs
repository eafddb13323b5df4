//! RFC 9530 `Content-Digest`: the digest of an HTTP message's content, which RFC 9421 message
//! signatures then cover (so a signature protects the body, not only the headers).
//!
//! The header is a Structured Field dictionary of byte sequences, e.g.
//! `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`. Only `sha-256` and `sha-512` are
//! produced or accepted (RFC 9530 §5 marks `md5`, `sha` and the CRC/ADLER ones insecure);
//! unknown algorithms are ignored, as the RFC asks, but at least one known one must be present.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::constant_time_eq;

/// A digest algorithm of the RFC 9530 registry that Lienthong uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

impl DigestAlgorithm {
    /// The registry key.
    pub const fn key(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha512 => "sha-512",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "sha-256" => Some(Self::Sha256),
            "sha-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn digest(self, content: &[u8]) -> digest::Digest {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, content)
    }
}

/// Why a `Content-Digest` header does not vouch for a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header is not a dictionary of byte sequences.
    #[error("malformed Content-Digest: {0}")]
    Malformed(String),
    /// No supported algorithm is present.
    #[error("Content-Digest has no sha-256 or sha-512 member")]
    NoSupportedAlgorithm,
    /// A supported digest does not match the content.
    #[error("Content-Digest {0} does not match the content")]
    Mismatch(&'static str),
}

/// The SHA-256 of `bytes` in lowercase hex (how dossiers, files and stored documents are
/// fingerprinted).
pub fn sha256_hex(bytes: &[u8]) -> String {
    DigestAlgorithm::Sha256
        .digest(bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Content-Digest` header value for `content`.
pub fn content_digest(content: &[u8], algorithm: DigestAlgorithm) -> String {
    format!(
        "{}=:{}:",
        algorithm.key(),
        STANDARD.encode(algorithm.digest(content).as_ref())
    )
}

/// Checks a `Content-Digest` header against `content`; every supported member must match.
/// Returns the strongest algorithm that matched.
///
/// Errors: a malformed header, no supported member, or a mismatch.
pub fn verify_content_digest(header: &str, content: &[u8]) -> Result<DigestAlgorithm, DigestError> {
    let mut best = None;
    for member in header.split(',') {
        let member = member.trim();
        let (key, value) = member
            .split_once('=')
            .ok_or_else(|| DigestError::Malformed(format!("member `{member}` has no value")))?;
        // Parameters (`;…`) are allowed by Structured Fields and carry nothing here.
        let value = value.split(';').next().unwrap_or_default();
        let Some(algorithm) = DigestAlgorithm::from_key(key.trim()) else {
            continue;
        };
        let b64 = value
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .ok_or_else(|| DigestError::Malformed(format!("`{key}` is not a byte sequence")))?;
        let expected = STANDARD
            .decode(b64)
            .map_err(|e| DigestError::Malformed(format!("`{key}`: {e}")))?;
        if !constant_time_eq(&expected, algorithm.digest(content).as_ref()) {
            return Err(DigestError::Mismatch(algorithm.key()));
        }
        if best != Some(DigestAlgorithm::Sha512) {
            best = Some(algorithm);
        }
    }
    best.ok_or(DigestError::NoSupportedAlgorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9530 §2, the `{"hello": "world"}` example.
    const BODY: &[u8] = br#"{"hello": "world"}"#;
    const SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
    const SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    #[test]
    fn rfc_9530_examples() {
        assert_eq!(content_digest(BODY, DigestAlgorithm::Sha256), SHA256);
        assert_eq!(content_digest(BODY, DigestAlgorithm::Sha512), SHA512);
    }

    #[test]
    fn verifies_single_and_multiple_members() {
        assert_eq!(
            verify_content_digest(SHA256, BODY),
            Ok(DigestAlgorithm::Sha256)
        );
        let both = format!("{SHA256}, {SHA512}");
        assert_eq!(
            verify_content_digest(&both, BODY),
            Ok(DigestAlgorithm::Sha512)
        );
        let with_unknown = format!("md5=:AAAA:, {SHA256}");
        assert_eq!(
            verify_content_digest(&with_unknown, BODY),
            Ok(DigestAlgorithm::Sha256)
        );
    }

    #[test]
    fn every_one_byte_change_of_the_body_is_caught() {
        let h = content_digest(BODY, DigestAlgorithm::Sha256);
        for i in 0..BODY.len() {
            let mut b = BODY.to_vec();
            b[i] ^= 0x01;
            assert_eq!(
                verify_content_digest(&h, &b),
                Err(DigestError::Mismatch("sha-256")),
                "byte {i}"
            );
        }
        let both = format!("{SHA256}, sha-512=:{}:", STANDARD.encode([0u8; 64]));
        assert_eq!(
            verify_content_digest(&both, BODY),
            Err(DigestError::Mismatch("sha-512"))
        );
    }

    #[test]
    fn malformed_or_unsupported_headers() {
        assert_eq!(
            verify_content_digest("md5=:AAAA:", BODY),
            Err(DigestError::NoSupportedAlgorithm)
        );
        assert!(matches!(
            verify_content_digest("sha-256", BODY),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            verify_content_digest("sha-256=abc", BODY),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            verify_content_digest("sha-256=:!!!:", BODY),
            Err(DigestError::Malformed(_))
        ));
    }
}
