//! HTTP message signatures (RFC 9421) for requests and responses.
//!
//! [`sign`] builds the signature base from the covered components and returns the
//! `Signature-Input` and `Signature` field values; [`verify`] parses them (RFC 8941 structured
//! fields, via `sfv`), rebuilds the base from the message as received, checks the signature
//! with the key the caller resolves from `keyid`, and enforces the policy: a maximum age for
//! `created`, `expires`, required components, the `alg` parameter matching the key, and a
//! nonce seen only once within its window ([`NonceCache`]).
//!
//! Supported components: `@method`, `@target-uri`, `@authority`, `@scheme`, `@request-target`,
//! `@path`, `@query`, `@query-param;name=…`, `@status` and header fields (lower-case names,
//! multiple lines joined with `, `). The `sf`, `key`, `bs` and `req` component parameters are
//! not supported and are refused. The body is bound through `content-digest` (RFC 9530,
//! [`crate::content_digest`]), which the caller checks against the received bytes.

mod base;
mod keys;
mod nonce;

#[cfg(test)]
mod tests;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sfv::{BareItem, Dictionary, InnerList, Item, ListEntry, Parser};

pub use base::{ComponentId, Message};
pub use keys::{Algorithm, HmacSecret, SigningKey, VerifyingKey};
pub use nonce::NonceCache;

/// Why a message could not be signed or its signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpSigError {
    /// The signing key is on a token that cannot be used just now (pulled out, failing): the
    /// request may be signed later.
    #[error("signing key unavailable: {0}")]
    KeyUnavailable(String),
    /// `Content-Digest` is missing, malformed or does not match the body.
    #[error("Content-Digest: {0}")]
    Digest(String),
    /// A covered component is missing from the message (names it).
    #[error("covered component {0} is missing from the message")]
    MissingComponent(String),
    /// A component or parameter we do not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// `Signature-Input` or `Signature` is not a valid structured field, or they disagree.
    #[error("malformed signature fields: {0}")]
    Malformed(String),
    /// No signature with the requested label, or none at all.
    #[error("no signature {0}")]
    NoSignature(String),
    /// The key id is unknown or the key does not fit the algorithm.
    #[error("unknown key or algorithm: {0}")]
    UnknownKey(String),
    /// `created` too old or in the future, or `expires` passed.
    #[error("signature expired or not yet valid: {0}")]
    Expired(String),
    /// A required component is not covered by the signature.
    #[error("the signature does not cover {0}")]
    NotCovered(String),
    /// The nonce was already used within its window.
    #[error("nonce replayed")]
    Replay,
    /// The signature value does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Signing failed in the crypto library or the key does not fit.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The parameters of a signature to make.
#[derive(Debug, Clone, Default)]
pub struct SignatureParams {
    /// Covered components, in order.
    pub components: Vec<ComponentId>,
    /// `created` (seconds since the epoch).
    pub created: Option<i64>,
    /// `expires`.
    pub expires: Option<i64>,
    /// `keyid`.
    pub keyid: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// Include the `alg` parameter.
    pub include_alg: bool,
    /// `tag`.
    pub tag: Option<String>,
}

impl SignatureParams {
    /// The `@signature-params` value: the covered components as an inner list with the
    /// parameters in the order created, expires, keyid, nonce, alg, tag.
    pub fn serialize(&self, alg: Option<Algorithm>) -> Result<String, HttpSigError> {
        let inner = self.inner_list(alg)?;
        serialize_inner_list(&inner)
    }

    fn inner_list(&self, alg: Option<Algorithm>) -> Result<InnerList, HttpSigError> {
        let items = self
            .components
            .iter()
            .map(ComponentId::to_item)
            .collect::<Result<Vec<Item>, _>>()?;
        let mut params = sfv::Parameters::new();
        let key = |k: &str| sfv::Key::from_string(k.to_string()).map_err(sf_pair_err);
        let string = |s: &str| {
            sfv::String::from_string(s.to_string())
                .map(BareItem::String)
                .map_err(sf_pair_err)
        };
        if let Some(c) = self.created {
            params.insert(key("created")?, BareItem::Integer(integer(c)?));
        }
        if let Some(e) = self.expires {
            params.insert(key("expires")?, BareItem::Integer(integer(e)?));
        }
        if let Some(k) = &self.keyid {
            params.insert(key("keyid")?, string(k)?);
        }
        if let Some(n) = &self.nonce {
            params.insert(key("nonce")?, string(n)?);
        }
        if let (true, Some(a)) = (self.include_alg, alg) {
            params.insert(key("alg")?, string(a.name())?);
        }
        if let Some(t) = &self.tag {
            params.insert(key("tag")?, string(t)?);
        }
        Ok(InnerList::with_params(items, params))
    }
}

