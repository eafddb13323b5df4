//! Configuration of a `kind = "nbrs"` destination (the National Business Registration System).

use std::time::Duration;

use serde::Deserialize;

use crate::ConfigProblem;

crate::endpoint::destination_config! {
    /// `[destinations.<name>]` with `kind = "nbrs"`. The keys `kind`, `retry`, `concurrency` and
    /// `circuit_breaker` are read by the gateway; everything else is here. Unknown keys are errors.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct NbrsConfig {
        /// Base URL of NBRS behind the integration platform, e.g. `https://lgsp.example/nbrs`.
        pub base_url: String,
        /// Path of the (provisional) submission operation under `base_url`.
        #[serde(default = "default_submit_path")]
        pub submit_path: String,
        /// Path of the registration-status read (`tinhTrangHoSo?in_journal_no=`).
        #[serde(default = "default_status_path")]
        pub status_path: String,
        /// Path of the enterprise read (`chiTietDoanhNghiep?msdn=`).
        #[serde(default = "default_lookup_path")]
        pub lookup_path: String,
        /// Check at intake that an amendment dossier (`business.enterprise_code`) names an existing
        /// enterprise (422 if not; skipped when NBRS does not answer within `lookup_timeout`).
        #[serde(default = "yes")]
        pub lookup: bool,
        /// Time the intake check may take before it is skipped.
        #[serde(default = "default_lookup_timeout", with = "crate::serde_duration")]
        pub lookup_timeout: Duration,
        /// The status poller.
        #[serde(default)]
        pub poll: PollConfig,
    }
    endpoint {
        connect_timeout = "crate::endpoint::ten_seconds",
        timeout = "crate::endpoint::thirty_seconds", oauth, mappings_dir
    }
}

/// `[destinations.<name>.poll]`: asking NBRS for the status of every open registration.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// How long after a poll a registration is asked again (`5m`).
    #[serde(default = "default_poll_interval", with = "crate::serde_duration")]
    pub interval: Duration,
    /// At most this many status requests per second to NBRS (`2`), whatever the backlog.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Registrations taken per round (`100`).
    #[serde(default = "default_poll_batch")]
    pub batch: u32,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            interval: default_poll_interval(),
            rate: default_rate(),
            batch: default_poll_batch(),
        }
    }
}

const fn yes() -> bool {
    true
}
fn default_submit_path() -> String {
    "/dangKyHoSo".into()
}
fn default_status_path() -> String {
    "/tinhTrangHoSo".into()
}
fn default_lookup_path() -> String {
    "/chiTietDoanhNghiep".into()
}
const fn default_lookup_timeout() -> Duration {
    Duration::from_secs(3)
}
const fn default_poll_interval() -> Duration {
    Duration::from_secs(300)
}
const fn default_rate() -> f64 {
    2.0
}
const fn default_poll_batch() -> u32 {
    100
}

impl NbrsConfig {
    /// Every problem of the configuration, with its key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if !crate::http::is_http_url(&self.base_url) {
            p.push(ConfigProblem::new("base_url", "must be an http(s) URL"));
        }
        for (key, path) in [
            ("submit_path", &self.submit_path),
            ("status_path", &self.status_path),
            ("lookup_path", &self.lookup_path),
        ] {
            if !path.starts_with('/') {
                p.push(ConfigProblem::new(key, "must start with /"));
            }
        }
        if self.poll.interval.is_zero() {
            p.push(ConfigProblem::new("poll.interval", "must be more than 0"));
        }
        if !(self.poll.rate.is_finite() && self.poll.rate > 0.0) {
            p.push(ConfigProblem::new("poll.rate", "must be more than 0"));
        }
        if self.poll.batch == 0 {
            p.push(ConfigProblem::new("poll.batch", "must be at least 1"));
        }
        if let Some(o) = &self.oauth {
            p.extend(o.validate());
        }
        p
    }
}
