//! The request hash a provider's Security Server returns in `X-Road-Request-Hash`: it ties an
//! answer to the request it answers.
//!
//! PR-REST defines it as base64(SHA-512(SHA-512(headers) + SHA-512(body))), or base64(SHA-512(headers))
//! without a body, but leaves "headers" to the implementation. X-Road's Security Server hashes
//! its own serialization of the request, which this module reproduces from what the client
//! sent:
//!
//! ```text
//! {METHOD}\r\n
//! {path as sent, percent-encoded}[?{query as sent}]\r\n
//! {name}: {value}\r\n      one line per header sent, in order, names in lower case,
//!                          without the headers a Security Server drops or rewrites (FILTERED)
//! x-road-request-id: {the X-Road-Request-Id of the answer}\r\n
//! ```
//!
//! That serialization was read, not observed against a live Security Server: where a deployment's
//! hashes never match, `request_hash = "keep"` records them without checking
//! (`docs/xroad.md`).

use aws_lc_rs::digest;
use base64::Engine;

/// Headers a Security Server drops or rewrites (hop-by-hop, those that could leak the client's
/// host, framing it may change) and the two it sets itself: not part of the hashed request.
pub const FILTERED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "user-agent",
    "server",
    "content-length",
    "expect",
    "x-road-request-id",
    "x-road-request-hash",
];

/// The request as hashed, waiting for the answer's `X-Road-Request-Id` to be complete.
#[derive(Debug, Clone)]
pub struct PendingHash {
    head: Vec<u8>,
    body_sha512: Option<Vec<u8>>,
}

impl PendingHash {
    /// The hash input of a request: `method`, the path and query as sent, its headers in the
    /// order sent, and its body.
    pub fn of<'a>(
        method: &str,
        path_and_query: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: &[u8],
    ) -> Self {
        let mut head = Vec::with_capacity(512);
        head.extend_from_slice(method.as_bytes());
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(path_and_query.as_bytes());
        head.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if FILTERED.contains(&name.as_str()) {
                continue;
            }
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        let body_sha512 =
            (!body.is_empty()).then(|| digest::digest(&digest::SHA512, body).as_ref().to_vec());
        Self { head, body_sha512 }
    }

    /// The expected `X-Road-Request-Hash`, once the answer's `X-Road-Request-Id` is known.
    pub fn finish(&self, request_id: Option<&str>) -> String {
        let mut head = self.head.clone();
        if let Some(id) = request_id {
            head.extend_from_slice(b"x-road-request-id: ");
            head.extend_from_slice(id.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        let head_sha512 = digest::digest(&digest::SHA512, &head);
        let hash = match &self.body_sha512 {
            None => head_sha512.as_ref().to_vec(),
            Some(body) => {
                let mut both = head_sha512.as_ref().to_vec();
                both.extend_from_slice(body);
                digest::digest(&digest::SHA512, &both).as_ref().to_vec()
            }
        };
        base64::engine::general_purpose::STANDARD.encode(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha512(bytes: &[u8]) -> Vec<u8> {
        digest::digest(&digest::SHA512, bytes).as_ref().to_vec()
    }

    #[test]
    fn the_hash_is_the_nested_sha512_of_the_serialization() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("Host", b"ss.example"),
            ("X-Road-Client", b"VN/GOV/M/S"),
            ("content-type", b"application/json"),
            ("user-agent", b"lienthong/1"),
            ("content-length", b"2"),
        ];
        let pending = PendingHash::of("POST", "/r1/VN/GOV/P/S/svc/a?b=1", headers.clone(), b"{}");
        let head = b"POST\r\n/r1/VN/GOV/P/S/svc/a?b=1\r\nx-road-client: VN/GOV/M/S\r\ncontent-type: application/json\r\nx-road-request-id: r-1\r\n";
        let mut both = sha512(head);
        both.extend(sha512(b"{}"));
        let expected = base64::engine::general_purpose::STANDARD.encode(sha512(&both));
        assert_eq!(pending.finish(Some("r-1")), expected);
        assert_ne!(
            pending.finish(Some("r-2")),
            expected,
            "the request id is covered"
        );
        // Without a body: the headers' hash alone.
        let get = PendingHash::of("GET", "/r1/x", headers, b"");
        let head =
            b"GET\r\n/r1/x\r\nx-road-client: VN/GOV/M/S\r\ncontent-type: application/json\r\n";
        assert_eq!(
            get.finish(None),
            base64::engine::general_purpose::STANDARD.encode(sha512(head))
        );
    }
}
