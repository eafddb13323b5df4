//! The configuration file (one TOML file; the keys of DESIGN.md's "Configuration" are a contract).
//!
//! Loading is in three steps so that `lienthong check-config` can report *every* problem with its
//! key, not only serde's first: parse the TOML, apply `LIENTHONG_*` environment overrides, then
//! deserialize each section on its own (unknown keys are errors) and validate across sections
//! (routes name configured destinations, credentials files exist…).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lienthong_certs::Secret;
use lienthong_connectors::dvcqg::DvcqgConfig;
use lienthong_connectors::serde_duration;
use serde::Deserialize;
use serde::de::DeserializeOwned;

mod trust;
pub use trust::{
    ClientAuthRule, DestinationTlsConfig, InboundKeyConfig, ListenerTlsConfig, SignedRouteRule,
    SigningConfig, TlsVersion, TrustStoreConfig,
};

/// Default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/lienthong/lienthong.toml";
/// Prefix of environment overrides: `LIENTHONG_SERVER__LISTEN=0.0.0.0:8440` sets `server.listen`.
pub const ENV_PREFIX: &str = "LIENTHONG_";
/// Environment variables with the prefix that are not overrides.
const ENV_RESERVED: &[&str] = &["LIENTHONG_CONFIG", "LIENTHONG_LOG"];
/// Prefixes of environment variables that belong to the test harness, not to the configuration
/// (`LIENTHONG_TEST_POSTGRES`, `LIENTHONG_TEST_CRASH_AFTER_COMMIT`, `LIENTHONG_SKIP_XMLSEC`…).
const ENV_RESERVED_PREFIXES: &[&str] = &["LIENTHONG_TEST_", "LIENTHONG_SKIP_"];

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[center]`.
    pub center: CenterConfig,
    /// `[dispatcher]`.
    pub dispatcher: DispatcherConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[destinations.<name>]`, by name.
    pub destinations: BTreeMap<String, DestinationConfig>,
    /// `[[routes]]`, in order.
    pub routes: Vec<RouteConfig>,
    /// `[trust.<name>]`: named trust stores.
    pub trust: BTreeMap<String, TrustStoreConfig>,
    /// `[signing]`: the center's signing identity.
    pub signing: Option<SigningConfig>,
    /// `[exchange]`: receiving from other centers (liên thông).
    pub exchange: ExchangeConfig,
    /// `[callbacks]`: pushes from the national systems.
    pub callbacks: CallbacksConfig,
    /// `[retention]`: purging old data.
    pub retention: RetentionConfig,
    /// `[deadlines]`: how deadline statistics are counted.
    pub deadlines: DeadlinesConfig,
    /// `[audit]`: the audit log's time-stamping.
    pub audit: AuditConfig,
    /// `[attachments]`: where the dossiers' files may be fetched from.
    pub attachments: lienthong_connectors::files::AttachmentsConfig,
    /// The file this was loaded from (reloads read it again).
    pub source: Option<PathBuf>,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address for intake, callbacks, exchange, admin and health.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest request body accepted (`10MiB`).
    #[serde(default = "default_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// Bearer token for the admin API (`/v1/deliveries…`); without it the admin API answers
    /// loopback clients only.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// File holding the admin token.
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the center's bearer token: the one-stop system (phần mềm một cửa) sends it as
    /// `Authorization: Bearer …` on intake, events, tracking and statistics. Compared in constant
    /// time; at least 32 characters.
    #[serde(default)]
    pub center_token_file: Option<PathBuf>,
    /// File holding the viewer token: a read-only role for the statistics screens (the console's
    /// overview and deadline boards, `/v1/stats`); it cannot replay, reload or read dossiers.
    #[serde(default)]
    pub viewer_token_file: Option<PathBuf>,
    /// The names clients reach the gateway by (`Host`), e.g. `["lienthong.ninhbinh.gov.vn"]`.
    /// A request naming another host gets 421 (a DNS-rebinding page cannot reach the admin
    /// API). Empty: on a loopback listener `localhost` and the loopback addresses; on another
    /// listener the `Host` is not checked (check-config warns).
    #[serde(default)]
    pub public_names: Vec<String>,
    /// The URL operators reach the gateway at, e.g. `https://lienthong.ninhbinh.gov.vn` (behind
    /// a TLS-terminating proxy too): its host is a public name, and an `https` URL makes the
    /// console's cookie `Secure`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long a console sign-in lasts (`8h`).
    #[serde(default = "default_console_session", with = "serde_duration")]
    pub console_session: Duration,
    /// Serve a listener other hosts can reach with the center's API or the admin API left
    /// without authentication. Only for a lab: every start logs a warning.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// How long shutdown waits for in-flight deliveries before releasing them.
    #[serde(default = "default_grace", with = "serde_duration")]
    pub shutdown_grace: Duration,
    /// `[server.tls]`: serve HTTPS (with optional client certificates).
    #[serde(default)]
    pub tls: Option<ListenerTlsConfig>,
    /// `[[server.client_auth]]`: client-certificate rules per path prefix.
    #[serde(default)]
    pub client_auth: Vec<ClientAuthRule>,
    /// `[[server.signed_routes]]`: RFC 9421 signatures required per path prefix.
    #[serde(default)]
    pub signed_routes: Vec<SignedRouteRule>,
    /// Time allowed for a request's head (line and headers); also how long an idle keep-alive
    /// connection stays open (`10s`).
    #[serde(default = "default_header_timeout", with = "serde_duration")]
    pub header_timeout: Duration,
    /// Grace a request body has beyond what its rate earns (`30s`): a body must arrive at
    /// `min_body_rate` on average after it, or the request gets 408.
    #[serde(default = "default_body_timeout", with = "serde_duration")]
    pub body_timeout: Duration,
    /// The slowest average rate a request body may be sent at, per second (`16KiB`).
    #[serde(default = "default_min_body_rate", deserialize_with = "de_size")]
    pub min_body_rate: u64,
    /// Connections open at once (`4096`); past it a new connection is closed at once.
    #[serde(default = "default_server_max_connections")]
    pub max_connections: usize,
    /// Requests in flight per client address (`64`); past it 429 with `Retry-After`.
    #[serde(default = "default_max_requests_per_client")]
    pub max_requests_per_client: usize,
    /// Certificates expiring within this period are warned about (`30d`).
    #[serde(default = "default_certificate_warning", with = "serde_duration")]
    pub certificate_warning: Duration,
    /// This instance's name among those sharing a store (default: the host name). Periodic jobs
    /// (pollers, retention) hold leases under it, so a restarted instance takes its own jobs
    /// back at once; give each instance of a cluster its own name.
    #[serde(default)]
    pub instance: Option<String>,
}