/// The two field values to add to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFields {
    /// `Signature-Input` value, e.g. `sig1=("@method" …);created=…`.
    pub signature_input: String,
    /// `Signature` value, e.g. `sig1=:base64:`.
    pub signature: String,
}

/// Signs `message` under `label` and returns the field values.
pub fn sign(
    message: &Message<'_>,
    label: &str,
    params: &SignatureParams,
    key: &SigningKey,
) -> Result<SignatureFields, HttpSigError> {
    let inner = params.inner_list(Some(key.algorithm()))?;
    let serialized = serialize_inner_list(&inner)?;
    let base = base::signature_base(message, &params.components, &serialized)?;
    let value = key.sign(base.as_bytes())?;
    let label_key = sfv::Key::from_string(label.to_string()).map_err(sf_pair_err)?;
    let mut input = Dictionary::new();
    input.insert(label_key.clone(), ListEntry::InnerList(inner));
    let mut sig = Dictionary::new();
    sig.insert(
        label_key,
        ListEntry::Item(Item::new(BareItem::ByteSequence(value))),
    );
    Ok(SignatureFields {
        signature_input: serialize_dict(&input)?,
        signature: serialize_dict(&sig)?,
    })
}

/// What a verifier requires.
#[derive(Debug, Clone)]
pub struct VerifyPolicy<'a> {
    /// Verify this label; the first label in `Signature-Input` when `None`.
    pub label: Option<&'a str>,
    /// The longest accepted age of `created`; `created` is required.
    pub max_age: Duration,
    /// Accepted clock skew for a `created` in the future.
    pub max_skew: Duration,
    /// Components that must be covered (e.g. `@method`, `@target-uri`, `content-digest`).
    pub required_components: &'a [&'a str],
    /// Require a `nonce`.
    pub require_nonce: bool,
    /// Nonces seen, for replay detection in this process (nonces are remembered for
    /// `max_age + max_skew`). `None`: the caller records [`VerifiedHttpSignature::nonce`].
    pub nonces: Option<&'a NonceCache>,
    /// Current time, seconds since the epoch.
    pub now: i64,
}

/// A verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHttpSignature {
    /// The label.
    pub label: String,
    /// The `keyid` parameter.
    pub keyid: Option<String>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// `created`.
    pub created: i64,
    /// The covered component identifiers, serialized.
    pub components: Vec<String>,
    /// The `Signature` value, base64 (for the audit log).
    pub signature: String,
    /// The `nonce` parameter. When the policy has no [`NonceCache`], the caller records it
    /// (e.g. in a store shared by a cluster) until `nonce_until` and refuses a replay.
    pub nonce: Option<String>,
    /// The end of the signature's acceptance window (`created + max_age + max_skew`, seconds):
    /// how long its nonce must be remembered.
    pub nonce_until: i64,
}

