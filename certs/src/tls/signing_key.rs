//! The identity's private key as rustls signs with it during a handshake.
//!
//! A key held in memory goes to the crypto provider as DER, as before. A key on a PKCS#11 token
//! becomes a [`TokenSigningKey`]: rustls asks it which of the peer's offered schemes it can
//! make, and each handshake signature goes through the token (`CKM_SHA256_RSA_PKCS_PSS` for
//! TLS 1.3 RSA, `CKM_SHA256_RSA_PKCS` where a TLS 1.2 peer offers only that, host SHA-256 +
//! `CKM_ECDSA` for P-256, its `r || s` re-encoded as the DER TLS wants). rustls signs
//! synchronously, so a handshake waits for the token: a token answers in milliseconds, and a
//! token that fails makes that handshake fail with the token's reason (the next one tries again,
//! through a fresh session).

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::crypto::CryptoProvider;
use rustls::sign::{Signer, SigningKey};
use rustls_pki_types::SubjectPublicKeyInfoDer;

use super::TlsError;
use crate::keys::{PrivateKey, SignatureAlgorithm};
use crate::pkcs11::TokenKeyKind;

/// The rustls signing key for `key`: the provider's own for a key in memory, a
/// [`TokenSigningKey`] for a key on a token.
///
/// Errors: the provider refuses the key (an unsupported kind).
pub(super) fn signing_key(
    key: &Arc<PrivateKey>,
    provider: &CryptoProvider,
) -> Result<Arc<dyn SigningKey>, TlsError> {
    match (key.der(), key.token_kind()) {
        (Some(der), _) => provider
            .key_provider
            .load_private_key(der.clone_key())
            .map_err(|e| TlsError::Rustls(e.to_string())),
        (None, Some(kind)) => Ok(Arc::new(TokenSigningKey {
            key: Arc::clone(key),
            kind,
        })),
        (None, None) => Err(TlsError::Rustls(format!(
            "{}: neither in memory nor on a token",
            key.describe()
        ))),
    }
}

/// A TLS signing key whose private half stays on a PKCS#11 token.
#[derive(Debug)]
pub struct TokenSigningKey {
    key: Arc<PrivateKey>,
    kind: TokenKeyKind,
}

impl TokenSigningKey {
    /// The schemes this key can make, best first.
    fn schemes(&self) -> &'static [SignatureScheme] {
        match self.kind {
            TokenKeyKind::Rsa(_) => &[
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PKCS1_SHA256,
            ],
            TokenKeyKind::EcdsaP256 => &[SignatureScheme::ECDSA_NISTP256_SHA256],
        }
    }
}

impl SigningKey for TokenSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = self
            .schemes()
            .iter()
            .find(|s| offered.contains(s))
            .copied()?;
        Some(Box::new(TokenSigner {
            key: Arc::clone(&self.key),
            scheme,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        self.key
            .subject_public_key_info()
            .map(SubjectPublicKeyInfoDer::from)
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        match self.kind {
            TokenKeyKind::Rsa(_) => rustls::SignatureAlgorithm::RSA,
            TokenKeyKind::EcdsaP256 => rustls::SignatureAlgorithm::ECDSA,
        }
    }
}

/// One handshake signature with a chosen scheme.
#[derive(Debug)]
struct TokenSigner {
    key: Arc<PrivateKey>,
    scheme: SignatureScheme,
}

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let algorithm = match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => SignatureAlgorithm::RsaPssSha256,
            SignatureScheme::RSA_PKCS1_SHA256 => SignatureAlgorithm::RsaPkcs1Sha256,
            SignatureScheme::ECDSA_NISTP256_SHA256 => SignatureAlgorithm::EcdsaP256Sha256,
            other => {
                return Err(rustls::Error::General(format!(
                    "token keys do not sign {other:?}"
                )));
            }
        };
        let signature = self.key.sign(algorithm, message).map_err(|e| {
            tracing::warn!(key = %self.key.describe(), "TLS handshake signature failed: {e}");
            rustls::Error::General(format!("{}: {e}", self.key.describe()))
        })?;
        Ok(match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => ecdsa_der(&signature),
            _ => signature,
        })
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// `r || s` (each half the length) as DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`.
fn ecdsa_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    crate::pkcs11::der_sequence(&[
        &crate::pkcs11::der_integer(r),
        &crate::pkcs11::der_integer(s),
    ])
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
        UnparsedPublicKey,
    };

    use super::ecdsa_der;

    #[test]
    fn fixed_ecdsa_signatures_become_the_der_tls_verifies() {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("key");
        // Many signatures, so that halves with a high bit or leading zeros both occur.
        for i in 0..64u8 {
            let message = [i; 40];
            let fixed = pair.sign(&rng, &message).expect("sign");
            let der = ecdsa_der(fixed.as_ref());
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref())
                .verify(&message, &der)
                .expect("the DER form verifies");
        }
    }
}
