//! Configuration of a `kind = "investment"` destination (the National Investment Information
//! System).

use serde::Deserialize;

use crate::ConfigProblem;

crate::endpoint::destination_config! {
    /// `[destinations.<name>]` with `kind = "investment"`. Needs the center's `[signing]` identity
    /// (registrations are signed). The keys `kind`, `retry`, `concurrency` and `circuit_breaker` are
    /// read by the gateway; everything else is here. Unknown keys are errors.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct InvestmentConfig {
        /// Where signed registrations are posted.
        pub url: String,
    }
    endpoint {
        connect_timeout = "crate::endpoint::ten_seconds",
        timeout = "crate::endpoint::sixty_seconds", oauth, mappings_dir
    }
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
