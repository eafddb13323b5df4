//! X-Road through the member's own Security Server (PR-REST, protocol `r1`).
//!
//! Any HTTP destination can be reached through a Security Server instead of directly
//! (`[destinations.<name>.xroad]`): the shared send ([`crate::http::execute`]) hands every
//! request of such a destination to [`Route::prepare`] before it is signed and sent, and the
//! answer to [`Route::answer`]. Connectors do not know; their requests keep their method, path
//! suffix, query, body and content headers.
//!
//! - The request goes to `{security_server}/r1/{serviceId}{path}?{query}` with `X-Road-Client`,
//!   a fresh `X-Road-Id` per attempt and `X-Road-Issue` = the dossier code ([`id`] encodes
//!   each identifier part on its own).
//! - An answer carrying `X-Road-Error` is the Security Servers' ([`classify`]): `Client.*` and
//!   access or configuration refusals are permanent, other `Server.*` errors temporary.
//!   Without it, the provider answered, and the kind classifies its answer as usual.
//! - `X-Road-Id`, `X-Road-Request-Id` and `X-Road-Request-Hash` go into the attempt's evidence;
//!   the request hash is checked against what was sent ([`hash`]): a mismatch fails the
//!   attempt, loudly.
//!
//! The TLS of the destination (`[destinations.<name>.tls]`) is then the connection to the
//! Security Server: plain HTTP, server-authenticated HTTPS or mutual TLS, as the Security
//! Server's connection type for this client says.

pub mod hash;
pub mod id;

use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::{ConfigProblem, Outcome, PortalAnswer};
pub use hash::PendingHash;
pub use id::{ClientId, IdError, ServiceId};

/// `X-Road-Client`.
pub const CLIENT: &str = "x-road-client";
/// `X-Road-Id`.
pub const ID: &str = "x-road-id";
/// `X-Road-Issue`.
pub const ISSUE: &str = "x-road-issue";
/// `X-Road-Error`.
pub const ERROR: &str = "x-road-error";
/// `X-Road-Request-Id`.
pub const REQUEST_ID: &str = "x-road-request-id";
/// `X-Road-Request-Hash`.
pub const REQUEST_HASH: &str = "x-road-request-hash";

/// Longest error answer of a Security Server read for its message.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// `[destinations.<name>.xroad]`: reach the destination through this member's Security Server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XRoadConfig {
    /// The Security Server's address for information systems, e.g. `https://ss.tinh.gov.vn`
    /// (`http://` where its connection type for this client is HTTP).
    pub security_server: String,
    /// This center's client subsystem: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`.
    pub client: String,
    /// The service called: `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`.
    pub service: String,
    /// `check` (default): an answer whose `X-Road-Request-Hash` is not the hash of what was sent
    /// fails the attempt; `keep`: the hash is recorded without being checked.
    #[serde(default)]
    pub request_hash: RequestHash,
}

/// What to do with an answer's `X-Road-Request-Hash`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestHash {
    /// Check it against the request sent; a mismatch fails the attempt.
    #[default]
    Check,
    /// Record it only.
    Keep,
}

impl XRoadConfig {
    /// What is wrong in it, keys relative to the `xroad` table.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if let Err(e) = security_server(&self.security_server) {
            out.push(ConfigProblem::new("security_server", e.to_string()));
        }
        if let Err(e) = ClientId::parse(&self.client) {
            out.push(ConfigProblem::new("client", e.to_string()));
        }
        if let Err(e) = ServiceId::parse(&self.service) {
            out.push(ConfigProblem::new("service", e.to_string()));
        }
        out
    }
}

/// Why a Security Server or service URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not a URL (the parser's reason).
    #[error("not a URL: {0}")]
    NotAUrl(String),
    /// Another scheme than http(s).
    #[error("must be an http:// or https:// URL")]
    NotHttp,
    /// A Security Server URL with a query or fragment.
    #[error("must not have a query or fragment")]
    QueryOrFragment,
    /// The service's URL cannot be built from the request's (the parser's reason).
    #[error("cannot address the service: {0}")]
    Unaddressable(String),
}