impl ServerConfig {
    /// [`ServerConfig::instance`], or the host name (`lienthong` when it cannot be read).
    pub fn instance_name(&self) -> String {
        if let Some(name) = &self.instance {
            return name.clone();
        }
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "lienthong".to_owned())
    }
}

const fn default_console_session() -> Duration {
    Duration::from_secs(8 * 3600)
}
const fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
const fn default_min_body_rate() -> u64 {
    16 * 1024
}
const fn default_server_max_connections() -> usize {
    4096
}
const fn default_max_requests_per_client() -> usize {
    64
}

impl ServerConfig {
    /// The connection limits of this section.
    pub fn limits(&self) -> crate::limits::ConnectionLimits {
        crate::limits::ConnectionLimits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            min_body_rate: self.min_body_rate,
            max_connections: self.max_connections,
            max_requests_per_client: self.max_requests_per_client,
        }
    }
}

const fn default_certificate_warning() -> Duration {
    Duration::from_secs(30 * 86_400)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8440))
}
const fn default_max_body() -> u64 {
    10 * 1024 * 1024
}
const fn default_grace() -> Duration {
    Duration::from_secs(10)
}

fn de_size_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_size(d).map(Some)
}

fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Bytes(u64),
    }
    match Raw::deserialize(d)? {
        Raw::Bytes(n) => Ok(n),
        Raw::Text(t) => t
            .trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|e| {
                serde::de::Error::custom(format!("invalid size `{t}` ({e}); write e.g. 10MiB"))
            }),
    }
}

/// `[store]`: where dossiers, messages and deliveries live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:///absolute/path.db` (one node) or `postgres://user@host:5432/database`
    /// (several instances sharing the work; give each its own `server.instance`).
    pub url: String,
    /// SQLite: most write operations committed together (group commit).
    #[serde(default = "default_group_commit")]
    pub max_batch: usize,
    /// SQLite: connections for reads (tracking, admin, health).
    #[serde(default = "default_read_connections")]
    pub read_connections: u32,
    /// PostgreSQL: most connections this instance opens (`16`).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// PostgreSQL: how long an operation waits for a connection before it fails (`5s`): while
    /// the database is down, intake answers 503 with Retry-After after this long.
    #[serde(default = "default_acquire_timeout", with = "serde_duration")]
    pub acquire_timeout: Duration,
    /// PostgreSQL: longest a statement may run (`30s`, PostgreSQL's `statement_timeout`).
    #[serde(default = "default_statement_timeout", with = "serde_duration")]
    pub statement_timeout: Duration,
}

impl StoreConfig {
    /// The store's opening options for instance `instance`.
    pub fn options(&self, instance: &str) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            max_batch: self.max_batch,
            read_connections: self.read_connections,
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout,
            statement_timeout: self.statement_timeout,
            instance: instance.to_owned(),
        }
    }
}

// The store's own defaults (`StoreOptions::default`), so they are written once.
fn default_max_connections() -> u32 {
    crate::store::StoreOptions::default().max_connections
}
fn default_acquire_timeout() -> Duration {
    crate::store::StoreOptions::default().acquire_timeout
}
fn default_statement_timeout() -> Duration {
    crate::store::StoreOptions::default().statement_timeout
}

fn default_group_commit() -> usize {
    crate::store::StoreOptions::default().max_batch
}
fn default_read_connections() -> u32 {
    crate::store::StoreOptions::default().read_connections
}

/// `[center]`: the center Lienthong serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterConfig {
    /// The center's identifier (mã định danh), e.g. `000.02.01.H37`.
    pub agency_code: String,
    /// Its name.
    pub agency_name: String,
}

/// `[callbacks]`: pushes from the national systems at `POST /v1/callbacks/{source}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Webhook destinations (the center's one-stop software) pushes are forwarded to.
    #[serde(default)]
    pub forward_to: Vec<String>,
    /// Largest push (`32MiB`: a dossier filed on the national portal carries its files).
    #[serde(default = "default_callbacks_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// A dated push (payment, tax notice, receipt) older than this is refused as a replay
    /// (`7d`).
    #[serde(default = "default_callbacks_max_age", with = "serde_duration")]
    pub max_age: Duration,
    /// How far in the future a push may be dated (`5m`, clocks differ).
    #[serde(default = "default_exchange_skew", with = "serde_duration")]
    pub max_skew: Duration,
    /// `[callbacks.dvcqg]`: the national portal's pushes.
    #[serde(default)]
    pub dvcqg: Option<SharedKeyConfig>,
    /// `[callbacks.payment]`: the payment platform's confirmations.
    #[serde(default)]
    pub payment: Option<SharedKeyConfig>,
    /// `[callbacks.investment]`: the investment system's signed results.
    #[serde(default)]
    pub investment: Option<SignedPushConfig>,
}

/// A pusher that signs what it pushes (XML-DSig): whose certificates are believed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPushConfig {
    /// The `[trust.<name>]` its signing certificates chain to.
    pub trust: String,
    /// Names its signer may carry (the whole DN, a CN or a SAN, each exact); required: a trust
    /// store vouches for every certificate its CA issued, not only the investment system's.
    #[serde(default)]
    pub signers: Vec<String>,
}

