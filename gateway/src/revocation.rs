//! OCSP in the daemon: the HTTP transport the certs crate's [`RevocationChecker`] sends
//! through, and what each decision leaves behind (a metric and a log line).
//!
//! One checker lives in the [`crate::security::SecurityHandle`] for the life of the process,
//! so its cache of answers survives configuration reloads (an answer is a CA's signed statement
//! about one certificate, true until its `nextUpdate` whatever the configuration says).
//!
//! Metric: `lienthong_ocsp_checks_total{store, result, cached, decision}` with `result` one of
//! `good`, `revoked`, `unknown`, `unreachable`, `invalid`, `no-responder` and `decision` one of
//! `accepted`, `refused`, `crl`.

use std::sync::Arc;
use std::time::Duration;

use lienthong_certs::revocation::{Fetch, OcspTransport, Report, RevocationChecker};

/// The largest OCSP answer read (a basic response with a responder chain is a few KiB).
const MAX_ANSWER: u64 = 64 * 1024;

/// Posts OCSP requests over HTTP: no proxy, no redirects, TLS verified with the platform's
/// roots for `https://` responders (most are plain `http://`, as RFC 6960 expects, the answer
/// being signed). The time limit is the trust store's `ocsp_timeout`, applied by the checker.
#[derive(Debug)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A transport with its own connection pool.
    ///
    /// Errors: the HTTP client cannot be built (no TLS backend).
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

impl OcspTransport for HttpTransport {
    fn post<'a>(&'a self, url: &'a str, request: &'a [u8]) -> Fetch<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/ocsp-request")
                .header(reqwest::header::ACCEPT, "application/ocsp-response")
                .body(request.to_vec())
                .send()
                .await
                .map_err(|e| format!("{url}: {}", lienthong_connectors::http::error_chain(&e)))?;
            if !resp.status().is_success() {
                return Err(format!("{url} answered HTTP {}", resp.status()));
            }
            lienthong_connectors::http::read_limited(resp, MAX_ANSWER)
                .await
                .map_err(|e| format!("{url}: {e}"))
        })
    }
}

/// The process's checker: HTTP transport, metrics and logs.
///
/// Errors: the HTTP client cannot be built.
pub fn checker() -> Result<RevocationChecker, reqwest::Error> {
    Ok(RevocationChecker::new(Arc::new(HttpTransport::new()?)).with_observer(Arc::new(observe)))
}

fn observe(r: &Report) {
    metrics::counter!(
        "lienthong_ocsp_checks_total",
        "store" => r.store.clone(),
        "result" => r.result,
        "cached" => if r.cached { "true" } else { "false" },
        "decision" => r.decision,
    )
    .increment(1);
    match (r.result, r.decision) {
        ("good", _) => tracing::debug!(
            store = %r.store, subject = %r.subject, responder = %r.responder, cached = r.cached,
            "OCSP: good"
        ),
        (_, "refused") => tracing::warn!(
            store = %r.store, subject = %r.subject, responder = %r.responder, result = r.result,
            cached = r.cached, detail = %r.detail,
            "OCSP: certificate refused"
        ),
        _ => tracing::warn!(
            store = %r.store, subject = %r.subject, responder = %r.responder, result = r.result,
            decision = r.decision, cached = r.cached, detail = %r.detail,
            "OCSP: no status from the responder; accepted by policy"
        ),
    }
}