/// The Security Server's base URL: http(s), no query or fragment, without a trailing `/`.
fn security_server(url: &str) -> Result<reqwest::Url, AddressError> {
    let u = reqwest::Url::parse(url).map_err(|e| AddressError::NotAUrl(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(AddressError::NotHttp);
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(AddressError::QueryOrFragment);
    }
    Ok(u)
}

/// A destination's way through the Security Server.
#[derive(Debug, Clone)]
pub struct Route {
    base: String,
    client: ClientId,
    service: ServiceId,
    request_hash: RequestHash,
}

/// What a prepared request will be checked against when its answer comes.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The `X-Road-Id` sent.
    pub id: String,
    /// The hash input, once the request is final (after signing).
    pub hash: Option<PendingHash>,
}

impl Route {
    /// The route of `config`.
    ///
    /// Errors: the first of [`XRoadConfig::problems`].
    pub fn new(config: &XRoadConfig) -> Result<Self, ConfigProblem> {
        if let Some(p) = config.problems().into_iter().next() {
            return Err(p);
        }
        let base = security_server(&config.security_server)
            .map_err(|e| ConfigProblem::new("security_server", e.to_string()))?;
        Ok(Self {
            base: base.as_str().trim_end_matches('/').to_owned(),
            client: ClientId::parse(&config.client)
                .map_err(|e| ConfigProblem::new("client", e.to_string()))?,
            service: ServiceId::parse(&config.service)
                .map_err(|e| ConfigProblem::new("service", e.to_string()))?,
            request_hash: config.request_hash,
        })
    }

    /// The Security Server's address (for probes).
    pub fn security_server(&self) -> &str {
        &self.base
    }

    /// The service called.
    pub fn service(&self) -> &ServiceId {
        &self.service
    }

    /// The URL a request for `original` goes to: the Security Server, `/r1/{serviceId}`, then
    /// the original path (a bare `/` adds nothing) and query.
    ///
    /// Errors: [`AddressError::Unaddressable`].
    pub fn url_for(&self, original: &reqwest::Url) -> Result<reqwest::Url, AddressError> {
        let mut url = format!("{}/r1/{}", self.base, self.service.encoded());
        if original.path() != "/" {
            url.push_str(original.path());
        }
        if let Some(q) = original.query() {
            url.push('?');
            url.push_str(q);
        }
        reqwest::Url::parse(&url).map_err(|e| AddressError::Unaddressable(e.to_string()))
    }