/// A shared secret agreed with a pushing system: inline or, better, in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedKeyConfig {
    /// The secret (DVCQG's `SecurityKey`, the payment platform's hash key).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file holding it (e.g. a systemd credential).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl SharedKeyConfig {
    /// Checks that exactly one of `secret` and `secret_file` is given (without reading the file).
    ///
    /// Errors: neither or both given.
    pub fn check(&self) -> Result<(), &'static str> {
        match (&self.secret, &self.secret_file) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => Err("give secret or secret_file, not both"),
            (None, None) => Err("missing secret (or secret_file)"),
        }
    }

    /// The secret.
    ///
    /// Errors: neither or both given, or the file cannot be read.
    pub fn load(&self) -> Result<Secret, String> {
        match (&self.secret, &self.secret_file) {
            (Some(s), None) => Ok(s.clone()),
            (None, Some(f)) => Secret::from_file(f).map_err(|e| e.to_string()),
            (Some(_), Some(_)) => Err("give secret or secret_file, not both".into()),
            (None, None) => Err("missing secret (or secret_file)".into()),
        }
    }
}

const fn default_callbacks_max_body() -> u64 {
    32 * 1024 * 1024
}
const fn default_callbacks_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            forward_to: Vec::new(),
            max_body: default_callbacks_max_body(),
            max_age: default_callbacks_max_age(),
            max_skew: default_exchange_skew(),
            dvcqg: None,
            payment: None,
            investment: None,
        }
    }
}

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
const fn default_exchange_skew() -> Duration {
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

/// `[destinations.<name>.retry]`: the persisted retry schedule of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Delay bound of the first retry.
    #[serde(default = "default_initial", with = "serde_duration")]
    pub initial: Duration,
    /// Growth of the delay bound per attempt.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Largest delay bound.
    #[serde(default = "default_max_delay", with = "serde_duration")]
    pub max_delay: Duration,
    /// Attempts before the delivery is dead.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Age (since queued or replayed) after which the delivery is dead.
    #[serde(default = "default_max_age", with = "serde_duration")]
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: default_initial(),
            multiplier: default_multiplier(),
            max_delay: default_max_delay(),
            max_attempts: default_max_attempts(),
            max_age: default_max_age(),
        }
    }
}

const fn default_initial() -> Duration {
    Duration::from_secs(1)
}
const fn default_multiplier() -> f64 {
    2.0
}
const fn default_max_delay() -> Duration {
    Duration::from_secs(3600)
}
const fn default_max_attempts() -> u32 {
    25
}
const fn default_max_age() -> Duration {
    Duration::from_secs(72 * 3600)
}

/// `[destinations.<name>.circuit_breaker]`: pause a failing destination instead of burning attempts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the circuit.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// Pause before the first probe.
    #[serde(default = "default_cool_down", with = "serde_duration")]
    pub cool_down: Duration,
    /// Longest pause (it doubles after each failed probe).
    #[serde(default = "default_max_cool_down", with = "serde_duration")]
    pub max_cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: default_failures(),
            cool_down: default_cool_down(),
            max_cool_down: default_max_cool_down(),
        }
    }
}

const fn default_failures() -> u32 {
    5
}
const fn default_cool_down() -> Duration {
    Duration::from_secs(30)
}
const fn default_max_cool_down() -> Duration {
    Duration::from_secs(600)
}

/// The kind-specific part of a destination.
#[derive(Debug, Clone)]
pub enum DestinationKind {
    /// The National Public Service Portal.
    Dvcqg(Box<DvcqgConfig>),
    /// Another center, exchanging signed edXML (liên thông).
    Peer(Box<lienthong_connectors::peer::PeerConfig>),
    /// The center's one-stop software, told what comes back.
    Webhook(Box<lienthong_connectors::webhook::WebhookConfig>),
    /// The national e-monitoring system, told every processing step.
    Emc(Box<lienthong_connectors::emc::EmcConfig>),
    /// The National Business Registration System: registrations submitted and followed.
    Nbrs(Box<lienthong_connectors::nbrs::NbrsConfig>),
    /// The National Investment Information System: signed registrations.
    Investment(Box<lienthong_connectors::investment::InvestmentConfig>),
}

impl DestinationKind {
    /// The URLs this destination is configured to call, with their keys (relative to the
    /// destination's table).
    pub fn urls(&self) -> Vec<(&'static str, &str)> {
        fn oauth(
            o: &Option<lienthong_connectors::oauth::OAuthConfig>,
        ) -> Option<(&'static str, &str)> {
            o.as_ref()
                .map(|o| ("oauth.token_url", o.token_url.as_str()))
        }
        match self {
            Self::Dvcqg(c) => [
                ("base_url", &c.base_url),
                ("token_url", &c.token_url),
                ("create_url", &c.create_url),
                ("update_url", &c.update_url),
                ("progress_url", &c.progress_url),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect(),
            Self::Peer(c) => vec![("url", c.url.as_str())],
            Self::Webhook(c) => vec![("url", c.url.as_str())],
            Self::Emc(c) => std::iter::once(("url", c.url.as_str()))
                .chain(oauth(&c.oauth))
                .collect(),
            Self::Nbrs(c) => std::iter::once(("base_url", c.base_url.as_str()))
                .chain(oauth(&c.oauth))
                .collect(),
            Self::Investment(c) => std::iter::once(("url", c.url.as_str()))
                .chain(oauth(&c.oauth))
                .collect(),
        }
    }

    /// The `kind` key's value.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Dvcqg(_) => "dvcqg",
            Self::Peer(_) => "peer",
            Self::Webhook(_) => "webhook",
            Self::Emc(_) => "emc",
            Self::Nbrs(_) => "nbrs",
            Self::Investment(_) => "investment",
        }
    }
}

/// `[destinations.<name>]`.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// Kind and its settings.
    pub kind: DestinationKind,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// Most deliveries in flight at once.
    pub concurrency: usize,
    /// Circuit breaker.
    pub circuit_breaker: BreakerConfig,
    /// `[destinations.<name>.tls]`: own trust store and client identity.
    pub tls: Option<DestinationTlsConfig>,
    /// Sign every request with RFC 9421 using `[signing]`.
    pub sign_requests: bool,
}

/// Default `concurrency` of a destination.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// `[[routes]]`: a rule choosing destinations. Every condition given must hold; all matching
/// rules add their destinations (a dossier's explicit `routing` replaces them all).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Procedure code prefix (`""` matches every code).
    #[serde(default)]
    pub procedure_prefix: Option<String>,
    /// Field code (mã lĩnh vực), exactly.
    #[serde(default)]
    pub field_code: Option<String>,
    /// Agency code prefix (mã định danh).
    #[serde(default)]
    pub agency_code: Option<String>,
    /// Level: `province`, `district` or `commune`.
    #[serde(default)]
    pub level: Option<String>,
    /// Destination names.
    pub destinations: Vec<String>,
}

