//! How the systems behind an integration platform (LGSP, the national data-sharing platform)
//! get and present their tokens, in the three variants client code written against real
//! platforms uses (format notes, `lgsp-access.md`; [`Access`]):
//! - `client-credentials` (variant C, RFC 6749 §4.4): `POST {token_url}` with
//!   `grant_type=client_credentials&client_id=..&client_secret=..` → `{access_token,
//!   expires_in}`, then `Authorization: Bearer` on every call;
//! - `lgspaccesstoken` (variant A): the same token request and calls, each also carrying the
//!   `lgspaccesstoken` header — base64 of the JSON of the five values the platform's operator
//!   issues (`AccessKey`, `SecretKey`, `AppName`, `PartnerCode`, `PartnerCodeCus`), read from
//!   `lgsp_credentials_file`, built once, never logged;
//! - `x-authentication-token` (variant B): `GET {token_url}` (the platform's token path and user
//!   id) with `lgspaccesstoken` and `X-Authentication-Token: <the platform's static key>`
//!   (`platform_key_file`) → `{"data":{"token":..}}`; every call then carries `lgspaccesstoken`
//!   and `X-Authentication-Token: <that token>`.
//!
//! One [`TokenSource`] per destination caches its token until `token_margin` before it expires;
//! a call answered 401 drops the token and is tried once more with a fresh one (a token revoked
//! early, or a clock that disagrees). A 403 is permanent (the platform does not allow this
//! partner the service: a dead letter naming it, until the operator acts); a 429 is temporary,
//! honouring `Retry-After`. A token endpoint that fails is a temporary failure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lienthong_certs::Secret;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::http::send;
use crate::{BuildError, ConfigProblem, Outcome};

/// `[destinations.<name>.oauth]`: client credentials for a platform that issues Bearer tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Token endpoint, e.g. `https://lgsp.ninhbinh.gov.vn/token`.
    pub token_url: String,
    /// Client id (client credentials; optional with `lgspaccesstoken`, unused with
    /// `x-authentication-token`).
    #[serde(default)]
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
    /// How the platform is accessed (`client-credentials`, `lgspaccesstoken`,
    /// `x-authentication-token`).
    #[serde(default)]
    pub access: Access,
    /// The five values of `lgspaccesstoken`, as a JSON object in a file (mode 0600).
    #[serde(default)]
    pub lgsp_credentials_file: Option<PathBuf>,
    /// `x-authentication-token`: the platform's static key, in a file (mode 0600).
    #[serde(default)]
    pub platform_key_file: Option<PathBuf>,
}

/// How a system authenticates to its integration platform ([`crate::oauth`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Variant C: OAuth2 client credentials, `Authorization: Bearer`.
    #[default]
    ClientCredentials,
    /// Variant A: client credentials behind `lgspaccesstoken`.
    Lgspaccesstoken,
    /// Variant B: a platform token in `X-Authentication-Token`, with `lgspaccesstoken`.
    XAuthenticationToken,
}

/// What a token source presents: the loaded credentials of one [`Access`] variant.
#[derive(Clone)]
pub enum Credential {
    /// Variant C.
    ClientCredentials {
        /// `client_id`.
        client_id: String,
        /// `client_secret`.
        client_secret: Secret,
    },
    /// Variant A: the `lgspaccesstoken` value, and client credentials when the platform wants
    /// them too.
    AccessToken {
        /// The header's value.
        header: Secret,
        /// `client_id` and `client_secret`, when configured.
        client: Option<(String, Secret)>,
    },
    /// Variant B: the `lgspaccesstoken` value and the platform's static key.
    PlatformToken {
        /// The header's value.
        header: Secret,
        /// `X-Authentication-Token` of the token request.
        platform_key: Secret,
    },
}

/// The names of the five values, in the order the observed clients write them.
const LGSP_FIELDS: [&str; 5] = [
    "AccessKey",
    "SecretKey",
    "AppName",
    "PartnerCode",
    "PartnerCodeCus",
];

/// The `lgspaccesstoken` value from the file holding the five values (a JSON object of strings):
/// base64 (standard, padded) of their JSON, in the documented order.
///
/// Errors: unreadable, not a JSON object, or a value missing or not a string (named).
pub fn lgspaccesstoken(path: &std::path::Path) -> Result<Secret, ConfigProblem> {
    let problem = |m: String| ConfigProblem::new("lgsp_credentials_file", m);
    let text = Secret::from_file(path).map_err(|e| problem(e.to_string()))?;
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text.expose())
        .map_err(|e| {
            problem(format!(
                "{} is not a JSON object of {}: {}",
                path.display(),
                LGSP_FIELDS.join(", "),
                e.classify_name()
            ))
        })?;
    let mut members = Vec::with_capacity(LGSP_FIELDS.len());
    for name in LGSP_FIELDS {
        let value = object
            .get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| problem(format!("{} has no string {name}", path.display())))?;
        members.push(format!(
            "{}:{}",
            serde_json::Value::String(name.to_owned()),
            serde_json::Value::String(value.to_owned())
        ));
    }
    let json = format!("{{{}}}", members.join(","));
    Ok(Secret::new(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        json,
    )))
}

