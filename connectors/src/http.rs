//! HTTP helpers shared by connectors: the client, and the generic reading of an HTTP answer.

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::Outcome;
pub use crate::read::{MAX_ANSWER_BYTES, ReadError, error_chain, read_limited, read_text};
pub use crate::signing::RequestSigner;

/// How a destination's calls are secured and routed beyond default TLS: its own trust store and
/// client identity (a rustls configuration built by `lienthong_certs::tls::client_config`), an
/// RFC 9421 signer for every request, and the X-Road Security Server it is reached through.
#[derive(Clone, Default)]
pub struct OutboundSecurity {
    /// TLS configuration replacing the platform roots (trust store, CRLs, client certificate);
    /// through X-Road, the connection to the Security Server.
    pub tls: Option<rustls::ClientConfig>,
    /// Signs every request (RFC 9421 over `Content-Digest`).
    pub signer: Option<Arc<RequestSigner>>,
    /// Sends every request through this Security Server ([`crate::xroad`]).
    pub xroad: Option<Arc<crate::xroad::Route>>,
}

impl OutboundSecurity {
    /// What every request of the destination passes through on its way out.
    pub fn via(&self) -> Via {
        Via {
            signer: self.signer.clone(),
            xroad: self.xroad.clone(),
        }
    }
}

impl std::fmt::Debug for OutboundSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSecurity")
            .field("custom_tls", &self.tls.is_some())
            .field("signer", &self.signer)
            .field("xroad", &self.xroad)
            .finish()
    }
}

/// What every request of one destination passes through on its way out ([`execute`]): the
/// X-Road Security Server it is addressed to, then the RFC 9421 signer.
#[derive(Debug, Clone, Default)]
pub struct Via {
    /// Signs every request.
    pub signer: Option<Arc<RequestSigner>>,
    /// Sends every request through this Security Server.
    pub xroad: Option<Arc<crate::xroad::Route>>,
}

impl Via {
    /// Directly, unsigned.
    pub fn direct() -> Self {
        Self::default()
    }
}

