//! Configuration of a `kind = "webhook"` destination (the center's one-stop software).

use serde::Deserialize;

use crate::ConfigProblem;

crate::endpoint::destination_config! {
    /// `[destinations.<name>]` with `kind = "webhook"`.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WebhookConfig {
        /// Where notices are posted, e.g. `https://motcua.example.gov.vn/api/lienthong/notices`.
        pub url: String,
    }
    endpoint {
        connect_timeout = "crate::endpoint::five_seconds",
        timeout = "crate::endpoint::thirty_seconds"
    }
}

impl WebhookConfig {
    /// Every problem of the configuration, with its key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if !crate::http::is_http_url(&self.url) {
            p.push(ConfigProblem::new("url", "must be an http(s) URL"));
        }
        p
    }
}
