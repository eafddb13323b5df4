//! Signing keys on a PKCS#11 token or HSM (khóa ký trên USB token / HSM): the agency's
//! public-duty signing key (chữ ký số chuyên dùng công vụ) usually never leaves its token.
//!
//! A [`TokenKeyConfig`] names the module (the vendor's `.so`, configuration not code), the token
//! (label or serial), the key (label or id) and a file holding the user PIN. [`TokenKey::open`]
//! loads the module once per process, logs in and finds the private key and its public half;
//! [`TokenKey::sign`] signs through the token. Sessions are pooled (a `cryptoki` session is not
//! `Sync`); a session that fails is dropped and a new one opened on the next call, so a token
//! pulled out and put back recovers without a restart. ECDSA is hashed on the host and signed
//! with `CKM_ECDSA` (SoftHSM 2.6 and many tokens lack `CKM_ECDSA_SHA256`); the result is the
//! raw `r || s` XML-DSig and RFC 9421 use.
//!
//! Uses `cryptoki` (Parsec project), not the unsound `pkcs11` crate (RUSTSEC-2022-0034).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::Deserialize;

use crate::algorithm::SignatureAlgorithm;

pub mod inventory;
#[cfg(any(test, feature = "testing"))]
pub mod keygen;
pub mod module;

use module::Module;

/// Where a key on a token is (`[signing] key_pkcs11 = { … }` and the like).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyConfig {
    /// The PKCS#11 module (the token vendor's library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label (one of `token_label`, `token_serial`).
    #[serde(default)]
    pub token_label: Option<String>,
    /// The token's serial number.
    #[serde(default)]
    pub token_serial: Option<String>,
    /// The key's label (`CKA_LABEL`; one of `key_label`, `key_id`).
    #[serde(default)]
    pub key_label: Option<String>,
    /// The key's id (`CKA_ID`) in hex.
    #[serde(default)]
    pub key_id: Option<String>,
    /// File holding the user PIN (never the PIN itself in the configuration).
    pub pin_file: PathBuf,
}

impl TokenKeyConfig {
    /// A short description for logs and errors (no PIN).
    pub fn describe(&self) -> String {
        format!(
            "pkcs11:{} token {} key {}",
            self.module.display(),
            self.token_label
                .as_deref()
                .or(self.token_serial.as_deref())
                .unwrap_or("?"),
            self.key_label
                .as_deref()
                .or(self.key_id.as_deref())
                .unwrap_or("?")
        )
    }
}

/// Why a token key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The configuration is incomplete or the PIN file unreadable.
    #[error("{0}")]
    Config(String),
    /// The module could not be loaded or initialised.
    #[error("PKCS#11 module {module}: {reason}")]
    Module {
        /// The module path.
        module: String,
        /// Why.
        reason: String,
    },
    /// No token with that label or serial is present (removed?).
    #[error("token {0} is not present")]
    NoToken(String),
    /// The PIN was refused.
    #[error("{0}: the PIN was refused")]
    Pin(String),
    /// The key was not found, or is of a kind Lienthong does not sign with.
    #[error("{0}")]
    Key(String),
    /// The key cannot make the signature asked for (an RSA algorithm with an EC key…).
    #[error("{0}")]
    Unsupported(String),
    /// The token failed while signing (the caller retries later).
    #[error("{key}: signing failed on the token: {reason}")]
    Signing {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl TokenError {
    /// True for a failure of a key that was opened before and may work again without a change
    /// of configuration: the token pulled out, the module or the token failing, the PIN or the
    /// key gone for now. A message that needs the key waits (retries) instead of being refused.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Config(_) | Self::Unsupported(_))
    }
}

/// What kind of key is on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKeyKind {
    /// RSA with its modulus size in bits.
    Rsa(usize),
    /// ECDSA on P-256.
    EcdsaP256,
}

/// A private key on a token: signs through it, never sees the key material.
pub struct TokenKey {
    config: TokenKeyConfig,
    module: Arc<Module>,
    pin: String,
    kind: TokenKeyKind,
    public_key: Vec<u8>,
    /// Open, logged-in sessions with the module generation they belong to.
    sessions: Mutex<Vec<(u64, Session)>>,
    /// Why the last use of the token failed; `None` once it works again.
    failure: Mutex<Option<String>>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("key", &self.config.describe())
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// Loads the module, finds the token and the key, logs in and reads the public key.
    ///
    /// Errors: the module, token, PIN or key problem, naming the key.
    pub fn open(config: &TokenKeyConfig) -> Result<Self, TokenError> {
        if config.token_label.is_none() && config.token_serial.is_none() {
            return Err(TokenError::Config(format!(
                "{}: give token_label or token_serial",
                config.describe()
            )));
        }
        if config.key_label.is_none() && config.key_id.is_none() {
            return Err(TokenError::Config(format!(
                "{}: give key_label or key_id",
                config.describe()
            )));
        }
        if let Some(id) = &config.key_id
            && hex::decode(id).is_err()
        {
            return Err(TokenError::Config(format!(
                "{}: key_id must be hex",
                config.describe()
            )));
        }
        let pin = std::fs::read_to_string(&config.pin_file)
            .map_err(|e| {
                TokenError::Config(format!("pin_file {}: {e}", config.pin_file.display()))
            })?
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        let module = module::module(&config.module)?;
        let mut key = Self {
            config: config.clone(),
            module,
            pin,
            kind: TokenKeyKind::EcdsaP256,
            public_key: Vec::new(),
            sessions: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        };
        let (kind, public_key) = key.with_session(|session| key.inspect(session))?;
        key.kind = kind;
        key.public_key = public_key;
        Ok(key)
    }