/// One configuration problem, with its key (`destinations.dvcqg.retry.max_delay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key; `(file)` for problems of the file itself.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem of a configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Loads a file, with environment overrides from the process environment.
    ///
    /// Errors: the file cannot be read, or has problems (all of them are returned).
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![err(
                "(file)",
                format!("cannot read {}: {e}", path.display()),
            )])
        })?;
        let mut config = Self::from_toml(&text, std::env::vars())?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses configuration text with the given environment.
    ///
    /// Errors: every problem found, each with its key.
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigErrors> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            ConfigErrors(vec![err("(file)", format!("line {line}: {}", e.message()))])
        })?;
        let mut errors = Vec::new();
        apply_env(&mut table, env, &mut errors);
        let parts = parse_sections(table, &mut errors);
        parts.validate(&mut errors);
        // Nothing but the text is read here: the files it names are read once, by
        // `crate::loaded::Loaded`.
        let config = parts.assemble();
        match config {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(ConfigErrors(errors)),
        }
    }

    /// The center's bearer token, read from its file.
    ///
    /// Errors: the file cannot be read, is empty or holds fewer than [`MIN_TOKEN_CHARS`]
    /// characters.
    pub fn center_token(&self) -> Result<Option<Secret>, ConfigError> {
        self.server
            .center_token_file
            .as_deref()
            .map(|f| token_from_file("server.center_token_file", f))
            .transpose()
    }

    /// The viewer token (read-only statistics screens), read from its file.
    ///
    /// Errors: the file cannot be read, or the token is too short.
    pub fn viewer_token(&self) -> Result<Option<Secret>, ConfigError> {
        self.server
            .viewer_token_file
            .as_deref()
            .map(|f| token_from_file("server.viewer_token_file", f))
            .transpose()
    }

    /// The names a request's `Host` may carry, lowercase without port; empty means any.
    pub fn public_names(&self, listen: std::net::SocketAddr) -> Vec<String> {
        let mut names: Vec<String> = self
            .server
            .public_names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        if let Some(host) = self
            .server
            .public_url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        {
            names.push(host);
        }
        if listen.ip().is_loopback() || !names.is_empty() {
            names.extend(["localhost", "127.0.0.1", "[::1]", "::1"].map(String::from));
        }
        names
    }

    /// Files holding secrets, with their keys: tokens, passwords, client and callback secrets.
    pub fn secret_files(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let mut add = |key: String, path: &Option<PathBuf>| {
            if let Some(p) = path {
                out.push((key, p.clone()));
            }
        };
        add(
            "server.admin_token_file".into(),
            &self.server.admin_token_file,
        );
        add(
            "server.center_token_file".into(),
            &self.server.center_token_file,
        );
        add(
            "server.viewer_token_file".into(),
            &self.server.viewer_token_file,
        );
        for (i, r) in self.server.signed_routes.iter().enumerate() {
            for (j, k) in r.keys.iter().enumerate() {
                add(
                    format!("server.signed_routes[{i}].keys[{j}].secret_file"),
                    &k.secret_file,
                );
            }
        }
        for (name, k) in [
            ("dvcqg", &self.callbacks.dvcqg),
            ("payment", &self.callbacks.payment),
        ] {
            if let Some(k) = k {
                add(format!("callbacks.{name}.secret_file"), &k.secret_file);
            }
        }
        for (name, d) in &self.destinations {
            let key = |k: &str| format!("destinations.{name}.{k}");
            match &d.kind {
                DestinationKind::Dvcqg(c) => {
                    add(key("password_file"), &c.password_file);
                    add(key("client_secret_file"), &c.client_secret_file);
                }
                DestinationKind::Emc(c) => {
                    add(
                        key("oauth.client_secret_file"),
                        &c.oauth.as_ref().and_then(|o| o.client_secret_file.clone()),
                    );
                }
                DestinationKind::Nbrs(c) => {
                    add(
                        key("oauth.client_secret_file"),
                        &c.oauth.as_ref().and_then(|o| o.client_secret_file.clone()),
                    );
                }
                DestinationKind::Investment(c) => {
                    add(
                        key("oauth.client_secret_file"),
                        &c.oauth.as_ref().and_then(|o| o.client_secret_file.clone()),
                    );
                }
                DestinationKind::Peer(_) | DestinationKind::Webhook(_) => {}
            }
            if let Some(t) = d.tls.as_ref().and_then(|t| t.client_key_pkcs11.as_ref()) {
                add(
                    key("tls.client_key_pkcs11.pin_file"),
                    &Some(t.pin_file.clone()),
                );
            }
        }
        // A token's PIN is a secret like the others.
        if let Some(t) = self.server.tls.as_ref().and_then(|t| t.key_pkcs11.as_ref()) {
            add(
                "server.tls.key_pkcs11.pin_file".into(),
                &Some(t.pin_file.clone()),
            );
        }
        if let Some(t) = self.signing.as_ref().and_then(|s| s.key_pkcs11.as_ref()) {
            add(
                "signing.key_pkcs11.pin_file".into(),
                &Some(t.pin_file.clone()),
            );
        }
        out
    }

    /// What check-config prints as warnings and `serve` logs at every start: an exposed
    /// listener left open by `server.allow_unauthenticated`, secret files others can read.
    pub fn warnings(&self) -> Vec<ConfigError> {
        self.warnings_at(self.server.listen)
    }

    /// [`Config::warnings`] for a listener bound at `listen`.
    pub fn warnings_at(&self, listen: std::net::SocketAddr) -> Vec<ConfigError> {
        let mut warnings = Vec::new();
        if self.server.allow_unauthenticated {
            let open = crate::access::unprotected(&self.server, listen);
            if open.is_empty() {
                warnings.push(err(
                    "server.allow_unauthenticated",
                    "is set (it is not needed: every API has authentication)",
                ));
            }
            warnings.extend(open.into_iter().map(|e| ConfigError {
                message: format!("{} — allowed by server.allow_unauthenticated", e.message),
                ..e
            }));
        }
        warnings.extend(self.private_destinations());
        for (key, path) in self.secret_files() {
            if let Some(w) = secret_file_permission_warning(&path) {
                warnings.push(err(key, w));
            }
        }
        if !listen.ip().is_loopback()
            && self.server.public_names.is_empty()
            && self.server.public_url.is_none()
        {
            warnings.push(err(
                "server.public_names",
                "is empty on a listener other hosts reach: the Host header is not checked (set the names clients use)",
            ));
        }
        warnings
    }

    /// Destination URLs whose host is, or resolves to, a loopback, link-local or private
    /// address: not refused (portals and lower-level centers may sit on the province's private
    /// network), but said, so that an operator notices a URL that points at this host or its
    /// neighbours by mistake. Names that do not resolve here are not reported.
    fn private_destinations(&self) -> Vec<ConfigError> {
        use std::net::ToSocketAddrs;
        let mut out = Vec::new();
        for (name, d) in &self.destinations {
            for (key, url) in d.kind.urls() {
                let Ok(u) = reqwest::Url::parse(url) else {
                    continue;
                };
                let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
                    continue;
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let Ok(addrs) = (host, port).to_socket_addrs() else {
                    continue;
                };
                let special: Vec<String> = addrs
                    .filter_map(|a| {
                        lienthong_connectors::files::special(a.ip())
                            .map(|kind| format!("{} ({kind})", a.ip()))
                    })
                    .collect();
                if let Some(first) = special.first() {
                    out.push(err(
                        format!("destinations.{name}.{key}"),
                        format!(
                            "{host} is {first}, not a public address: right for a system on the province's own network, wrong if it points at this host by mistake"
                        ),
                    ));
                }
            }
        }
        out
    }

    /// The admin token, read from its file if need be.
    ///
    /// Errors: the file cannot be read, or the token is shorter than [`MIN_TOKEN_CHARS`].
    pub fn admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        match (&self.server.admin_token, &self.server.admin_token_file) {
            (Some(t), _) => long_enough("server.admin_token", t.clone()).map(Some),
            (None, Some(f)) => token_from_file("server.admin_token_file", f).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// A warning when a secret file can be read by others (mode & 0o007), `None` when it cannot or
/// its mode cannot be read. Group-readable is fine: the runbook installs secrets as 0640
/// `root:lienthong`.
pub fn secret_file_permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o007 != 0).then(|| {
        format!(
            "{} has mode {:o}: every user of the host can read this secret; chmod 600 (or 640 with the service's group)",
            path.display(),
            mode & 0o777
        )
    })
}

