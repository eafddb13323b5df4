//! Signing outbound messages off the async runtime, and what a signing failure means.
//!
//! A signature may go through a PKCS#11 token (a USB token answers in tens to hundreds of
//! milliseconds; RSA in memory takes about a millisecond): either way it is blocking work, so
//! it runs on tokio's blocking pool, never on a runtime worker that other deliveries share.
//! A key on a token that cannot be used just now (pulled out, failing) makes the attempt a
//! *local* failure ([`Outcome::Local`]): not the destination's fault, so its circuit breaker is
//! not fed, and the message goes out when the key is back. Any other signing failure is
//! permanent for that message (a *reject*).

use std::sync::Arc;

use lienthong_certs::httpsig::HttpSigError;
use lienthong_certs::xmldsig::{DsigError, Signer};

use crate::Outcome;
use crate::http::RequestSigner;

/// Runs `work` on the blocking pool.
///
/// Errors: the work panicked or the runtime is shutting down (a retry: nothing was sent).
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Outcome> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Outcome::retry(format!("signing did not finish: {e}")))
}

/// Signs `req` with RFC 9421 (see [`RequestSigner::sign`]) and gives it back.
///
/// Errors: a local failure when the key is unavailable for now, a reject otherwise.
pub async fn sign_request(
    signer: &Arc<RequestSigner>,
    mut req: reqwest::Request,
) -> Result<reqwest::Request, Outcome> {
    let signer = Arc::clone(signer);
    off_runtime(move || signer.sign(&mut req).map(|()| req))
        .await?
        .map_err(|e| match e {
            HttpSigError::KeyUnavailable(_) => {
                Outcome::local(format!("cannot sign the request: {e}"))
            }
            e => Outcome::reject(format!("cannot sign the request: {e}")),
        })
}

/// Signs the XML document `xml` with `sign` (enveloped placement of the caller's choice).
///
/// Errors: a local failure when the key is unavailable for now, a reject otherwise.
pub async fn sign_xml(
    signer: &Signer,
    xml: String,
    sign: fn(&str, &Signer) -> Result<String, DsigError>,
) -> Result<String, Outcome> {
    let signer = signer.clone();
    off_runtime(move || sign(&xml, &signer))
        .await?
        .map_err(|e| {
            if e.is_transient() {
                Outcome::local(format!("cannot sign: {e}"))
            } else {
                Outcome::reject(format!("cannot sign: {e}"))
            }
        })
}
