//! The running of the gateway: `[audit]` (nhật ký kiểm toán and its time-stamps), `[deadlines]`,
//! `[retention]`, `[dispatcher]` and `[log]`.

use super::*;

/// `[audit]`: the audit log (nhật ký kiểm toán). Every message sent and received is chained
/// whatever this says; this adds RFC 3161 time-stamps of the chain head.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `[audit.tsa]`: the time-stamping authority (absent: no time-stamps).
    #[serde(default)]
    pub tsa: Option<TsaConfig>,
}

/// `[audit.tsa]`: an RFC 3161 time-stamping authority (TSA).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsaConfig {
    /// Where time-stamp requests are POSTed (`application/timestamp-query`).
    pub url: String,
    /// The TSA's signing certificate (PEM); tokens are verified against it.
    pub certificate: PathBuf,
    /// How often the chain head is stamped (when it moved).
    #[serde(default = "default_tsa_interval", with = "serde_duration")]
    pub interval: Duration,
    /// Request timeout.
    #[serde(default = "default_tsa_timeout", with = "serde_duration")]
    pub timeout: Duration,
}

const fn default_tsa_interval() -> Duration {
    Duration::from_secs(3600)
}
const fn default_tsa_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `[deadlines]`: how the deadline statistics (hạn giải quyết) are counted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlinesConfig {
    /// A dossier not returned whose due date is this close is "due soon" (sắp đến hạn).
    #[serde(default = "default_due_soon", with = "serde_duration")]
    pub due_soon: Duration,
}

const fn default_due_soon() -> Duration {
    Duration::from_secs(2 * 86_400)
}

impl Default for DeadlinesConfig {
    fn default() -> Self {
        Self {
            due_soon: default_due_soon(),
        }
    }
}

/// `[retention]`: what is deleted when it is old enough, in small batches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Whether purging runs (`true`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Delivered messages and their attempts older than this are deleted (`30d`); dead letters
    /// and undelivered messages never are.
    #[serde(default = "default_retention_delivered", with = "serde_duration")]
    pub delivered: Duration,
    /// A dossier stays queryable this long after its last change (`1825d`, five years), then
    /// goes with its events, received documents and pushes once nothing of it is left to deliver.
    #[serde(default = "default_retention_dossiers", with = "serde_duration")]
    pub dossiers: Duration,
    /// Dedupe records of received messages and pushes are kept this long (`30d`); must cover the
    /// replay windows (`exchange.max_age`, `exchange.pull.max_age`, `callbacks.max_age`).
    #[serde(default = "default_retention_dedupe", with = "serde_duration")]
    pub dedupe: Duration,
    /// How often purging runs (`10m`).
    #[serde(default = "default_retention_interval", with = "serde_duration")]
    pub interval: Duration,
    /// At most this many of each kind per transaction (`500`).
    #[serde(default = "default_retention_batch")]
    pub batch: u32,
}

const fn yes() -> bool {
    true
}
const fn default_retention_delivered() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
const fn default_retention_dossiers() -> Duration {
    Duration::from_secs(1825 * 24 * 3600)
}
const fn default_retention_dedupe() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
const fn default_retention_interval() -> Duration {
    Duration::from_secs(600)
}
const fn default_retention_batch() -> u32 {
    500
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            delivered: default_retention_delivered(),
            dossiers: default_retention_dossiers(),
            dedupe: default_retention_dedupe(),
            interval: default_retention_interval(),
            batch: default_retention_batch(),
        }
    }
}

/// `[dispatcher]`: how deliveries are claimed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatcherConfig {
    /// How often due deliveries are looked for when nothing wakes the dispatcher earlier.
    #[serde(default = "default_poll", with = "serde_duration")]
    pub poll_interval: Duration,
    /// Most deliveries claimed per destination per round.
    #[serde(default = "default_claim_batch")]
    pub claim_batch: usize,
    /// How long a claimed delivery stays with this instance before others may take it.
    #[serde(default = "default_lease", with = "serde_duration")]
    pub lease: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            poll_interval: default_poll(),
            claim_batch: default_claim_batch(),
            lease: default_lease(),
        }
    }
}

const fn default_poll() -> Duration {
    Duration::from_millis(500)
}
const fn default_claim_batch() -> usize {
    64
}
const fn default_lease() -> Duration {
    Duration::from_secs(300)
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `auto` (default: human-readable text on a terminal, one JSON object per line under
    /// systemd or in a container), `text` or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// Filter, e.g. `info` or `lienthong=debug` (the `LIENTHONG_LOG` variable wins).
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

fn default_log_format() -> String {
    "auto".to_owned()
}
fn default_log_level() -> String {
    "info".to_owned()
}

impl AuditConfig {
    /// Checks this section alone (reads nothing: the TSA certificate is loaded by
    /// `crate::loaded::Loaded`).
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        let Some(tsa) = &self.tsa else {
            return;
        };
        if !lienthong_connectors::http::is_http_url(&tsa.url) {
            errors.push(err("audit.tsa.url", "must be an http(s) URL"));
        }
        if tsa.interval.is_zero() {
            errors.push(err("audit.tsa.interval", "must be longer than 0s"));
        }
    }
}

impl LogConfig {
    /// Checks this section alone.
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if !matches!(self.format.as_str(), "auto" | "text" | "json") {
            errors.push(err("log.format", "must be auto, text or json"));
        }
    }
}

impl DispatcherConfig {
    /// Checks this section alone.
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.claim_batch == 0 {
            errors.push(err("dispatcher.claim_batch", "must be at least 1"));
        }
    }
}
