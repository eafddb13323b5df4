//! Signing outbound messages off the async runtime, and what a signing failure means.
//!
//! A signature may go through a PKCS#11 token (a USB token answers in tens to hundreds of
//! milliseconds; RSA in memory takes about a millisecond): either way it is blocking work, so
//! it runs on tokio's blocking pool, never on a runtime worker that other deliveries share.
//! A key on a token that cannot be used just now (pulled out, failing) makes the attempt a
//! *local* failure ([`Outcome::Local`]): not the destination's fault, so its circuit breaker is
//! not fed, and the message goes out when the key is back. Any other signing failure is
//! permanent for that message (a *reject*).

use std::sync::Arc;

use lienthong_certs::httpsig::{
    self, ComponentId, HttpSigError, Message, SignatureParams, SigningKey,
};
use lienthong_certs::xmldsig::{DsigError, Signer};
use lienthong_certs::{DigestAlgorithm, content_digest};
use reqwest::header::HeaderValue;

use crate::Outcome;

/// Runs `work` on the blocking pool.
///
/// Errors: the work panicked or the runtime is shutting down (a retry: nothing was sent).
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Outcome> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Outcome::retry(format!("signing did not finish: {e}")))
}

/// Signs `req` with RFC 9421 (see [`RequestSigner::sign`]) and gives it back.
///
/// Errors: a local failure when the key is unavailable for now, a reject otherwise.
pub async fn sign_request(
    signer: &Arc<RequestSigner>,
    mut req: reqwest::Request,
) -> Result<reqwest::Request, Outcome> {
    let signer = Arc::clone(signer);
    off_runtime(move || signer.sign(&mut req).map(|()| req))
        .await?
        .map_err(|e| match e {
            HttpSigError::KeyUnavailable(_) => {
                Outcome::local(format!("cannot sign the request: {e}"))
            }
            e => Outcome::reject(format!("cannot sign the request: {e}")),
        })
}

/// Signs the XML document `xml` with `sign` (enveloped placement of the caller's choice).
///
/// Errors: a local failure when the key is unavailable for now, a reject otherwise.
pub async fn sign_xml(
    signer: &Signer,
    xml: String,
    sign: fn(&str, &Signer) -> Result<String, DsigError>,
) -> Result<String, Outcome> {
    let signer = signer.clone();
    off_runtime(move || sign(&xml, &signer))
        .await?
        .map_err(|e| {
            if e.is_transient() {
                Outcome::local(format!("cannot sign: {e}"))
            } else {
                Outcome::reject(format!("cannot sign: {e}"))
            }
        })
}

/// Signs outbound requests with RFC 9421: covers `@method`, `@target-uri`, `content-type`
/// (when present) and `content-digest` (RFC 9530 SHA-256 of the body, added here), with
/// `created`, `keyid`, a fresh `nonce` and `alg`.
#[derive(Debug)]
pub struct RequestSigner {
    key: SigningKey,
    keyid: String,
}

impl RequestSigner {
    /// A signer using `key`, announcing `keyid`.
    pub fn new(key: SigningKey, keyid: impl Into<String>) -> Self {
        Self {
            key,
            keyid: keyid.into(),
        }
    }

    /// Adds `Content-Digest`, `Signature-Input` and `Signature` to `req`.
    ///
    /// Errors: a streaming body (cannot be digested) or a header that cannot be signed.
    pub fn sign(&self, req: &mut reqwest::Request) -> Result<(), HttpSigError> {
        let body: &[u8] = match req.body() {
            Some(b) => b.as_bytes().ok_or_else(|| {
                HttpSigError::Unsupported("streaming bodies cannot be signed".into())
            })?,
            None => b"",
        };
        let digest = content_digest(body, DigestAlgorithm::Sha256);
        let value =
            HeaderValue::from_str(&digest).map_err(|e| HttpSigError::Malformed(e.to_string()))?;
        req.headers_mut().insert("content-digest", value);
        let mut components = vec![ComponentId::new("@method"), ComponentId::new("@target-uri")];
        if req.headers().contains_key(reqwest::header::CONTENT_TYPE) {
            components.push(ComponentId::new("content-type"));
        }
        components.push(ComponentId::new("content-digest"));
        let created = time::OffsetDateTime::now_utc().unix_timestamp();
        let params = SignatureParams {
            components,
            created: Some(created),
            expires: None,
            keyid: Some(self.keyid.clone()),
            nonce: Some(uuid::Uuid::now_v7().simple().to_string()),
            include_alg: true,
            tag: Some("lienthong".into()),
        };
        let method = req.method().as_str().to_string();
        let url = req.url().as_str().to_string();
        let fields = httpsig::sign(
            &Message::request(&method, &url, req.headers()),
            "sig1",
            &params,
            &self.key,
        )?;
        let headers = req.headers_mut();
        for (name, v) in [
            ("signature-input", fields.signature_input),
            ("signature", fields.signature),
        ] {
            headers.insert(
                name,
                HeaderValue::from_str(&v).map_err(|e| HttpSigError::Malformed(e.to_string()))?,
            );
        }
        Ok(())
    }
}