/// The shortest bearer token accepted (`server.admin_token`, `server.center_token_file`): 32
/// characters, e.g. `openssl rand -hex 16` or more. A short token could be guessed.
pub const MIN_TOKEN_CHARS: usize = 32;

fn token_from_file(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let token = Secret::from_file(path).map_err(|e| err(key, e.to_string()))?;
    long_enough(key, token)
}

fn long_enough(key: &str, token: Secret) -> Result<Secret, ConfigError> {
    let chars = token.expose().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(err(
            key,
            format!(
                "the token has {chars} characters; use at least {MIN_TOKEN_CHARS} (openssl rand -hex 32)"
            ),
        ));
    }
    Ok(token)
}

/// Applies `LIENTHONG_A__B__C=value` as `a.b.c = value`. A value replacing a string stays a
/// string (so a numeric password is not turned into a number); otherwise it is read as a TOML
/// value when it parses as one, else as a string.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    errors: &mut Vec<ConfigError>,
) {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_RESERVED.contains(&name.as_str())
            || ENV_RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
            || rest.is_empty()
        {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            errors.push(err(&name, "bad override name (use LIENTHONG_SECTION__KEY)"));
            continue;
        }
        if let Err(e) = set_path(table, &path, raw) {
            errors.push(err(&name, e));
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], raw: String) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty override name")?;
    if rest.is_empty() {
        let value = match table.get(first) {
            Some(toml::Value::String(_)) => toml::Value::String(raw),
            _ => toml_scalar(&raw).unwrap_or(toml::Value::String(raw)),
        };
        table.insert(first.clone(), value);
        return Ok(());
    }
    match table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(t) => set_path(t, rest, raw),
        _ => Err(format!("`{first}` is not a table")),
    }
}

fn toml_scalar(raw: &str) -> Option<toml::Value> {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
}

fn section<T: DeserializeOwned>(
    key: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let full = if path == "." || path.is_empty() {
                key.to_owned()
            } else {
                format!("{key}.{path}")
            };
            errors.push(err(full, e.inner().message().to_owned()));
            None
        }
    }
}

/// The sections that parsed, so that each can be validated even when others did not parse.
struct Parts {
    server: Option<ServerConfig>,
    store: Option<StoreConfig>,
    center: Option<CenterConfig>,
    dispatcher: Option<DispatcherConfig>,
    log: Option<LogConfig>,
    routes: Option<Vec<RouteConfig>>,
    trust: Option<BTreeMap<String, TrustStoreConfig>>,
    signing: Option<Option<SigningConfig>>,
    exchange: Option<ExchangeConfig>,
    callbacks: Option<CallbacksConfig>,
    retention: Option<RetentionConfig>,
    deadlines: Option<DeadlinesConfig>,
    audit: Option<AuditConfig>,
    attachments: Option<lienthong_connectors::files::AttachmentsConfig>,
    destinations: BTreeMap<String, DestinationConfig>,
    /// Every destination name declared, including those that did not parse.
    declared: std::collections::BTreeSet<String>,
    destinations_ok: bool,
}

