//! What went over the wire in a delivery attempt, for the audit log: the SHA-256 of the request
//! body sent, its signature value (RFC 9421 `Signature` header, or the XML-DSig
//! `SignatureValue` of an edXML or investment envelope) and the SHA-256 fingerprint of the
//! certificate the destination's TLS server presented.
//!
//! Connectors do not return this with their [`crate::Outcome`]: it is recorded where requests
//! are sent ([`crate::http::send`] and the edXML senders) into a collector that the dispatcher
//! puts around one attempt ([`collect`]). When an attempt makes several requests (a login, then
//! the service call), the last request's evidence is kept: that is the one carrying the message.
//! Outside [`collect`] recording does nothing (tests, health probes).

use std::cell::RefCell;
use std::future::Future;

use aws_lc_rs::digest;

/// Evidence of one attempt; every field is absent when no request went out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Lower-case hex SHA-256 of the last request body sent.
    pub payload_sha256: Option<String>,
    /// Its signature value, if it was signed.
    pub signature: Option<String>,
    /// Lower-case hex SHA-256 of the destination's TLS server certificate (HTTPS only).
    pub peer_certificate_sha256: Option<String>,
    /// What the Security Server said about it, when the destination is reached through X-Road.
    pub xroad: Option<XRoadEvidence>,
}

/// The X-Road identifiers of a request and its answer ([`crate::xroad`]): what ties this
/// attempt to the Security Servers' own message logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XRoadEvidence {
    /// `X-Road-Id` (ours, echoed by the provider's Security Server).
    pub id: String,
    /// `X-Road-Request-Id` of the answer.
    pub request_id: Option<String>,
    /// `X-Road-Request-Hash` of the answer.
    pub request_hash: Option<String>,
}

tokio::task_local! {
    static CURRENT: RefCell<Evidence>;
    static ISSUE: Option<String>;
}

/// Runs `attempt`, collecting the evidence its requests record.
pub async fn collect<F: Future>(attempt: F) -> (F::Output, Evidence) {
    collect_about(None, attempt).await
}

/// Runs `attempt` about the dossier `issue` (its code, sent as `X-Road-Issue` by a destination
/// reached through X-Road), collecting the evidence its requests record.
pub async fn collect_about<F: Future>(issue: Option<String>, attempt: F) -> (F::Output, Evidence) {
    ISSUE
        .scope(
            issue,
            CURRENT.scope(RefCell::new(Evidence::default()), async move {
                let out = attempt.await;
                let evidence = CURRENT.with(|e| e.take());
                (out, evidence)
            }),
        )
        .await
}

/// The dossier the current attempt is about, if [`collect_about`] named one.
pub fn issue() -> Option<String> {
    ISSUE.try_with(Clone::clone).ok().flatten()
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// A request is about to go out with `body` and, if signed, `signature` (replaces what an
/// earlier request of the same attempt recorded).
pub fn record_request(body: &[u8], signature: Option<String>) {
    let signature = signature.or_else(|| xml_signature_value(body));
    let _ = CURRENT.try_with(|e| {
        let mut e = e.borrow_mut();
        e.payload_sha256 = Some(sha256_hex(body));
        e.signature = signature;
        e.peer_certificate_sha256 = None;
        e.xroad = None;
    });
}

/// The answer to the last request came through X-Road with these identifiers.
pub fn record_xroad(xroad: XRoadEvidence) {
    let _ = CURRENT.try_with(|e| {
        e.borrow_mut().xroad = Some(xroad);
    });
}

/// The answer to the last request came over TLS from a server presenting `certificate` (DER).
pub fn record_peer_certificate(certificate: &[u8]) {
    let _ = CURRENT.try_with(|e| {
        e.borrow_mut().peer_certificate_sha256 = Some(sha256_hex(certificate));
    });
}

/// Records the server certificate of `response`, when the client was built with TLS info.
pub fn record_response(response: &reqwest::Response) {
    if let Some(cert) = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
    {
        record_peer_certificate(cert);
    }
}

/// The `SignatureValue` of an XML-DSig signature in `body`, as our signer writes it.
fn xml_signature_value(body: &[u8]) -> Option<String> {
    const OPEN: &[u8] = b"<ds:SignatureValue>";
    const CLOSE: &[u8] = b"</ds:SignatureValue>";
    let start = body.windows(OPEN.len()).position(|w| w == OPEN)? + OPEN.len();
    let len = body[start..]
        .windows(CLOSE.len())
        .position(|w| w == CLOSE)?;
    std::str::from_utf8(&body[start..start + len])
        .ok()
        .map(|s| s.split_whitespace().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_request_of_an_attempt_is_kept() {
        let ((), e) = collect(async {
            record_request(b"login", None);
            record_peer_certificate(b"cert");
            record_request(
                b"<x><ds:SignatureValue>AB\nCD</ds:SignatureValue></x>",
                None,
            );
        })
        .await;
        assert_eq!(
            e.payload_sha256.as_deref(),
            Some(sha256_hex(b"<x><ds:SignatureValue>AB\nCD</ds:SignatureValue></x>").as_str())
        );
        assert_eq!(e.signature.as_deref(), Some("ABCD"));
        assert_eq!(
            e.peer_certificate_sha256, None,
            "reset by the later request"
        );
    }

    #[tokio::test]
    async fn a_header_signature_wins_and_nothing_is_recorded_outside_collect() {
        record_request(b"ignored", None);
        let ((), e) = collect(async {
            record_request(b"{}", Some("sig1=:abc:".into()));
            record_peer_certificate(b"cert");
        })
        .await;
        assert_eq!(e.signature.as_deref(), Some("sig1=:abc:"));
        assert_eq!(e.peer_certificate_sha256, Some(sha256_hex(b"cert")));
        let ((), none) = collect(async {}).await;
        assert_eq!(none, Evidence::default());
    }

    #[test]
    fn sha256_is_lower_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
