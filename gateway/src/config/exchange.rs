//! `[exchange]`: receiving edXML from other centers (liên thông), pushed or pulled from the
//! national document-exchange axis.

use super::*;

/// `[exchange]`: receiving edXML from other centers at `POST /v1/exchange` (liên thông).
/// Senders are the `kind = "peer"` destinations that have a `signature_trust`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Destinations (webhooks of the center's one-stop software) that received dossiers and
    /// statuses are forwarded to through the outbox.
    #[serde(default)]
    pub forward_to: Vec<String>,
    /// Largest edXML document accepted (`64MiB`); attachments travel inside it.
    #[serde(default = "default_exchange_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// Memory for documents being received at once (`64MiB`), each counted at
    /// `exchange::RECEIVE_COST` (4) times its size; more waits, so memory stays bounded whatever
    /// the peers send at once. Must be at least `max_body`.
    #[serde(default = "default_exchange_budget", deserialize_with = "de_size")]
    pub memory_budget: u64,
    /// The most of `memory_budget` one sender (one client certificate) may hold at once
    /// (default: half of it), so one peer cannot take the budget from the others.
    #[serde(default, deserialize_with = "de_size_opt")]
    pub memory_per_client: Option<u64>,
    /// A document's grace beyond what its rate earns (`10s`): peers send at
    /// `min_body_rate` or faster, or get 408 and lose their share of the budget.
    #[serde(default = "default_exchange_body_timeout", with = "serde_duration")]
    pub body_timeout: Duration,
    /// The slowest average rate a document may be sent at, per second (`256KiB`).
    #[serde(default = "default_exchange_min_rate", deserialize_with = "de_size")]
    pub min_body_rate: u64,
    /// A message whose last trace hop is older than this is refused as a replay (`1h`); a
    /// sender's resends carry a fresh hop.
    #[serde(default = "default_exchange_max_age", with = "serde_duration")]
    pub max_age: Duration,
    /// How far in the future a trace hop may be (clock skew between centers, `5m`).
    #[serde(default = "default_exchange_skew", with = "serde_duration")]
    pub max_skew: Duration,
    /// `[exchange.pull]`: also take documents from the document-exchange axis.
    #[serde(default)]
    pub pull: Option<PullConfig>,
}

/// `[exchange.pull]`: the poller that takes documents waiting in the center's mailbox on the
/// national document-exchange axis (list, fetch, verify, store, then `done` or `fail`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// A `kind = "peer"` destination with `transport = "axis"`: its URL, TLS identity, trust
    /// store and request signing are how the axis is reached.
    pub axis: String,
    /// Time between two listings when the mailbox was emptied (`30s`).
    #[serde(default = "default_pull_interval", with = "serde_duration")]
    pub interval: Duration,
    /// Longest wait after failures: the wait doubles from `interval` after each failed round
    /// (axis or store unavailable) up to this (`10m`).
    #[serde(default = "default_pull_backoff", with = "serde_duration")]
    pub max_backoff: Duration,
    /// Documents taken per round (`20`); a fuller mailbox is listed again at once.
    #[serde(default = "default_pull_batch")]
    pub batch: usize,
    /// Oldest acceptable trace hop of a pulled document (`7d`): documents wait in the mailbox
    /// while this center is down, so the push window (`max_age`) would be too short.
    #[serde(default = "default_pull_max_age", with = "serde_duration")]
    pub max_age: Duration,
}

const fn default_pull_interval() -> Duration {
    Duration::from_secs(30)
}
const fn default_pull_backoff() -> Duration {
    Duration::from_secs(600)
}
const fn default_pull_batch() -> usize {
    20
}
const fn default_pull_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

const fn default_exchange_max_body() -> u64 {
    64 * 1024 * 1024
}
const fn default_exchange_budget() -> u64 {
    64 * 1024 * 1024
}
const fn default_exchange_body_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_exchange_min_rate() -> u64 {
    256 * 1024
}
const fn default_exchange_max_age() -> Duration {
    Duration::from_secs(3600)
}
pub(super) const fn default_exchange_skew() -> Duration {
    Duration::from_secs(300)
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self {
            forward_to: Vec::new(),
            max_body: default_exchange_max_body(),
            memory_budget: default_exchange_budget(),
            memory_per_client: None,
            body_timeout: default_exchange_body_timeout(),
            min_body_rate: default_exchange_min_rate(),
            max_age: default_exchange_max_age(),
            max_skew: default_exchange_skew(),
            pull: None,
        }
    }
}