    /// Turns `req` into a PR-REST call: the Security Server's URL, `X-Road-Client`, a fresh
    /// `X-Road-Id`, `X-Road-Issue` = `issue` (the dossier code) and an explicit `Accept` (what
    /// the client would send anyway, so that the request hash covers what was sent). X-Road
    /// headers the connector set are replaced.
    ///
    /// Errors: a reject when the URL cannot be built (nothing was sent).
    pub fn prepare(
        &self,
        req: &mut reqwest::Request,
        issue: Option<&str>,
    ) -> Result<Sent, Outcome> {
        *req.url_mut() = self
            .url_for(req.url())
            .map_err(|e| Outcome::reject(e.to_string()))?;
        let headers = req.headers_mut();
        for name in [CLIENT, ID, ISSUE, REQUEST_ID, REQUEST_HASH] {
            headers.remove(name);
        }
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let value = |v: &str| {
            HeaderValue::from_str(v).map_err(|e| Outcome::reject(format!("X-Road header: {e}")))
        };
        headers.insert(
            HeaderName::from_static(CLIENT),
            value(&self.client.encoded())?,
        );
        headers.insert(HeaderName::from_static(ID), value(&id)?);
        if let Some(issue) = issue {
            // A dossier code is ASCII; anything else goes percent-encoded rather than not at all.
            let issue = percent_encoding::utf8_percent_encode(issue, percent_encoding::CONTROLS)
                .to_string();
            headers.insert(HeaderName::from_static(ISSUE), value(&issue)?);
        }
        headers
            .entry(reqwest::header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        Ok(Sent { id, hash: None })
    }

    /// Records the final request's hash input in `sent` (after signing: what goes out).
    pub fn seal(&self, sent: &mut Sent, req: &reqwest::Request) {
        if self.request_hash == RequestHash::Keep {
            return;
        }
        let url = req.url();
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let body = req
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        sent.hash = Some(PendingHash::of(
            req.method().as_str(),
            &path,
            req.headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes())),
            body,
        ));
    }

    /// Reads the Security Server's part of an answer: an `X-Road-Error` is classified here (the
    /// provider's answer is left to the kind); the X-Road ids go into the attempt's evidence and
    /// the request hash is checked.
    ///
    /// Errors: the outcome of an X-Road error, or a retry when the request hash does not match.
    pub async fn answer(
        &self,
        sent: &Sent,
        resp: reqwest::Response,
    ) -> Result<reqwest::Response, Outcome> {
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header(REQUEST_ID);
        let request_hash = header(REQUEST_HASH);
        crate::evidence::record_xroad(crate::evidence::XRoadEvidence {
            id: header(ID).unwrap_or_else(|| sent.id.clone()),
            request_id: request_id.clone(),
            request_hash: request_hash.clone(),
        });
        if let Some(kind) = header(ERROR) {
            let status = resp.status();
            let body = crate::read::read_limited(resp, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            return Err(classify(&kind, status.as_u16(), &body));
        }
        if let (Some(expected), Some(got)) = (&sent.hash, &request_hash) {
            let ours = expected.finish(request_id.as_deref());
            if ours != *got {
                tracing::error!(
                    service = %self.service,
                    x_road_id = sent.id,
                    request_id = request_id.as_deref().unwrap_or("-"),
                    returned = got,
                    computed = ours,
                    "X-ROAD REQUEST HASH MISMATCH: the answer is not proven to answer this request; the attempt failed"
                );
                return Err(Outcome::retry(format!(
                    "X-Road request hash mismatch (X-Road-Id {}): the Security Server returned {got}, the request sent hashes to {ours}",
                    sent.id
                )));
            }
        }
        Ok(resp)
    }
}

/// The error body of a Security Server (`type`, `message`, `detail`).
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: String,
}

/// Refusals that no retry will cure: access rights and the global configuration.
const PERMANENT: &[&str] = &[
    "AccessDenied",
    "ServiceDisabled",
    "UnknownService",
    "UnknownMember",
    "UnknownSubsystem",
];

/// Whether an `X-Road-Error` type is permanent: the client broke the protocol (`Client.*`) or
/// is refused access or addressed what does not exist; every other (`Server.*`: network,
/// database, timeouts, certificates on a Security Server) is temporary.
pub fn is_permanent(kind: &str) -> bool {
    kind.starts_with("Client.")
        || kind
            .rsplit('.')
            .next()
            .is_some_and(|last| PERMANENT.contains(&last))
}

/// The outcome of an answer carrying `X-Road-Error: kind` with `status` and `body`: the type goes
/// into the attempt as the "portal code" (what an operator sees on the dead letter).
pub fn classify(kind: &str, status: u16, body: &[u8]) -> Outcome {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message: String = parsed.message.chars().take(300).collect();
    let mut error = format!("X-Road {kind} (HTTP {status})");
    if !message.is_empty() {
        error.push_str(": ");
        error.push_str(&message);
    }
    if !parsed.detail.is_empty() {
        error.push_str(&format!(" [detail {}]", parsed.detail));
    }
    let portal = Some(PortalAnswer {
        code: kind.to_owned(),
        message,
        reference: None,
    });
    if is_permanent(kind) {
        Outcome::Reject {
            error,
            http_status: Some(status),
            portal,
        }
    } else {
        Outcome::Retry {
            error,
            http_status: Some(status),
            retry_after: None,
            portal,
        }
    }
}

#[cfg(test)]
mod tests;
