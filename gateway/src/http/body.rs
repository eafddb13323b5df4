//! Reading a JSON request body with the checks of the HTTP contract: 415 for another media
//! type, 413 past the size limit (also when `Content-Length` announces it), 400 for bad JSON.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
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

/// Reads a whole body of at most `limit` bytes (413 naming `key` past it, also when
/// `Content-Length` announces more); a broken stream becomes `unreadable(reason)`.
///
/// Errors: the problems above.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    key: &str,
    unreadable: impl FnOnce(String) -> Problem,
) -> Result<bytes::Bytes, Problem> {
    if announced_length(headers).is_some_and(|n| n > limit) {
        return Err(too_large(limit, key));
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, cap).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit, key)),
        Err(e) => Err(unreadable(format!("could not read the body: {e}"))),
    }
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
