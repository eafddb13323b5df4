//! Configuration of a `kind = "emc"` destination (national e-monitoring of one-stop processing).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::ConfigProblem;
use crate::oauth::OAuthConfig;

/// `[destinations.<name>]` with `kind = "emc"`. The keys `kind`, `retry`, `concurrency` and
/// `circuit_breaker` are read by the gateway; everything else is here. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmcConfig {
    /// Where reports are posted (a JSON array of reports per call).
    pub url: String,
    /// The province's site id on EMC (`SiteId` of every report).
    pub site_id: String,
    /// Most reports of one dossier sent in one call (`20`); 1 sends them one by one.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Bearer tokens from the integration platform, when EMC is reached through one.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// Directory of edited mapping files replacing the built-in EMC mappings.
    #[serde(default)]
    pub mappings_dir: Option<PathBuf>,
    /// Time allowed to connect.
    #[serde(default = "default_connect_timeout", with = "crate::serde_duration")]
    pub connect_timeout: Duration,
    /// Time allowed for one call, answer included.
    #[serde(default = "default_timeout", with = "crate::serde_duration")]
    pub timeout: Duration,
}

const fn default_batch() -> usize {
    20
}
const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Largest `batch` accepted: a report is about 500 bytes, a call stays small.
pub const MAX_BATCH: usize = 100;

impl EmcConfig {
    /// Every problem of the configuration, with its key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if !crate::http::is_http_url(&self.url) {
            p.push(ConfigProblem::new("url", "must be an http(s) URL"));
        }
        if self.site_id.trim().is_empty() {
            p.push(ConfigProblem::new("site_id", "must not be empty"));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            p.push(ConfigProblem::new(
                "batch",
                format!("must be between 1 and {MAX_BATCH}"),
            ));
        }
        if let Some(o) = &self.oauth {
            p.extend(o.validate());
        }
        p
    }
}
