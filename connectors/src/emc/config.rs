//! Configuration of a `kind = "emc"` destination (national e-monitoring of one-stop processing).

use serde::Deserialize;

use crate::ConfigProblem;

crate::endpoint::destination_config! {
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
    }
    endpoint {
        connect_timeout = "crate::endpoint::ten_seconds",
        timeout = "crate::endpoint::thirty_seconds", oauth, mappings_dir
    }
}

const fn default_batch() -> usize {
    20
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