/// Names serde_json's error kind without quoting the file (it holds a secret).
trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "a syntax error",
            serde_json::error::Category::Data => "not an object",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// Checks the access keys of a table (`prefix` is `oauth.` or empty for DVCQG's LGSP keys).
pub fn access_problems(
    access: Access,
    client_id: &str,
    has_secret: bool,
    credentials_file: Option<&std::path::Path>,
    platform_key_file: Option<&std::path::Path>,
    prefix: &str,
) -> Vec<ConfigProblem> {
    let key = |k: &str| format!("{prefix}{k}");
    let mut p = Vec::new();
    // Whether a named file exists is checked with every other file the configuration names
    // (`check-config`, then loading).
    let mut file = |k: &str, f: Option<&std::path::Path>, why: &str| {
        if f.is_none() {
            p.push(ConfigProblem::new(
                key(k),
                format!("required with access = \"{why}\""),
            ));
        }
    };
    match access {
        Access::ClientCredentials => {
            if client_id.trim().is_empty() {
                p.push(ConfigProblem::new(key("client_id"), "required"));
            }
            if !has_secret {
                p.push(ConfigProblem::new(
                    key("client_secret"),
                    "missing (or client_secret_file)",
                ));
            }
        }
        Access::Lgspaccesstoken => {
            file("lgsp_credentials_file", credentials_file, "lgspaccesstoken");
        }
        Access::XAuthenticationToken => {
            file(
                "lgsp_credentials_file",
                credentials_file,
                "x-authentication-token",
            );
            file(
                "platform_key_file",
                platform_key_file,
                "x-authentication-token",
            );
        }
    }
    p
}

impl Credential {
    /// Loads the credential of `access` (reads its files).
    ///
    /// Errors: a missing or unreadable value, named by its key.
    pub fn load(
        access: Access,
        client_id: &str,
        client_secret: Option<Secret>,
        credentials_file: Option<&std::path::Path>,
        platform_key_file: Option<&std::path::Path>,
    ) -> Result<Self, BuildError> {
        let need = |k: &str| BuildError::Config(vec![ConfigProblem::new(k, "missing")]);
        let header = || -> Result<Secret, BuildError> {
            let f = credentials_file.ok_or_else(|| need("lgsp_credentials_file"))?;
            lgspaccesstoken(f).map_err(|p| BuildError::Config(vec![p]))
        };
        Ok(match access {
            Access::ClientCredentials => Self::ClientCredentials {
                client_id: client_id.to_owned(),
                client_secret: client_secret.ok_or_else(|| need("client_secret"))?,
            },
            Access::Lgspaccesstoken => Self::AccessToken {
                header: header()?,
                client: (!client_id.is_empty())
                    .then_some(client_secret.map(|s| (client_id.to_owned(), s)))
                    .flatten(),
            },
            Access::XAuthenticationToken => Self::PlatformToken {
                header: header()?,
                platform_key: Secret::from_file(
                    platform_key_file.ok_or_else(|| need("platform_key_file"))?,
                )?,
            },
        })
    }
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
        p.extend(access_problems(
            self.access,
            &self.client_id,
            self.client_secret.is_some() || self.client_secret_file.is_some(),
            self.lgsp_credentials_file.as_deref(),
            self.platform_key_file.as_deref(),
            "oauth.",
        ));
        p
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Variant B's answer: `{"data":{"token":..}}`.
#[derive(Deserialize)]
struct PlatformTokenAnswer {
    data: PlatformTokenData,
}

#[derive(Deserialize)]
struct PlatformTokenData {
    token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens without `expires_in` are used for this long.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// Issues and caches the token of one destination, and puts it (and `lgspaccesstoken`) on its
/// calls.
pub struct TokenSource {
    client: reqwest::Client,
    via: crate::http::Via,
    token_url: String,
    credential: Credential,
    margin: Duration,
    /// The cached token and when to stop using it.
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// A header value that is a secret: marked sensitive (never logged by the HTTP stack).
fn sensitive(value: &str) -> Result<reqwest::header::HeaderValue, Outcome> {
    let mut v = reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| Outcome::reject("a platform credential is not a valid header value"))?;
    v.set_sensitive(true);
    Ok(v)
}

impl TokenSource {
    /// A token source calling `token_url` with the destination's client (its TLS settings),
    /// request signer and Security Server (`via`: the token call goes the way the service calls
    /// go).
    pub fn new(
        client: reqwest::Client,
        via: crate::http::Via,
        token_url: String,
        credential: Credential,
        margin: Duration,
    ) -> Self {
        Self {
            client,
            via,
            token_url,
            credential,
            margin,
            cached: Mutex::new(None),
        }
    }

