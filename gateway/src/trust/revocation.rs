//! OCSP in the daemon: the HTTP transport the certs crate's [`RevocationChecker`] sends
//! through, and what each decision leaves behind (a metric and a log line).
//!
//! One checker lives in the [`crate::trust::security::SecurityHandle`] for the life of the process; its
//! cache of answers (kept until each answer's `nextUpdate`) is emptied by every configuration
//! reload, so an urgent revocation is seen at once when the operator reloads (RUNBOOK: "A
//! peer's key is compromised"). A destination's stapled answer, judged inside the TLS
//! handshake ([`lienthong_certs::tls::StapledOcspVerifier`]), is reported to the same observer.
//!
//! [`staple`] keeps an OCSP answer about the listener's own certificate stapled to its
//! handshakes: fetched at start and after each reload, refreshed half-way to its `nextUpdate`
//! (between 30 s and an hour), kept through a failed refresh while it is still valid.
//!
//! Metrics: `lienthong_ocsp_checks_total{store, result, cached, decision}` with `result` one of
//! `good`, `revoked`, `unknown`, `unreachable`, `invalid`, `no-responder` and `decision` one of
//! `accepted`, `refused`, `crl`; `lienthong_ocsp_staple_valid_seconds`, how long the stapled
//! answer stays valid (0: nothing stapled).

use std::sync::Arc;
use std::time::Duration;

use lienthong_certs::ocsp::Status;
use lienthong_certs::revocation::{Fetch, OcspTransport, Report, RevocationChecker};
use lienthong_certs::tls::StaplingResolver;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::trust::security::SecurityHandle;

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
    Ok(RevocationChecker::new(Arc::new(HttpTransport::new()?)).with_observer(observer()))
}

/// The observer every OCSP decision is reported to (metric and log line), the checker's and the
/// stapled answers' of destinations' TLS servers.
pub fn observer() -> lienthong_certs::revocation::Observer {
    Arc::new(observe)
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

/// How long one stapling fetch may take.
const STAPLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the task looks for a reload (a new listener certificate) or a due refresh.
const STAPLE_TICK: Duration = Duration::from_secs(5);

/// Keeps an OCSP answer about the listener's certificate stapled (see the module doc), until
/// `stop`. Does nothing while `[server.tls]` staples nothing.
pub async fn staple(security: Arc<SecurityHandle>, stop: CancellationToken) {
    let mut current: Option<Arc<StaplingResolver>> = None;
    let mut due = OffsetDateTime::now_utc();
    let mut valid_until: Option<OffsetDateTime> = None;
    let mut warned_no_issuer = false;
    loop {
        let now = OffsetDateTime::now_utc();
        if let Some(st) = security.current().listener_staple.clone() {
            if !current
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &st.resolver))
            {
                // Started, or reloaded: the new resolver has no answer yet.
                current = Some(st.resolver.clone());
                due = now;
                valid_until = None;
            }
            match &st.issuer_spki {
                None if !warned_no_issuer => {
                    warned_no_issuer = true;
                    tracing::warn!(
                        responder = %st.responder,
                        "no OCSP stapling: server.tls.cert holds no issuer certificate after the leaf (append the issuing CA's certificate to the file)"
                    );
                }
                None => {}
                Some(issuer) if now >= due => {
                    let fetched = security
                        .revocation()
                        .fetch_for_staple(&st.responder, &st.leaf, issuer, STAPLE_TIMEOUT)
                        .await;
                    let now = OffsetDateTime::now_utc();
                    match fetched {
                        Ok((der, answer)) if answer.status == Status::Good => {
                            st.resolver.staple(Some(der));
                            valid_until = answer.next_update;
                            due = now + refresh_after(now, answer.next_update);
                            tracing::info!(responder = %st.responder, next_update = ?answer.next_update, "OCSP answer stapled");
                        }
                        Ok((_, answer)) => {
                            st.resolver.staple(None);
                            valid_until = None;
                            due = now + time::Duration::minutes(5);
                            tracing::error!(
                                responder = %st.responder, status = ?answer.status,
                                "the listener's own certificate is not good according to its CA: not stapled; replace the certificate"
                            );
                        }
                        Err(e) => {
                            due = now + time::Duration::minutes(1);
                            if valid_until.is_none_or(|v| v <= now) && st.resolver.is_stapling() {
                                st.resolver.staple(None);
                                valid_until = None;
                            }
                            tracing::warn!(responder = %st.responder, error = %e, "OCSP answer for stapling not refreshed; trying again in a minute");
                        }
                    }
                }
                Some(_) => {}
            }
            let left = match valid_until {
                Some(v) if st.resolver.is_stapling() => (v - now).whole_seconds().max(0),
                _ => 0,
            };
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("lienthong_ocsp_staple_valid_seconds").set(left as f64);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(STAPLE_TICK) => {}
        }
    }
}

/// Half-way to `next_update`, between 30 s and an hour; five minutes when there is none.
fn refresh_after(now: OffsetDateTime, next_update: Option<OffsetDateTime>) -> time::Duration {
    match next_update {
        Some(next) => {
            let half: time::Duration = (next - now) / 2_i32;
            half.clamp(time::Duration::seconds(30), time::Duration::HOUR)
        }
        None => time::Duration::minutes(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stapled_answers_are_refreshed_half_way_within_bounds() {
        let now = OffsetDateTime::now_utc();
        let m = time::Duration::minutes;
        assert_eq!(refresh_after(now, Some(now + m(10))), m(5));
        assert_eq!(refresh_after(now, Some(now + m(600))), time::Duration::HOUR);
        assert_eq!(
            refresh_after(now, Some(now + m(0))),
            time::Duration::seconds(30)
        );
        assert_eq!(refresh_after(now, None), m(5));
    }
}
