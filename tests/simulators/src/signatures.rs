//! How the simulators check RFC 9421 signatures on what Lienthong sends them: `Content-Digest`
//! and a signature by the one expected key over method, target URI and digest, at most five
//! minutes old, with a nonce.

use std::time::Duration;

use axum::http::HeaderMap;
use lienthong_certs::httpsig::{self, VerifyingKey};

/// Whether a request carries a valid signature by `key`; `target` is the full URI it was sent to.
pub fn verified(
    method: &str,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    key: &VerifyingKey,
) -> bool {
    let policy = httpsig::VerifyPolicy {
        label: None,
        max_age: Duration::from_secs(300),
        max_skew: Duration::from_secs(60),
        required_components: &["@method", "@target-uri", "content-digest"],
        require_nonce: true,
        nonces: None,
        now: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    httpsig::verify_request(method, target, headers, body, &policy, |_, _| {
        Some(key.clone())
    })
    .is_ok()
}