impl ServerConfig {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.max_body == 0 {
            errors.push(err("server.max_body", "must be more than 0"));
        }
        for (key, zero) in [
            ("server.header_timeout", self.header_timeout.is_zero()),
            ("server.body_timeout", self.body_timeout.is_zero()),
        ] {
            if zero {
                errors.push(err(key, "must be longer than 0s"));
            }
        }
        for (key, zero) in [
            ("server.min_body_rate", self.min_body_rate == 0),
            ("server.max_connections", self.max_connections == 0),
            (
                "server.max_requests_per_client",
                self.max_requests_per_client == 0,
            ),
        ] {
            if zero {
                errors.push(err(key, "must be at least 1"));
            }
        }
        if self.admin_token.is_some() && self.admin_token_file.is_some() {
            errors.push(err(
                "server.admin_token_file",
                "give admin_token or admin_token_file, not both",
            ));
        }
        if let Some(f) = &self.admin_token_file
            && !f.is_file()
        {
            errors.push(err(
                "server.admin_token_file",
                format!("{} does not exist", f.display()),
            ));
        }
        if let Some(u) = &self.public_url
            && !lienthong_connectors::http::is_http_url(u)
        {
            errors.push(err("server.public_url", "must be an http(s) URL"));
        }
        if self.console_session.is_zero() {
            errors.push(err("server.console_session", "must be longer than 0s"));
        }
        if let Some(f) = &self.viewer_token_file
            && !f.is_file()
        {
            errors.push(err(
                "server.viewer_token_file",
                format!("{} does not exist", f.display()),
            ));
        }
        if let Some(f) = &self.center_token_file
            && !f.is_file()
        {
            errors.push(err(
                "server.center_token_file",
                format!("{} does not exist", f.display()),
            ));
        }
        if !self.allow_unauthenticated {
            errors.extend(crate::access::unprotected(self, self.listen));
        }
    }
}