/// Verifies a signature of `message` from its `Signature-Input` and `Signature` field values.
/// `resolve` maps the `keyid` (and the `alg` parameter when present) to a key.
pub fn verify(
    message: &Message<'_>,
    signature_input: &str,
    signature: &str,
    policy: &VerifyPolicy<'_>,
    resolve: impl Fn(Option<&str>, Option<Algorithm>) -> Option<VerifyingKey>,
) -> Result<VerifiedHttpSignature, HttpSigError> {
    let inputs: Dictionary = Parser::new(signature_input)
        .parse()
        .map_err(|e| HttpSigError::Malformed(format!("Signature-Input: {e}")))?;
    let signatures: Dictionary = Parser::new(signature)
        .parse()
        .map_err(|e| HttpSigError::Malformed(format!("Signature: {e}")))?;
    let (label, entry) = match policy.label {
        Some(l) => inputs
            .iter()
            .find(|(k, _)| k.as_str() == l)
            .ok_or_else(|| HttpSigError::NoSignature(l.to_string()))?,
        None => inputs
            .iter()
            .next()
            .ok_or_else(|| HttpSigError::NoSignature("in Signature-Input".into()))?,
    };
    let ListEntry::InnerList(inner) = entry else {
        return Err(HttpSigError::Malformed(format!(
            "{label} is not an inner list"
        )));
    };
    let value = match signatures.get(label) {
        Some(ListEntry::Item(Item {
            bare_item: BareItem::ByteSequence(b),
            ..
        })) => b.clone(),
        Some(_) => {
            return Err(HttpSigError::Malformed(format!(
                "Signature {label} is not a byte sequence"
            )));
        }
        None => return Err(HttpSigError::NoSignature(label.to_string())),
    };

    let components = inner
        .items
        .iter()
        .map(ComponentId::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    let param_str = |k: &str| match inner.params.get(k) {
        Some(BareItem::String(s)) => Ok(Some(s.as_str().to_string())),
        Some(_) => Err(HttpSigError::Malformed(format!(
            "parameter {k} is not a string"
        ))),
        None => Ok(None),
    };
    let param_int = |k: &str| match inner.params.get(k) {
        Some(BareItem::Integer(i)) => Ok(Some(i64::from(*i))),
        Some(_) => Err(HttpSigError::Malformed(format!(
            "parameter {k} is not an integer"
        ))),
        None => Ok(None),
    };
    let keyid = param_str("keyid")?;
    let nonce = param_str("nonce")?;
    let alg = param_str("alg")?
        .map(|a| Algorithm::from_name(&a).ok_or(HttpSigError::UnknownKey(a)))
        .transpose()?;
    let created = param_int("created")?
        .ok_or_else(|| HttpSigError::Expired("no created parameter".into()))?;
    let expires = param_int("expires")?;

    // Time window.
    let max_age = i64::try_from(policy.max_age.as_secs()).unwrap_or(i64::MAX);
    let skew = i64::try_from(policy.max_skew.as_secs()).unwrap_or(0);
    if created > policy.now.saturating_add(skew) {
        return Err(HttpSigError::Expired(format!(
            "created {created} is in the future"
        )));
    }
    if policy.now.saturating_sub(created) > max_age {
        return Err(HttpSigError::Expired(format!(
            "created {created} is older than {max_age} s"
        )));
    }
    if let Some(e) = expires
        && policy.now > e
    {
        return Err(HttpSigError::Expired(format!("expired at {e}")));
    }
    // Coverage.
    let covered: Vec<String> = components
        .iter()
        .map(ComponentId::serialize)
        .collect::<Result<_, _>>()?;
    for required in policy.required_components {
        if !components.iter().any(|c| c.name == *required) {
            return Err(HttpSigError::NotCovered((*required).to_string()));
        }
    }
    if policy.require_nonce && nonce.is_none() {
        return Err(HttpSigError::NotCovered("nonce parameter".into()));
    }

    let key = resolve(keyid.as_deref(), alg).ok_or_else(|| {
        HttpSigError::UnknownKey(keyid.clone().unwrap_or_else(|| "(none)".into()))
    })?;
    if let Some(a) = alg
        && a != key.algorithm()
    {
        return Err(HttpSigError::UnknownKey(format!(
            "alg {} does not match the key's {}",
            a.name(),
            key.algorithm().name()
        )));
    }
    let serialized = serialize_inner_list(inner)?;
    let base = base::signature_base(message, &components, &serialized)?;
    if !key.verify(base.as_bytes(), &value) {
        return Err(HttpSigError::BadSignature);
    }
    // Only a verified signature consumes its nonce, so forged requests cannot burn nonces.
    let nonce_until = created.saturating_add(max_age).saturating_add(skew);
    if let (Some(n), Some(cache)) = (&nonce, policy.nonces)
        && !cache.insert(keyid.as_deref().unwrap_or(""), n, nonce_until, policy.now)
    {
        return Err(HttpSigError::Replay);
    }
    Ok(VerifiedHttpSignature {
        label: label.as_str().to_string(),
        keyid,
        algorithm: key.algorithm(),
        created,
        components: covered,
        signature: STANDARD.encode(&value),
        nonce,
        nonce_until,
    })
}

/// Verifies a received request end to end: `Content-Digest` must be present once and match `body`,
/// and the signature carried in `Signature-Input`/`Signature` must verify under `policy` (which
/// should require `content-digest` among the covered components, so the body is bound).
/// `target_uri` is the absolute URI the request was sent to, as the receiver reconstructs it.
pub fn verify_request(
    method: &str,
    target_uri: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    policy: &VerifyPolicy<'_>,
    resolve: impl Fn(Option<&str>, Option<Algorithm>) -> Option<VerifyingKey>,
) -> Result<VerifiedHttpSignature, HttpSigError> {
    verify_request_body(headers, body)?;
    verify_request_head(method, target_uri, headers, policy, resolve)
}

/// One field line of `name` (a reader that takes the first line of a repeated field while the
/// signature base joins them all would check something else than what was signed).
fn single_field<'h>(headers: &'h http::HeaderMap, name: &str) -> Result<&'h str, HttpSigError> {
    let mut lines = headers.get_all(name).iter();
    match (lines.next(), lines.next()) {
        (Some(v), None) => v
            .to_str()
            .map_err(|_| HttpSigError::Malformed(format!("{name} is not visible ASCII"))),
        (None, _) => Err(HttpSigError::Malformed(format!("{name} is required"))),
        (Some(_), Some(_)) => Err(HttpSigError::Malformed(format!(
            "more than one {name} field line"
        ))),
    }
}

