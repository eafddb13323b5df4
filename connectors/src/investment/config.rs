//! Configuration of a `kind = "investment"` destination (the National Investment Information
//! System).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::ConfigProblem;
use crate::oauth::OAuthConfig;

/// `[destinations.<name>]` with `kind = "investment"`. Needs the center's `[signing]` identity
/// (registrations are signed). The keys `kind`, `retry`, `concurrency` and `circuit_breaker` are
/// read by the gateway; everything else is here. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvestmentConfig {
    /// Where signed registrations are posted.
    pub url: String,
    /// Bearer tokens from the integration platform, when it is reached through one.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// Directory of edited mapping files replacing the built-in investment mappings.
    #[serde(default)]
    pub mappings_dir: Option<PathBuf>,
    /// Time allowed to connect.
    #[serde(default = "default_connect_timeout", with = "crate::serde_duration")]
    pub connect_timeout: Duration,
    /// Time allowed for one call, answer included.
    #[serde(default = "default_timeout", with = "crate::serde_duration")]
    pub timeout: Duration,
}

const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

impl InvestmentConfig {
    /// Every problem of the configuration, with its key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if !crate::http::is_http_url(&self.url) {
            p.push(ConfigProblem::new("url", "must be an http(s) URL"));
        }
        if let Some(o) = &self.oauth {
            p.extend(o.validate());
        }
        p
    }
}
