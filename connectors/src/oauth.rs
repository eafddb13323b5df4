//! OAuth2 client credentials (RFC 6749 §4.4), as the national and provincial integration
//! platforms (LGSP, the national data-sharing platform) issue tokens to the systems behind them:
//! `POST {token_url}` with `grant_type=client_credentials&client_id=..&client_secret=..` →
//! `{access_token, expires_in}`, then `Authorization: Bearer` on every call.
//!
//! One [`TokenSource`] per destination caches its token until `token_margin` before it expires;
//! a call answered 401 drops the token and is tried once more with a fresh one (a token revoked
//! early, or a clock that disagrees). A token endpoint that fails is a temporary failure.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_certs::Secret;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::http::{RequestSigner, send};
use crate::{BuildError, ConfigProblem, Outcome};

/// `[destinations.<name>.oauth]`: client credentials for a platform that issues Bearer tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Token endpoint, e.g. `https://lgsp.ninhbinh.gov.vn/token`.
    pub token_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret; prefer `client_secret_file`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// File holding the client secret (e.g. a systemd credential).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// A cached token is renewed this long before it expires (`30s`).
    #[serde(default = "default_margin", with = "crate::serde_duration")]
    pub token_margin: Duration,
}

const fn default_margin() -> Duration {
    Duration::from_secs(30)
}

impl OAuthConfig {
    /// Every problem of the table, with keys relative to the destination (`oauth.token_url`).
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if !crate::http::is_http_url(&self.token_url) {
            p.push(ConfigProblem::new(
                "oauth.token_url",
                "must be an http(s) URL",
            ));
        }
        if self.client_secret.is_none() && self.client_secret_file.is_none() {
            p.push(ConfigProblem::new(
                "oauth.client_secret",
                "missing (or client_secret_file)",
            ));
        }
        p
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens without `expires_in` are used for this long.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Issues and caches the Bearer token of one destination.
pub struct TokenSource {
    client: reqwest::Client,
    signer: Option<Arc<RequestSigner>>,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    margin: Duration,
    /// The cached token and when to stop using it.
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source calling `token_url` with the destination's client (its TLS settings) and
    /// request signer.
    pub fn new(
        client: reqwest::Client,
        signer: Option<Arc<RequestSigner>>,
        token_url: String,
        client_id: String,
        client_secret: Secret,
        margin: Duration,
    ) -> Self {
        Self {
            client,
            signer,
            token_url,
            client_id,
            client_secret,
            margin,
            cached: Mutex::new(None),
        }
    }

    /// A token source from an `[oauth]` table.
    ///
    /// Errors: configuration problems, or the secret file cannot be read.
    pub fn from_config(
        config: &OAuthConfig,
        client: reqwest::Client,
        signer: Option<Arc<RequestSigner>>,
    ) -> Result<Self, BuildError> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(BuildError::Config(problems));
        }
        let secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(s), _) => s.clone(),
            (None, Some(f)) => Secret::from_file(f)?,
            (None, None) => {
                return Err(BuildError::Config(vec![ConfigProblem::new(
                    "oauth.client_secret",
                    "missing",
                )]));
            }
        };
        Ok(Self::new(
            client,
            signer,
            config.token_url.clone(),
            config.client_id.clone(),
            secret,
            config.token_margin,
        ))
    }

    async fn fetch(&self) -> Result<(String, Instant), Outcome> {
        let req = self.client.post(&self.token_url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ]);
        let (status, headers, text) = send(req, self.signer.as_ref()).await?;
        if !status.is_success() {
            let o = crate::http::status_error(status, &headers, &text);
            // Even a 4xx from the token endpoint is retried: credentials get fixed by an
            // operator (and a reload), the messages should not die meanwhile.
            return Err(Outcome::Retry {
                error: format!("token refused: {}", o.error().unwrap_or_default()),
                http_status: Some(status.as_u16()),
                retry_after: crate::http::retry_after(&headers),
                portal: None,
            });
        }
        let answer: TokenAnswer = serde_json::from_str(&text)
            .map_err(|e| Outcome::retry(format!("token answer unreadable: {e}")))?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let until = Instant::now() + lifetime.saturating_sub(self.margin);
        Ok((answer.access_token, until))
    }

    /// The HTTP client tokens are fetched with (the destination's TLS identity).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// The current token, fetched when there is none or it is about to expire.
    ///
    /// Errors: the token endpoint failed (a retry outcome).
    pub async fn token(&self) -> Result<String, Outcome> {
        let mut guard = self.cached.lock().await;
        if let Some((t, until)) = guard.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let (t, until) = self.fetch().await?;
        *guard = Some((t.clone(), until));
        Ok(t)
    }

    /// Drops `used` if it is still the cached token (another task may have renewed it).
    pub async fn forget(&self, used: &str) {
        let mut guard = self.cached.lock().await;
        if guard.as_ref().is_some_and(|(t, _)| t == used) {
            *guard = None;
        }
    }

    /// Sends `build(bearer token)` and reads the answer; a 401 drops the token and the request
    /// is built and sent once more with a fresh one. The second 401 is returned as it is.
    ///
    /// Errors: the token could not be had, or the transport failed (outcomes to report).
    pub async fn send_authorized(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, String), Outcome> {
        let mut answer = None;
        for _ in 0..2 {
            let token = self.token().await?;
            let got = send(build(&token), self.signer.as_ref()).await?;
            if got.0 != StatusCode::UNAUTHORIZED {
                return Ok(got);
            }
            self.forget(&token).await;
            answer = Some(got);
        }
        answer.ok_or_else(|| Outcome::retry("no answer"))
    }
}

/// A destination's way out: its HTTP client (with its TLS settings), its RFC 9421 request signer,
/// and its Bearer tokens when it sits behind an integration platform (`[oauth]`).
pub struct Caller {
    client: reqwest::Client,
    signer: Option<Arc<RequestSigner>>,
    tokens: Option<TokenSource>,
}

impl Caller {
    /// Builds the client; with `oauth`, tokens are fetched (and renewed) from its endpoint.
    ///
    /// Errors: the `[oauth]` table has problems or its secret file cannot be read, or the
    /// client cannot be built.
    pub fn new(
        oauth: Option<&OAuthConfig>,
        connect_timeout: std::time::Duration,
        timeout: std::time::Duration,
        security: &crate::http::OutboundSecurity,
    ) -> Result<Self, BuildError> {
        let client = crate::http::client(connect_timeout, timeout, security)?;
        let tokens = oauth
            .map(|o| TokenSource::from_config(o, client.clone(), security.signer.clone()))
            .transpose()?;
        Ok(Self {
            client,
            signer: security.signer.clone(),
            tokens,
        })
    }

    /// Probes `url`: reaches it and, with tokens, fetches one.
    pub async fn healthcheck(&self, url: &str) -> crate::health::Health {
        crate::health::Health {
            reach: crate::health::reach(&self.client, url).await,
            auth: match &self.tokens {
                Some(t) => Some(crate::health::auth_result("token request", t.token().await)),
                None => None,
            },
        }
    }

    /// Sends `build(client)` and reads the answer: with tokens, authorized and retried once
    /// with a fresh token after a 401; without, signed when a signer is configured.
    ///
    /// Errors: the outcome to report (transport failure, token endpoint failure).
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, String), Outcome> {
        match &self.tokens {
            Some(t) => {
                t.send_authorized(|token| build(&self.client).bearer_auth(token))
                    .await
            }
            None => send(build(&self.client), self.signer.as_ref()).await,
        }
    }
}