/// Builds the outbound client of one destination: rustls with the platform's roots (or the
/// destination's trust store and client identity from `security`), TLS 1.2 minimum, bounded
/// connect and request times, no redirects (a portal that redirects a POST is misconfigured,
/// not to be followed silently).
///
/// Errors: the TLS backend cannot be initialised.
pub fn client(
    connect_timeout: Duration,
    timeout: Duration,
    security: &OutboundSecurity,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = match &security.tls {
        Some(tls) => reqwest::Client::builder().tls_backend_preconfigured(tls.clone()),
        None => reqwest::Client::builder(),
    };
    builder
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .pool_idle_timeout(Duration::from_secs(60))
        // The server certificate of each answer goes into the audit log (crate::evidence).
        .tls_info(true)
        .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Whether `url` parses as an absolute http(s) URL (configuration checks).
pub fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// `Retry-After` as seconds or an HTTP date; `None` when absent or unreadable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Whether a status means "try again later": 408, 429 and every 5xx.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Classifies a failed call that got no answer (connect error, timeout, reset).
pub fn transport_error(e: &reqwest::Error) -> Outcome {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else if e.is_body() || e.is_decode() {
        "connection lost while reading the answer"
    } else {
        "request failed"
    };
    Outcome::retry(format!("{what}: {}", error_chain(e)))
}

/// Classifies a non-success HTTP status (anything but 2xx and 401, which transports handle).
pub fn status_error(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    let snippet: String = body.chars().take(300).collect();
    let error = format!("HTTP {}: {}", status.as_u16(), snippet.trim());
    if is_retryable_status(status) {
        Outcome::Retry {
            error,
            http_status: Some(status.as_u16()),
            retry_after: retry_after(headers),
            portal: None,
        }
    } else {
        Outcome::Reject {
            error,
            http_status: Some(status.as_u16()),
            portal: None,
        }
    }
}

/// Reads a 2xx answer as JSON; a non-2xx status is classified by [`status_error`], and a 2xx
/// body that is not JSON (a proxy's page, a maintenance page) is not a receipt: retried.
///
/// Errors: the outcome to report.
pub fn json_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Result<serde_json::Value, Outcome> {
    if !status.is_success() {
        return Err(status_error(status, headers, body));
    }
    serde_json::from_str(body).map_err(|_| {
        let snippet: String = body.chars().take(200).collect();
        Outcome::Retry {
            error: format!("unreadable answer (not JSON): {snippet}"),
            http_status: Some(status.as_u16()),
            retry_after: None,
            portal: None,
        }
    })
}

/// Sends one request of a destination, the one way every connector's requests go out: a
/// streamed body (a multipart form) is read into memory first, so that what is signed, hashed
/// and recorded is what is sent; through X-Road it is addressed to the Security Server
/// ([`crate::xroad::Route::prepare`], with the dossier of [`crate::evidence::issue`]); then it
/// is signed (RFC 9421), recorded for the audit log and sent. An X-Road error answer is
/// classified here; any other answer is the caller's to read.
///
/// Errors: the outcome to report (retry for transport failures and a mismatched X-Road request
/// hash, local when the signing key is unavailable for now, reject when the request cannot be
/// signed or addressed, the X-Road error's classification).
pub async fn execute(
    client: &reqwest::Client,
    mut req: reqwest::Request,
    via: &Via,
) -> Result<reqwest::Response, Outcome> {
    if let Some(body) = req.body_mut().take() {
        *req.body_mut() = Some(buffered(body).await?);
    }
    let mut sent = match &via.xroad {
        Some(route) => Some(route.prepare(&mut req, crate::evidence::issue().as_deref())?),
        None => None,
    };
    if let Some(s) = &via.signer {
        req = crate::signing::sign_request(s, req).await?;
    }
    if let (Some(route), Some(sent)) = (&via.xroad, &mut sent) {
        route.seal(sent, &req);
    }
    record(&req);
    let resp = client.execute(req).await.map_err(|e| transport_error(&e))?;
    crate::evidence::record_response(&resp);
    match (&via.xroad, &sent) {
        (Some(route), Some(sent)) => route.answer(sent, resp).await,
        _ => Ok(resp),
    }
}

/// `body` in memory (it is already, unless it is a stream such as a multipart form).
async fn buffered(body: reqwest::Body) -> Result<reqwest::Body, Outcome> {
    if body.as_bytes().is_some() {
        return Ok(body);
    }
    use http_body_util::BodyExt;
    let bytes = body
        .collect()
        .await
        .map_err(|e| Outcome::retry(format!("cannot read the request body: {e}")))?
        .to_bytes();
    Ok(reqwest::Body::from(bytes))
}

/// Sends a request through [`execute`] and reads the whole answer (at most
/// [`MAX_ANSWER_BYTES`]).
///
/// Errors: those of [`execute`], and a retry for an answer too large to read.
pub async fn send(
    req: reqwest::RequestBuilder,
    via: &Via,
) -> Result<(StatusCode, HeaderMap, String), Outcome> {
    let (client, built) = req.build_split();
    let built = built.map_err(|e| Outcome::retry(format!("cannot build the request: {e}")))?;
    let resp = execute(&client, built, via).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = read_text(resp, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| Outcome::retry(e.to_string()))?;
    Ok((status, headers, text))
}

/// Records a request about to go out for the audit log ([`crate::evidence`]).
pub fn record(req: &reqwest::Request) {
    let body = req
        .body()
        .and_then(reqwest::Body::as_bytes)
        .unwrap_or_default();
    let signature = req
        .headers()
        .get("signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    crate::evidence::record_request(body, signature);
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).expect("header"),
        );
        let got = retry_after(&h).expect("date");
        assert!(
            got > Duration::from_secs(100) && got <= Duration::from_secs(120),
            "{got:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    /// A server on loopback answering every request with `head` and then `chunks` chunks of
    /// 64 KiB (chunked encoding when `head` says so), for as long as the client reads.
    async fn answering(head: &'static str, chunks: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    for _ in 0..chunks {
                        let framed = if head.contains("chunked") {
                            let mut f = format!("{:x}\r\n", chunk.len()).into_bytes();
                            f.extend_from_slice(&chunk);
                            f.extend_from_slice(b"\r\n");
                            f
                        } else {
                            chunk.clone()
                        };
                        if sock.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                    if head.contains("chunked") {
                        let _ = sock.write_all(b"0\r\n\r\n").await;
                    }
                });
            }
        });
        format!("http://{addr}/")
    }

    /// Answers are read with a byte limit: announced or streamed past it, reading stops; the
    /// delivery is retried, never held in memory whole.
    #[tokio::test]
    async fn answers_are_read_with_a_byte_limit() {
        let client = reqwest::Client::new();
        let small = answering("HTTP/1.1 200 OK\r\nContent-Length: 131072\r\n\r\n", 2).await;
        let body = read_limited(client.get(&small).send().await.unwrap(), 200_000)
            .await
            .unwrap();
        assert_eq!(body.len(), 131_072);
        let announced = answering("HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n", 1).await;
        let err = read_limited(client.get(&announced).send().await.unwrap(), 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(err, ReadError::TooLarge { limit: 1 << 20 });
        // Chunked, no length announced, and it would go on for 6 GiB: stops past the limit.
        let endless = answering(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            100_000,
        )
        .await;
        let err = read_limited(client.get(&endless).send().await.unwrap(), 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(err, ReadError::TooLarge { limit: 1 << 20 });
        // Through `send`, a portal's oversized answer is a retry naming the limit.
        let outcome = send(client.get(&endless), &Via::direct())
            .await
            .unwrap_err();
        assert_eq!(outcome.label(), "retry");
        assert!(
            outcome
                .error()
                .is_some_and(|e| e.contains(&MAX_ANSWER_BYTES.to_string())),
            "{outcome:?}"
        );
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        for s in [408, 429, 500, 502, 503, 504] {
            let st = StatusCode::from_u16(s).expect("status");
            assert_eq!(status_error(st, &h, "").label(), "retry", "{s}");
        }
        for s in [400, 403, 404, 409, 422] {
            let st = StatusCode::from_u16(s).expect("status");
            assert_eq!(status_error(st, &h, "bad").label(), "rejected", "{s}");
        }
    }
}
