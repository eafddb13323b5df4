//! Reading a JSON request body with the checks of the HTTP contract: 415 for another media
//! type, 413 past the size limit (also when `Content-Length` announces it), 400 for bad JSON,
//! 408 for a body sent too slowly, 503 when request bodies in memory fill their budget
//! ([`crate::http::limits::BodyBudget`]).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use super::problem::Problem;

/// The request's media type, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

/// Whether a media type is JSON (`application/json`, `application/…+json`, with parameters).
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| {
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    })
}

/// Whether a media type is XML (`application/xml`, `text/xml`, `application/…+xml`).
pub fn is_xml(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| {
        m == "application/xml"
            || m == "text/xml"
            || (m.starts_with("application/") && m.ends_with("+xml"))
    })
}

/// The 413 problem, naming the configuration key that sets `limit`.
pub fn too_large(limit: u64, key: &str) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "The body is too large",
        format!("the limit is {limit} bytes ({key})"),
    )
}

/// The body's announced length (`Content-Length`), if any.
pub fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// How much of a refused body is still read (and thrown away) before the 413 is sent, as a
/// multiple of the limit, and for how long at most: a client that writes its whole body before
/// reading (Python's urllib, many HTTP/1 clients) then reads the 413 instead of a reset
/// connection — a lingering close, as nginx does. Past either bound the connection is closed.
const DRAIN_FACTOR: u64 = 4;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads and discards what is left of `body`, at most `DRAIN_FACTOR × limit` bytes within
/// `DRAIN_TIME`.
async fn drain(mut body: Body, limit: u64) {
    let most = limit.saturating_mul(DRAIN_FACTOR);
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > most {
                    return;
                }
            }
        }
    })
    .await;
}

/// 408: the client sent its body too slowly (`server.min_body_rate`, `server.body_timeout`).
pub fn too_slow() -> Problem {
    Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "The body was sent too slowly",
        "send the body at server.min_body_rate or faster (after server.body_timeout)",
    )
}

/// 503 with `Retry-After`: request bodies in memory fill `server.max_body_memory` (or this
/// client address's share); nothing more of the body was read.
pub fn over_budget() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "Too many request bodies are being received; nothing was stored, try again",
        "request bodies in memory fill server.max_body_memory (or this address's share, server.max_body_memory_per_client)",
    )
    .with_header(header::RETRY_AFTER, "1")
}

/// How much of a body refused before it is read ([`discard_some`]) is still read and thrown
/// away (never kept in memory): enough for an ordinary request and a document with a few files,
/// so that HTTP/2 clients that keep sending (nghttp2, curl) see the answer rather than a reset
/// stream; bounded, so a stranger cannot make the gateway read without end.
pub const REFUSAL_DRAIN: u64 = 4 * 1024 * 1024;

/// Reads and discards at most `most` bytes of a body the request is refused without (an
/// unauthenticated caller; `allowance`: the request's share of the body budget, given back),
/// within two seconds: a client that writes its whole body before
/// reading then reads the refusal instead of a reset connection or stream; past either bound
/// the connection (HTTP/1) or the stream (HTTP/2) is closed after the answer.
pub async fn discard_some(
    allowance: Option<&std::sync::Arc<crate::http::limits::Allowance>>,
    mut body: Body,
    most: u64,
) {
    // Thrown away, not kept: not counted against the body budget.
    if let Some(a) = allowance {
        a.discard();
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > most {
                    return;
                }
            }
        }
    })
    .await;
}

/// [`discard_some`] of a whole request refused before its body is read.
pub async fn discard_request(req: axum::extract::Request) {
    let (parts, body) = req.into_parts();
    discard_some(
        parts
            .extensions
            .get::<std::sync::Arc<crate::http::limits::Allowance>>(),
        body,
        REFUSAL_DRAIN,
    )
    .await;
}

/// Reads a whole body of at most `limit` bytes (413 naming `key` past it, also when
/// `Content-Length` announces more); a broken stream becomes `unreadable(reason)`. The buffer is
/// sized once from `Content-Length` when announced, so a large body is not copied while it grows.
///
/// Errors: the problems above.
pub async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: u64,
    key: &str,
    unreadable: impl FnOnce(String) -> Problem,
) -> Result<Vec<u8>, Problem> {
    let announced = announced_length(headers);
    if announced.is_some_and(|n| n > limit) {
        drain(body, limit).await;
        return Err(too_large(limit, key));
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(announced.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) if crate::http::limits::is_too_slow(&e) => return Err(too_slow()),
            Err(e) if crate::http::limits::is_over_budget(&e) => return Err(over_budget()),
            Err(e) => return Err(unreadable(format!("could not read the body: {e}"))),
        };
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > cap {
                drain(body, limit).await;
                return Err(too_large(limit, key));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}

/// Reads and parses a JSON body.
///
/// Errors: 415, 413 or 400 problems as above.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: u64) -> Result<Value, Problem> {
    if !is_json(headers) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be JSON",
            "send Content-Type: application/json",
        ));
    }
    let bytes = read_limited(headers, body, limit, "server.max_body", Problem::bad_json).await?;
    serde_json::from_slice(&bytes).map_err(|e| Problem::bad_json(e.to_string()))
}