    /// A token source from an `[oauth]` table.
    ///
    /// Errors: configuration problems, or a secret file cannot be read.
    pub fn from_config(
        config: &OAuthConfig,
        client: reqwest::Client,
        via: crate::http::Via,
    ) -> Result<Self, BuildError> {
        let secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(f)) => Some(Secret::from_file(f)?),
            (None, None) => None,
        };
        let credential = Credential::load(
            config.access,
            &config.client_id,
            secret,
            config.lgsp_credentials_file.as_deref(),
            config.platform_key_file.as_deref(),
        )?;
        Ok(Self::new(
            client,
            via,
            config.token_url.clone(),
            credential,
            config.token_margin,
        ))
    }

    async fn fetch(&self) -> Result<(String, Instant), Outcome> {
        let req = match &self.credential {
            Credential::ClientCredentials {
                client_id,
                client_secret,
            } => self.client.post(&self.token_url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.expose()),
            ]),
            Credential::AccessToken { header, client } => {
                let req = self
                    .client
                    .post(&self.token_url)
                    .header("lgspaccesstoken", sensitive(header.expose())?);
                match client {
                    Some((id, secret)) => req.form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", id.as_str()),
                        ("client_secret", secret.expose()),
                    ]),
                    None => req.form(&[("grant_type", "client_credentials")]),
                }
            }
            Credential::PlatformToken {
                header,
                platform_key,
            } => self
                .client
                .get(&self.token_url)
                .header("lgspaccesstoken", sensitive(header.expose())?)
                .header("X-Authentication-Token", sensitive(platform_key.expose())?),
        };
        let (status, headers, text) = send(req, &self.via).await?;
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
        let (token, expires_in) = match &self.credential {
            Credential::PlatformToken { .. } => {
                let a: PlatformTokenAnswer = serde_json::from_str(&text)
                    .map_err(|e| Outcome::retry(format!("token answer unreadable: {e}")))?;
                (a.data.token, a.data.expires_in)
            }
            _ => {
                let a: TokenAnswer = serde_json::from_str(&text)
                    .map_err(|e| Outcome::retry(format!("token answer unreadable: {e}")))?;
                (a.access_token, a.expires_in)
            }
        };
        let lifetime = expires_in.map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let until = Instant::now() + lifetime.saturating_sub(self.margin);
        Ok((token, until))
    }

    /// `req` with `token` and, where the variant wants it, `lgspaccesstoken`.
    ///
    /// Errors: a credential that is not a header value (a permanent failure).
    pub fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        token: &str,
    ) -> Result<reqwest::RequestBuilder, Outcome> {
        Ok(match &self.credential {
            Credential::ClientCredentials { .. } => req.bearer_auth(token),
            Credential::AccessToken { header, .. } => req
                .bearer_auth(token)
                .header("lgspaccesstoken", sensitive(header.expose())?),
            Credential::PlatformToken { header, .. } => req
                .header("lgspaccesstoken", sensitive(header.expose())?)
                .header("X-Authentication-Token", sensitive(token)?),
        })
    }

    /// What the destination's requests pass through (signer, Security Server).
    pub fn via(&self) -> &crate::http::Via {
        &self.via
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

    /// Sends `build()` with the token (see [`TokenSource::authorize`]) and reads the answer;
    /// a 401 drops the token and the request is built and sent once more with a fresh one (the
    /// second 401 is returned as it is). A 403 is the platform refusing this partner the
    /// service: a permanent failure naming the URL.
    ///
    /// Errors: the token could not be had, the transport failed, or 403 (outcomes to report).
    pub async fn send_authorized(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, String), Outcome> {
        let mut answer = None;
        for _ in 0..2 {
            let token = self.token().await?;
            let (client, req) = build().build_split();
            let req = req.map_err(|e| Outcome::reject(format!("cannot build the request: {e}")))?;
            let url = req.url().clone();
            let req = reqwest::RequestBuilder::from_parts(client, req);
            let got = send(self.authorize(req, &token)?, &self.via).await?;
            if got.0 == StatusCode::FORBIDDEN {
                let snippet: String = got.2.chars().take(300).collect();
                return Err(Outcome::Reject {
                    error: format!(
                        "HTTP 403: the platform does not allow this partner the service {}{}: {}",
                        url.host_str().unwrap_or_default(),
                        url.path(),
                        snippet.trim()
                    ),
                    http_status: Some(403),
                    portal: None,
                });
            }
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
    via: crate::http::Via,
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
            .map(|o| TokenSource::from_config(o, client.clone(), security.via()))
            .transpose()?;
        Ok(Self {
            client,
            via: security.via(),
            tokens,
        })
    }

    /// Probes `url`: reaches it and, with tokens, fetches one.
    pub async fn healthcheck(&self, url: &str) -> crate::health::Health {
        crate::health::Health {
            reach: crate::health::reach(&self.client, url, &self.via).await,
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
            Some(t) => t.send_authorized(|| build(&self.client)).await,
            None => send(build(&self.client), &self.via).await,
        }
    }
}