impl Parts {
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Some(a) = &self.attachments
            && let Err(problems) = lienthong_connectors::files::FilePolicy::new(a)
        {
            errors.extend(
                problems
                    .into_iter()
                    .map(|p| err(format!("attachments.{}", p.key), p.message)),
            );
        }
        if let Some(AuditConfig { tsa: Some(tsa) }) = &self.audit {
            if !lienthong_connectors::http::is_http_url(&tsa.url) {
                errors.push(err("audit.tsa.url", "must be an http(s) URL"));
            }
            if let Err(e) = crate::audit::tsa::load_certificate(&tsa.certificate) {
                errors.push(err("audit.tsa.certificate", e));
            }
            if tsa.interval.is_zero() {
                errors.push(err("audit.tsa.interval", "must be longer than 0s"));
            }
        }
        if let Some(store) = &self.store {
            if let Err(e) = crate::store::StoreLocation::parse(&store.url) {
                errors.push(err("store.url", e));
            }
            if store.max_batch == 0 {
                errors.push(err("store.max_batch", "must be at least 1"));
            }
            if store.max_connections == 0 {
                errors.push(err("store.max_connections", "must be at least 1"));
            }
            if store.acquire_timeout.is_zero() {
                errors.push(err("store.acquire_timeout", "must be longer than 0s"));
            }
            if store.statement_timeout.is_zero() {
                errors.push(err(
                    "store.statement_timeout",
                    "must be longer than 0s (0 would turn PostgreSQL's limit off)",
                ));
            }
        }
        if let Some(server) = &self.server {
            server.validate(errors);
        }
        if let Some(log) = &self.log
            && !matches!(log.format.as_str(), "auto" | "text" | "json")
        {
            errors.push(err("log.format", "must be auto, text or json"));
        }
        if let Some(d) = &self.dispatcher
            && d.claim_batch == 0
        {
            errors.push(err("dispatcher.claim_batch", "must be at least 1"));
        }
        for (name, d) in &self.destinations {
            let key = format!("destinations.{name}");
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                errors.push(err(&key, "names use letters, digits, - and _"));
            }
            let r = &d.retry;
            if r.initial.is_zero() {
                errors.push(err(format!("{key}.retry.initial"), "must be more than 0"));
            }
            if !(r.multiplier >= 1.0 && r.multiplier.is_finite()) {
                errors.push(err(
                    format!("{key}.retry.multiplier"),
                    "must be at least 1.0",
                ));
            }
            if r.max_delay < r.initial {
                errors.push(err(
                    format!("{key}.retry.max_delay"),
                    "must not be less than initial",
                ));
            }
            if r.max_attempts == 0 {
                errors.push(err(
                    format!("{key}.retry.max_attempts"),
                    "must be at least 1",
                ));
            }
            if d.concurrency == 0 {
                errors.push(err(format!("{key}.concurrency"), "must be at least 1"));
            }
            if d.circuit_breaker.failures == 0 {
                errors.push(err(
                    format!("{key}.circuit_breaker.failures"),
                    "must be at least 1",
                ));
            }
            match &d.kind {
                DestinationKind::Dvcqg(c) => {
                    for p in c.validate() {
                        errors.push(err(format!("{key}.{}", p.key), p.message));
                    }
                }
                DestinationKind::Peer(c) => {
                    for p in c.validate() {
                        errors.push(err(format!("{key}.{}", p.key), p.message));
                    }
                    if let (Some(t), Some(stores)) = (&c.signature_trust, &self.trust)
                        && !stores.contains_key(t)
                    {
                        errors.push(err(
                            format!("{key}.signature_trust"),
                            format!("unknown trust store `{t}` (add [trust.{t}])"),
                        ));
                    }
                }
                DestinationKind::Webhook(c) => {
                    for p in c.validate() {
                        errors.push(err(format!("{key}.{}", p.key), p.message));
                    }
                }
                DestinationKind::Investment(c) => {
                    for p in c.validate() {
                        errors.push(err(format!("{key}.{}", p.key), p.message));
                    }
                    if matches!(self.signing, Some(None)) {
                        errors.push(err(
                            format!("{key}.kind"),
                            "an investment destination signs its registrations: add [signing]",
                        ));
                    }
                }
                DestinationKind::Nbrs(c) => {
                    for p in c.validate() {
                        errors.push(err(format!("{key}.{}", p.key), p.message));
                    }
                }
                DestinationKind::Emc(c) => {
                    for p in c.validate() {
                        errors.push(err(format!("{key}.{}", p.key), p.message));
                    }
                }
            }
        }
        if let Some(r) = &self.retention {
            if r.batch == 0 {
                errors.push(err("retention.batch", "must be at least 1"));
            }
            if r.interval.is_zero() {
                errors.push(err("retention.interval", "must be more than 0"));
            }
            if r.dossiers < r.delivered {
                errors.push(err(
                    "retention.dossiers",
                    "must be at least retention.delivered (a dossier outlives its messages)",
                ));
            }
            let windows = [
                (
                    "callbacks.max_age",
                    self.callbacks.as_ref().map(|c| c.max_age),
                ),
                (
                    "exchange.max_age",
                    self.exchange.as_ref().map(|x| x.max_age),
                ),
                (
                    "exchange.pull.max_age",
                    self.exchange
                        .as_ref()
                        .and_then(|x| x.pull.as_ref())
                        .map(|p| p.max_age),
                ),
            ];
            for (key, window) in windows {
                if let Some(w) = window
                    && r.dedupe < w
                {
                    errors.push(err(
                        "retention.dedupe",
                        format!(
                            "must be at least {key} ({}): a replay inside that window must still be recognised",
                            humantime::format_duration(w)
                        ),
                    ));
                }
            }
        }
        if let Some(c) = &self.callbacks {
            self.check_forward_to("callbacks.forward_to", &c.forward_to, errors);
            if c.max_body == 0 {
                errors.push(err("callbacks.max_body", "must be more than 0"));
            }
            for (name, key) in [("dvcqg", &c.dvcqg), ("payment", &c.payment)] {
                if let Some(Err(e)) = key.as_ref().map(SharedKeyConfig::check) {
                    errors.push(err(format!("callbacks.{name}.secret"), e));
                }
            }
            if let Some(i) = &c.investment
                && i.signers.iter().all(|s| s.trim().is_empty())
            {
                errors.push(err(
                    "callbacks.investment.signers",
                    "required: the names (DN, CN or SAN) the investment system's signing certificate carries; without them any certificate of the trust store would be believed",
                ));
            }
            if let (Some(i), Some(stores)) = (&c.investment, &self.trust)
                && !stores.contains_key(&i.trust)
            {
                errors.push(err(
                    "callbacks.investment.trust",
                    format!(
                        "unknown trust store `{}` (add [trust.{}])",
                        i.trust, i.trust
                    ),
                ));
            }
        }
        if let Some(x) = &self.exchange {
            self.check_forward_to("exchange.forward_to", &x.forward_to, errors);
            if x.max_body == 0 {
                errors.push(err("exchange.max_body", "must be more than 0"));
            }
            if x.memory_per_client == Some(0) || x.min_body_rate == 0 || x.body_timeout.is_zero() {
                errors.push(err(
                    "exchange",
                    "memory_per_client, min_body_rate and body_timeout must be more than 0",
                ));
            }
            if x.memory_budget < x.max_body {
                errors.push(err(
                    "exchange.memory_budget",
                    "must be at least exchange.max_body",
                ));
            }
            if let Some(p) = &x.pull {
                match self.destinations.get(&p.axis).map(|d| &d.kind) {
                    Some(DestinationKind::Peer(c))
                        if c.transport == lienthong_connectors::peer::Transport::Axis => {}
                    Some(_) => errors.push(err(
                        "exchange.pull.axis",
                        format!(
                            "`{}` is not a peer destination with transport = \"axis\"",
                            p.axis
                        ),
                    )),
                    None if self.declared.contains(&p.axis) => {}
                    None => errors.push(err(
                        "exchange.pull.axis",
                        format!("unknown destination `{}`", p.axis),
                    )),
                }
                if p.interval.is_zero() {
                    errors.push(err("exchange.pull.interval", "must be more than 0"));
                }
                if p.max_backoff < p.interval {
                    errors.push(err(
                        "exchange.pull.max_backoff",
                        "must not be less than interval",
                    ));
                }
                if p.batch == 0 {
                    errors.push(err("exchange.pull.batch", "must be at least 1"));
                }
            }
        }
        for (i, r) in self.routes.iter().flatten().enumerate() {
            if r.destinations.is_empty() {
                errors.push(err(
                    format!("routes[{i}].destinations"),
                    "must name at least one destination",
                ));
            }
            for d in &r.destinations {
                if !self.declared.contains(d) {
                    errors.push(err(
                        format!("routes[{i}].destinations"),
                        format!("unknown destination `{d}`"),
                    ));
                }
            }
            if let Some(l) = &r.level
                && !matches!(l.as_str(), "province" | "district" | "commune")
            {
                errors.push(err(
                    format!("routes[{i}].level"),
                    "must be province, district or commune",
                ));
            }
        }
    }

    /// Each name must be a webhook destination.
    fn check_forward_to(&self, key: &str, names: &[String], errors: &mut Vec<ConfigError>) {
        for name in names {
            match self.destinations.get(name) {
                Some(d) if matches!(d.kind, DestinationKind::Webhook(_)) => {}
                Some(_) => errors.push(err(key, format!("`{name}` is not a webhook destination"))),
                None if self.declared.contains(name) => {}
                None => errors.push(err(key, format!("unknown destination `{name}`"))),
            }
        }
    }

    fn assemble(self) -> Option<Config> {
        if !self.destinations_ok {
            return None;
        }
        Some(Config {
            server: self.server?,
            store: self.store?,
            center: self.center?,
            dispatcher: self.dispatcher?,
            log: self.log?,
            destinations: self.destinations,
            routes: self.routes?,
            trust: self.trust?,
            signing: self.signing?,
            exchange: self.exchange?,
            callbacks: self.callbacks?,
            retention: self.retention?,
            deadlines: self.deadlines?,
            audit: self.audit?,
            attachments: self.attachments?,
            source: None,
        })
    }
}

