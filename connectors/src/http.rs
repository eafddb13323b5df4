//! HTTP helpers shared by connectors: the client, and the generic reading of an HTTP answer.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::Outcome;

/// Builds the outbound client of one destination: rustls with the platform's roots, TLS 1.2
/// minimum, bounded connect and request times, no redirects (a portal that redirects a POST is
/// misconfigured, not to be followed silently).
///
/// Errors: the TLS backend cannot be initialised.
pub fn client(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
        .build()
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