fn digest_field(headers: &http::HeaderMap) -> Result<&str, HttpSigError> {
    single_field(headers, "content-digest").map_err(|e| match e {
        HttpSigError::Malformed(m) => HttpSigError::Digest(m),
        other => other,
    })
}

/// The first half of [`verify_request`], from the head alone: `Content-Digest` present once and
/// the signature verified under `policy` (which should require `content-digest`). A receiver
/// knows who signed before it reads the body, and reads it only then; it must then call
/// [`verify_request_body`], or the body is not bound.
pub fn verify_request_head(
    method: &str,
    target_uri: &str,
    headers: &http::HeaderMap,
    policy: &VerifyPolicy<'_>,
    resolve: impl Fn(Option<&str>, Option<Algorithm>) -> Option<VerifyingKey>,
) -> Result<VerifiedHttpSignature, HttpSigError> {
    digest_field(headers)?;
    verify(
        &Message::request(method, target_uri, headers),
        single_field(headers, "signature-input")?,
        single_field(headers, "signature")?,
        policy,
        resolve,
    )
}

/// The second half of [`verify_request`]: the body matches the request's single
/// `Content-Digest`.
pub fn verify_request_body(headers: &http::HeaderMap, body: &[u8]) -> Result<(), HttpSigError> {
    crate::verify_content_digest(digest_field(headers)?, body)
        .map(|_| ())
        .map_err(|e| HttpSigError::Digest(e.to_string()))
}

fn integer(v: i64) -> Result<sfv::Integer, HttpSigError> {
    sfv::Integer::try_from(v).map_err(sf_err)
}

pub(crate) fn sf_pair_err((e, value): (sfv::Error, String)) -> HttpSigError {
    HttpSigError::Malformed(format!("{value:?}: {e}"))
}

fn sf_err(e: impl std::fmt::Display) -> HttpSigError {
    HttpSigError::Malformed(e.to_string())
}

fn serialize_inner_list(inner: &InnerList) -> Result<String, HttpSigError> {
    let list = vec![ListEntry::InnerList(inner.clone())];
    let mut ser = sfv::ListSerializer::new();
    ser.members(&list);
    ser.finish()
        .ok_or_else(|| HttpSigError::Malformed("empty list".into()))
}

fn serialize_dict(dict: &Dictionary) -> Result<String, HttpSigError> {
    let mut ser = sfv::DictSerializer::new();
    ser.members(dict);
    ser.finish()
        .ok_or_else(|| HttpSigError::Malformed("empty dictionary".into()))
}