    /// The key's kind.
    pub fn kind(&self) -> TokenKeyKind {
        self.kind
    }

    /// The public key as in a certificate's `subjectPublicKey` (PKCS#1 `RSAPublicKey` DER, or
    /// the uncompressed EC point).
    pub fn public_key_bytes(&self) -> &[u8] {
        &self.public_key
    }

    /// The DER `SubjectPublicKeyInfo` of the key (to issue or check its certificate).
    pub fn subject_public_key_info(&self) -> Vec<u8> {
        // AlgorithmIdentifier: rsaEncryption with NULL, or id-ecPublicKey with prime256v1.
        let algorithm: &[u8] = match self.kind {
            TokenKeyKind::Rsa(_) => &[
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
                0x00,
            ],
            TokenKeyKind::EcdsaP256 => &[
                0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
                0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ],
        };
        let mut bits = vec![0x03];
        bits.extend(der_length(self.public_key.len() + 1));
        bits.push(0);
        bits.extend(&self.public_key);
        der_sequence(&[algorithm, &bits])
    }

    /// A description, e.g. `ECDSA P-256 on pkcs11:… token gw key signer`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            TokenKeyKind::Rsa(bits) => format!("RSA-{bits}"),
            TokenKeyKind::EcdsaP256 => "ECDSA P-256".into(),
        };
        format!("{kind} on {}", self.config.describe())
    }

    fn slot(&self, context: &Pkcs11) -> Result<Slot, TokenError> {
        let slots = context
            .get_slots_with_token()
            .map_err(|e| TokenError::Module {
                module: self.config.module.display().to_string(),
                reason: e.to_string(),
            })?;
        for slot in slots {
            let Ok(info) = context.get_token_info(slot) else {
                continue;
            };
            let label_ok = self
                .config
                .token_label
                .as_deref()
                .is_none_or(|l| info.label().trim_end() == l);
            let serial_ok = self
                .config
                .token_serial
                .as_deref()
                .is_none_or(|s| info.serial_number().trim_end() == s);
            if label_ok && serial_ok {
                return Ok(slot);
            }
        }
        Err(TokenError::NoToken(self.config.describe()))
    }

    fn open_session(&self, context: &Pkcs11) -> Result<Session, TokenError> {
        let slot = self.slot(context)?;
        let session = context
            .open_ro_session(slot)
            .map_err(|e| TokenError::Module {
                module: self.config.module.display().to_string(),
                reason: e.to_string(),
            })?;
        let pin = AuthPin::new(self.pin.clone().into());
        match session.login(UserType::User, Some(&pin)) {
            // Another session of the application already logged the token in.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            )) => Err(TokenError::Pin(self.config.describe())),
            Err(e) => Err(TokenError::Module {
                module: self.config.module.display().to_string(),
                reason: format!("login: {e}"),
            }),
        }
    }

    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut t = vec![Attribute::Class(class)];
        if let Some(l) = &self.config.key_label {
            t.push(Attribute::Label(l.as_bytes().to_vec()));
        }
        if let Some(id) = self
            .config
            .key_id
            .as_deref()
            .and_then(|i| hex::decode(i).ok())
        {
            t.push(Attribute::Id(id));
        }
        t
    }

    fn find(&self, session: &Session, class: ObjectClass) -> Result<ObjectHandle, TokenError> {
        let found = session
            .find_objects(&self.template(class))
            .map_err(|e| TokenError::Key(format!("{}: {e}", self.config.describe())))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(TokenError::Key(format!(
                "{}: no such {} on the token",
                self.config.describe(),
                if class == ObjectClass::PRIVATE_KEY {
                    "private key"
                } else {
                    "public key"
                }
            ))),
            _ => Err(TokenError::Key(format!(
                "{}: several keys match; name it by key_id",
                self.config.describe()
            ))),
        }
    }

    /// The key's kind and public key, from its public half on the token.
    fn inspect(&self, session: &Session) -> Result<(TokenKeyKind, Vec<u8>), TokenError> {
        let private = self.find(session, ObjectClass::PRIVATE_KEY)?;
        let public = self.find(session, ObjectClass::PUBLIC_KEY)?;
        let bad = |what: String| TokenError::Key(format!("{}: {what}", self.config.describe()));
        let attrs = session
            .get_attributes(private, &[AttributeType::KeyType])
            .map_err(|e| bad(e.to_string()))?;
        let key_type = attrs.iter().find_map(|a| match a {
            Attribute::KeyType(k) => Some(*k),
            _ => None,
        });
        match key_type {
            Some(KeyType::RSA) => {
                let attrs = session
                    .get_attributes(
                        public,
                        &[AttributeType::Modulus, AttributeType::PublicExponent],
                    )
                    .map_err(|e| bad(e.to_string()))?;
                let mut n = None;
                let mut e = None;
                for a in attrs {
                    match a {
                        Attribute::Modulus(m) => n = Some(m),
                        Attribute::PublicExponent(x) => e = Some(x),
                        _ => {}
                    }
                }
                let (Some(n), Some(e)) = (n, e) else {
                    return Err(bad("the public key has no modulus or exponent".into()));
                };
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if !(2048..=4096).contains(&bits) {
                    return Err(bad(format!("RSA-{bits}: keys must be 2048 to 4096 bits")));
                }
                Ok((TokenKeyKind::Rsa(bits), rsa_public_key_der(&n, &e)))
            }
            Some(KeyType::EC) => {
                let attrs = session
                    .get_attributes(public, &[AttributeType::EcPoint])
                    .map_err(|e| bad(e.to_string()))?;
                let point = attrs
                    .into_iter()
                    .find_map(|a| match a {
                        Attribute::EcPoint(p) => Some(p),
                        _ => None,
                    })
                    .ok_or_else(|| bad("the public key has no EC point".into()))?;
                // CKA_EC_POINT is a DER OCTET STRING around the point (some tokens give it bare).
                let raw = match point.as_slice() {
                    [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => rest.to_vec(),
                    _ => point,
                };
                if raw.len() != 65 || raw[0] != 0x04 {
                    return Err(bad("only P-256 EC keys are supported on tokens".into()));
                }
                Ok((TokenKeyKind::EcdsaP256, raw))
            }
            _ => Err(bad("the key is neither RSA nor EC".into())),
        }
    }

    /// Signs `message` with `algorithm` on the token.
    ///
    /// Errors: the algorithm does not fit the key; the token is absent or fails (its session is
    /// dropped, so the next call opens a new one).
    pub fn sign(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        let (mechanism, data) = self.mechanism(algorithm, message)?;
        let signed = self.with_session(|session| {
            let key = self.find(session, ObjectClass::PRIVATE_KEY)?;
            session
                .sign(&mechanism, key, &data)
                .map_err(|e| TokenError::Signing {
                    key: self.config.describe(),
                    reason: e.to_string(),
                })
        });
        self.record(signed.as_ref().err());
        signed
    }

    /// Checks that the token is there and the key usable (a session, a login, the key found),
    /// without signing; records the outcome for [`TokenKey::unavailable`].
    ///
    /// Errors: as [`TokenKey::sign`].
    pub fn check(&self) -> Result<(), TokenError> {
        let checked = self.with_session(|session| {
            session
                .get_session_info()
                .map_err(|e| TokenError::Signing {
                    key: self.config.describe(),
                    reason: e.to_string(),
                })?;
            self.find(session, ObjectClass::PRIVATE_KEY).map(drop)
        });
        self.record(checked.as_ref().err());
        checked
    }

    /// Why the key could not be used the last time it was tried (signing or
    /// [`TokenKey::check`]); `None` when it worked.
    pub fn unavailable(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, error: Option<&TokenError>) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match (error, failure.is_some()) {
            (Some(e), _) => {
                if failure.is_none() {
                    tracing::error!(key = %self.config.describe(), "signing key unavailable: {e}");
                }
                *failure = Some(e.to_string());
            }
            (None, true) => {
                tracing::info!(key = %self.config.describe(), "signing key available again");
                *failure = None;
            }
            (None, false) => {}
        }
    }

    /// Runs `op` on a session of the token. A pooled session is tried first; when it fails
    /// (the token may have been pulled out and put back since it was opened) it is closed and
    /// `op` runs once more on a new session. When the token cannot be found, the module is
    /// restarted (see [`module`]) and the whole tried once more.
    fn with_session<T>(
        &self,
        op: impl Fn(&Session) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        match self.try_with_session(&op) {
            Err((TokenError::NoToken(what), generation)) => {
                if self.module.restart(generation)? {
                    self.try_with_session(&op).map_err(|(e, _)| e)
                } else {
                    Err(TokenError::NoToken(what))
                }
            }
            done => done.map_err(|(e, _)| e),
        }
    }

    /// [`TokenKey::with_session`] without the restart; the error comes with the generation it
    /// happened in.
    fn try_with_session<T>(
        &self,
        op: &impl Fn(&Session) -> Result<T, TokenError>,
    ) -> Result<T, (TokenError, u64)> {
        let in_use = self.module.use_now();
        let generation = in_use.generation;
        loop {
            let pooled = self
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let Some((opened_in, session)) = pooled else {
                break;
            };
            if opened_in != generation {
                // Its handle died with the module's restart and may now name another session:
                // closing it could close that one.
                std::mem::forget(session);
                continue;
            }
            if let Ok(done) = op(&session) {
                self.give_back(generation, session);
                return Ok(done);
            }
            break;
        }
        let session = self
            .open_session(in_use.context)
            .map_err(|e| (e, generation))?;
        let done = op(&session).map_err(|e| (e, generation))?;
        self.give_back(generation, session);
        Ok(done)
    }

    fn give_back(&self, generation: u64, session: Session) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((generation, session));
    }

    /// The mechanism and the data to give it for `algorithm`.
    fn mechanism(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
    ) -> Result<(Mechanism<'static>, Vec<u8>), TokenError> {
        Ok(match (self.kind, algorithm) {
            (TokenKeyKind::Rsa(_), SignatureAlgorithm::RsaPkcs1Sha256) => {
                (Mechanism::Sha256RsaPkcs, message.to_vec())
            }
            (TokenKeyKind::Rsa(_), SignatureAlgorithm::RsaPkcs1Sha512) => {
                (Mechanism::Sha512RsaPkcs, message.to_vec())
            }
            // The salt is the hash's length, as TLS 1.3 and RFC 9421 require.
            (TokenKeyKind::Rsa(_), SignatureAlgorithm::RsaPssSha256) => (
                Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32.into(),
                }),
                message.to_vec(),
            ),
            (TokenKeyKind::Rsa(_), SignatureAlgorithm::RsaPssSha512) => (
                Mechanism::Sha512RsaPkcsPss(PkcsPssParams {
                    hash_alg: MechanismType::SHA512,
                    mgf: PkcsMgfType::MGF1_SHA512,
                    s_len: 64.into(),
                }),
                message.to_vec(),
            ),
            (TokenKeyKind::EcdsaP256, SignatureAlgorithm::EcdsaP256Sha256) => (
                Mechanism::Ecdsa,
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message)
                    .as_ref()
                    .to_vec(),
            ),
            (_, alg) => {
                return Err(TokenError::Unsupported(format!(
                    "{} cannot sign {}",
                    self.describe(),
                    alg.name()
                )));
            }
        })
    }
}

