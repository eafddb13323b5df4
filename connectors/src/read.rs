//! Reading an answer's body within a limit, and an error with its causes on one line: shared by
//! the connectors' HTTP send (`http.rs`) and the X-Road route (`xroad/`). A leaf.

/// The error and its causes on one line (reqwest hides the interesting part in the source chain).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// The largest answer read from a portal, a peer or the exchange axis. Their answers are status
/// documents and lookups (JSON or XML) of a few kilobytes; a larger one is a misbehaving or
/// hostile server and is not read on.
pub const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// Why an answer's body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// More than the limit was announced or sent; reading stopped there.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The connection failed or timed out while reading.
    #[error("connection lost while reading the answer: {0}")]
    Transport(String),
}

/// Reads a body of at most `limit` bytes, chunk by chunk: an announced `Content-Length` over the
/// limit is refused before reading, and reading stops as soon as the chunks pass it, so a server
/// can never make the gateway hold more than `limit` bytes of its answer.
///
/// Errors: [`ReadError`].
pub async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(error_chain(&e)))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// [`read_limited`] as text (invalid UTF-8 replaced, as the answers are only read for their
/// status and message).
///
/// Errors: [`ReadError`].
pub async fn read_text(resp: reqwest::Response, limit: u64) -> Result<String, ReadError> {
    let body = read_limited(resp, limit).await?;
    Ok(match String::from_utf8(body) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