fn parse_sections(mut table: toml::Table, errors: &mut Vec<ConfigError>) -> Parts {
    let mut take = |k: &str| table.remove(k);
    let server = section::<ServerConfig>(
        "server",
        take("server").unwrap_or(toml::Value::Table(toml::Table::new())),
        errors,
    );
    let store = match take("store") {
        Some(v) => section::<StoreConfig>("store", v, errors),
        None => {
            errors.push(err("store", "missing section (store.url is required)"));
            None
        }
    };
    let center = match take("center") {
        Some(v) => section::<CenterConfig>("center", v, errors),
        None => {
            errors.push(err("center", "missing section (agency_code, agency_name)"));
            None
        }
    };
    let dispatcher = match take("dispatcher") {
        Some(v) => section::<DispatcherConfig>("dispatcher", v, errors),
        None => Some(DispatcherConfig::default()),
    };
    let log = match take("log") {
        Some(v) => section::<LogConfig>("log", v, errors),
        None => Some(LogConfig::default()),
    };
    let routes = match take("routes") {
        Some(v) => section::<Vec<RouteConfig>>("routes", v, errors),
        None => Some(Vec::new()),
    };
    let trust = match take("trust") {
        Some(v) => section::<BTreeMap<String, TrustStoreConfig>>("trust", v, errors),
        None => Some(BTreeMap::new()),
    };
    let signing = match take("signing") {
        Some(v) => section::<SigningConfig>("signing", v, errors).map(Some),
        None => Some(None),
    };
    let exchange = match take("exchange") {
        Some(v) => section::<ExchangeConfig>("exchange", v, errors),
        None => Some(ExchangeConfig::default()),
    };
    let retention = match take("retention") {
        Some(v) => section::<RetentionConfig>("retention", v, errors),
        None => Some(RetentionConfig::default()),
    };
    let audit = match take("audit") {
        Some(v) => section::<AuditConfig>("audit", v, errors),
        None => Some(AuditConfig::default()),
    };
    let attachments = match take("attachments") {
        Some(v) => {
            section::<lienthong_connectors::files::AttachmentsConfig>("attachments", v, errors)
        }
        None => Some(lienthong_connectors::files::AttachmentsConfig::default()),
    };
    let deadlines = match take("deadlines") {
        Some(v) => section::<DeadlinesConfig>("deadlines", v, errors),
        None => Some(DeadlinesConfig::default()),
    };
    let callbacks = match take("callbacks") {
        Some(v) => section::<CallbacksConfig>("callbacks", v, errors),
        None => Some(CallbacksConfig::default()),
    };
    let mut destinations = BTreeMap::new();
    let mut destinations_ok = true;
    let mut declared = std::collections::BTreeSet::new();
    match take("destinations") {
        None => {}
        Some(toml::Value::Table(t)) => {
            for (name, v) in t {
                declared.insert(name.clone());
                match destination(&name, v, errors) {
                    Some(d) => {
                        destinations.insert(name, d);
                    }
                    None => destinations_ok = false,
                }
            }
        }
        Some(_) => {
            errors.push(err(
                "destinations",
                "must be a table of [destinations.<name>]",
            ));
            destinations_ok = false;
        }
    }
    for k in table.keys() {
        errors.push(err(k.as_str(), "unknown key"));
    }
    Parts {
        server,
        store,
        center,
        dispatcher,
        log,
        routes,
        trust,
        signing,
        exchange,
        callbacks,
        deadlines,
        audit,
        attachments,
        retention,
        destinations,
        declared,
        destinations_ok,
    }
}

fn destination(
    name: &str,
    v: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<DestinationConfig> {
    let key = format!("destinations.{name}");
    let toml::Value::Table(mut t) = v else {
        errors.push(err(key, "must be a table"));
        return None;
    };
    let kind = match t.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(_) => {
            errors.push(err(format!("{key}.kind"), "must be a string"));
            return None;
        }
        None => {
            errors.push(err(format!("{key}.kind"), "required (dvcqg)"));
            return None;
        }
    };
    let retry = match t.remove("retry") {
        Some(v) => section::<RetryPolicy>(&format!("{key}.retry"), v, errors),
        None => Some(RetryPolicy::default()),
    };
    let circuit_breaker = match t.remove("circuit_breaker") {
        Some(v) => section::<BreakerConfig>(&format!("{key}.circuit_breaker"), v, errors),
        None => Some(BreakerConfig::default()),
    };
    let tls = match t.remove("tls") {
        Some(v) => section::<DestinationTlsConfig>(&format!("{key}.tls"), v, errors).map(Some),
        None => Some(None),
    };
    let sign_requests = match t.remove("sign_requests") {
        Some(v) => section::<bool>(&format!("{key}.sign_requests"), v, errors),
        None => Some(false),
    };
    let concurrency = match t.remove("concurrency") {
        Some(v) => section::<usize>(&format!("{key}.concurrency"), v, errors),
        None => Some(DEFAULT_CONCURRENCY),
    };
    let kind = match kind.as_str() {
        "dvcqg" => section::<DvcqgConfig>(&key, toml::Value::Table(t), errors)
            .map(|c| DestinationKind::Dvcqg(Box::new(c))),
        "peer" => {
            section::<lienthong_connectors::peer::PeerConfig>(&key, toml::Value::Table(t), errors)
                .map(|c| DestinationKind::Peer(Box::new(c)))
        }
        "webhook" => section::<lienthong_connectors::webhook::WebhookConfig>(
            &key,
            toml::Value::Table(t),
            errors,
        )
        .map(|c| DestinationKind::Webhook(Box::new(c))),
        "emc" => {
            section::<lienthong_connectors::emc::EmcConfig>(&key, toml::Value::Table(t), errors)
                .map(|c| DestinationKind::Emc(Box::new(c)))
        }
        "nbrs" => {
            section::<lienthong_connectors::nbrs::NbrsConfig>(&key, toml::Value::Table(t), errors)
                .map(|c| DestinationKind::Nbrs(Box::new(c)))
        }
        "investment" => section::<lienthong_connectors::investment::InvestmentConfig>(
            &key,
            toml::Value::Table(t),
            errors,
        )
        .map(|c| DestinationKind::Investment(Box::new(c))),
        other => {
            errors.push(err(
                format!("{key}.kind"),
                format!("unknown kind `{other}` (expected dvcqg, emc, investment, nbrs, peer or webhook)"),
            ));
            None
        }
    };
    Some(DestinationConfig {
        kind: kind?,
        retry: retry?,
        concurrency: concurrency?,
        circuit_breaker: circuit_breaker?,
        tls: tls?,
        sign_requests: sign_requests?,
    })
}

#[cfg(test)]
mod tests;