/// A DER length.
fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).unwrap_or(0)];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | u8::try_from(bytes.len()).unwrap_or(0)];
    out.extend(bytes);
    out
}

/// A DER INTEGER holding the unsigned big-endian `bytes`.
pub(crate) fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = vec![0];
        v.extend(trimmed);
        v
    } else if trimmed.is_empty() {
        vec![0]
    } else {
        trimmed
    };
    let mut out = vec![0x02];
    out.extend(der_length(body.len()));
    out.append(&mut body);
    out
}

/// A DER SEQUENCE of already encoded `items`.
pub(crate) fn der_sequence(items: &[&[u8]]) -> Vec<u8> {
    let body = items.concat();
    let mut out = vec![0x30];
    out.extend(der_length(body.len()));
    out.extend(body);
    out
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    der_sequence(&[&der_integer(n), &der_integer(e)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_public_keys_are_encoded_as_certificates_carry_them() {
        // A 2048-bit modulus with the top bit set needs a leading zero; e = 65537.
        let n = [vec![0xC0], vec![0x11; 255]].concat();
        let der = rsa_public_key_der(&n, &[0x01, 0x00, 0x01]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0A]);
        assert_eq!(&der[4..9], &[0x02, 0x82, 0x01, 0x01, 0x00]);
        assert_eq!(&der[der.len() - 5..], &[0x02, 0x03, 0x01, 0x00, 0x01]);
    }

    #[test]
    fn incomplete_references_are_refused_before_the_module_is_loaded() {
        let config = TokenKeyConfig {
            module: "/nonexistent/libpkcs11.so".into(),
            token_label: None,
            token_serial: None,
            key_label: Some("k".into()),
            key_id: None,
            pin_file: "/nonexistent/pin".into(),
        };
        let e = TokenKey::open(&config).unwrap_err();
        assert!(e.to_string().contains("token_label or token_serial"), "{e}");
    }
}
