//! Configuration of a `kind = "dvcqg"` destination (the National Public Service Portal).

use std::path::PathBuf;
use std::time::Duration;

use lienthong_certs::Secret;
use serde::Deserialize;

use crate::ConfigProblem;

/// Which of the two observed transports the portal is reached by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Log in for a session, then call one integration URL with `{session, madonvi, service, …}`.
    Session,
    /// Through a provincial integration platform: OAuth2 client credentials, one URL per operation.
    Lgsp,
}

crate::endpoint::destination_config! {
    /// `[destinations.<name>]` with `kind = "dvcqg"`. The keys `kind`, `retry`, `concurrency` and
    /// `circuit_breaker` are read by the gateway; everything else is here. Unknown keys are errors.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DvcqgConfig {
        /// `session` or `lgsp`.
        pub transport: Transport,
        /// Portal base URL (session transport), e.g. `https://dichvucong.gov.vn`.
        #[serde(default)]
        pub base_url: Option<String>,
        /// Login path under `base_url` (session transport).
        #[serde(default = "default_auth_path")]
        pub auth_path: String,
        /// Integration path under `base_url` (session transport).
        #[serde(default = "default_integration_path")]
        pub integration_path: String,
        /// Account name (session transport).
        #[serde(default)]
        pub username: Option<String>,
        /// Account password (session transport); prefer `password_file`.
        #[serde(default)]
        pub password: Option<Secret>,
        /// File holding the password (e.g. a systemd credential).
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// The province's unit code on the portal (`madonvi`).
        #[serde(default)]
        pub madonvi: Option<String>,
        /// Routing code sent in the `dstcode` header.
        #[serde(default)]
        pub dstcode: Option<String>,
        /// OAuth2 token URL (LGSP transport).
        #[serde(default)]
        pub token_url: Option<String>,
        /// OAuth2 client id (LGSP transport).
        #[serde(default)]
        pub client_id: Option<String>,
        /// OAuth2 client secret (LGSP transport); prefer `client_secret_file`.
        #[serde(default)]
        pub client_secret: Option<Secret>,
        /// File holding the client secret.
        #[serde(default)]
        pub client_secret_file: Option<PathBuf>,
        /// URL that creates dossiers (LGSP transport).
        #[serde(default)]
        pub create_url: Option<String>,
        /// URL that updates dossiers (LGSP transport).
        #[serde(default)]
        pub update_url: Option<String>,
        /// URL that takes progress entries (LGSP transport).
        #[serde(default)]
        pub progress_url: Option<String>,
        /// A cached token is renewed this long before it expires.
        #[serde(default = "default_token_margin", with = "crate::serde_duration")]
        pub token_margin: Duration,
        /// LGSP transport: how the platform is accessed (`client-credentials`,
        /// `lgspaccesstoken`, `x-authentication-token`; see [`crate::oauth`]).
        #[serde(default)]
        pub access: crate::oauth::Access,
        /// LGSP transport: the five values of `lgspaccesstoken`, a JSON object in a file.
        #[serde(default)]
        pub lgsp_credentials_file: Option<PathBuf>,
        /// LGSP transport with `x-authentication-token`: the platform's static key, in a file.
        #[serde(default)]
        pub platform_key_file: Option<PathBuf>,
        /// Text in an answer that means "the dossier already exists" (the create is resent as update).
        #[serde(default = "default_exists_markers")]
        pub already_exists_markers: Vec<String>,
        /// Portal `error_code`s (besides 0) that mean a temporary failure rather than invalid data.
        #[serde(default)]
        pub retry_error_codes: Vec<String>,
    }
    endpoint {
        connect_timeout = "crate::endpoint::ten_seconds",
        timeout = "crate::endpoint::thirty_seconds", mappings_dir
    }
}

fn default_auth_path() -> String {
    "/api/auth".to_owned()
}
fn default_integration_path() -> String {
    "/api/service".to_owned()
}
const fn default_token_margin() -> Duration {
    Duration::from_secs(30)
}
fn default_exists_markers() -> Vec<String> {
    vec!["đã tồn tại".to_owned(), "already exists".to_owned()]
}

impl DvcqgConfig {
    /// Every problem of the configuration, with its key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut need = |key: &str, present: bool| {
            if !present {
                p.push(ConfigProblem::new(
                    key,
                    format!("required with transport = \"{}\"", self.transport_name()),
                ));
            }
        };
        match self.transport {
            Transport::Session => {
                need("base_url", self.base_url.is_some());
                need("username", self.username.is_some());
                need("madonvi", self.madonvi.is_some());
                need(
                    "password",
                    self.password.is_some() || self.password_file.is_some(),
                );
            }
            Transport::Lgsp => {
                need("token_url", self.token_url.is_some());
                need("create_url", self.create_url.is_some());
                need("update_url", self.update_url.is_some());
                need("progress_url", self.progress_url.is_some());
            }
        }
        if self.transport == Transport::Lgsp {
            p.extend(crate::oauth::access_problems(
                self.access,
                self.client_id.as_deref().unwrap_or_default(),
                self.client_secret.is_some() || self.client_secret_file.is_some(),
                self.lgsp_credentials_file.as_deref(),
                self.platform_key_file.as_deref(),
                "",
            ));
        }
        if self.password.is_some() && self.password_file.is_some() {
            p.push(ConfigProblem::new(
                "password_file",
                "give password or password_file, not both",
            ));
        }
        if self.client_secret.is_some() && self.client_secret_file.is_some() {
            p.push(ConfigProblem::new(
                "client_secret_file",
                "give client_secret or client_secret_file, not both",
            ));
        }
        for (key, url) in [
            ("base_url", &self.base_url),
            ("token_url", &self.token_url),
            ("create_url", &self.create_url),
            ("update_url", &self.update_url),
            ("progress_url", &self.progress_url),
        ] {
            if let Some(u) = url {
                match reqwest::Url::parse(u) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                    Ok(_) => p.push(ConfigProblem::new(
                        key,
                        format!("`{u}` is not an http(s) URL"),
                    )),
                    Err(e) => p.push(ConfigProblem::new(key, format!("`{u}`: {e}"))),
                }
            }
        }
        for (key, path) in [
            ("auth_path", &self.auth_path),
            ("integration_path", &self.integration_path),
        ] {
            if !path.starts_with('/') {
                p.push(ConfigProblem::new(key, "must start with /"));
            }
        }
        p
    }

    fn transport_name(&self) -> &'static str {
        match self.transport {
            Transport::Session => "session",
            Transport::Lgsp => "lgsp",
        }
    }
}
