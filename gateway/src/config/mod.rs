//! The configuration file (one TOML file; its keys are a contract, each documented in
//! `deploy/config/lienthong.example.toml` and the README's "Configuration"; `ARCHITECTURE.md`).
//!
//! Loading is in three steps so that `lienthong check-config` can report *every* problem with its
//! key, not only serde's first: parse the TOML, apply `LIENTHONG_*` environment overrides
//! (`env.rs`), then deserialize each section on its own (unknown keys are errors) and validate:
//! each section checks itself (in its own file under `config/`: `server.rs`, `store.rs`,
//! `callbacks.rs`, `exchange.rs`, `operations.rs`, `destinations.rs`, `trust.rs`), and the
//! cross-section checks follow (routes name configured destinations, pushes forward to
//! webhooks, windows fit the retention). Validation reads no file — it only looks whether the
//! secret files it names exist; what the files hold is read once, by [`crate::loaded::Loaded`].

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

mod callbacks;
mod destinations;
mod env;
mod exchange;
mod files;
pub mod on_reload;
mod operations;
mod secrets;
mod server;
mod store;
mod trust;
pub use callbacks::{CallbacksConfig, SharedKeyConfig, SignedPushConfig};
pub use destinations::{
    BreakerConfig, DEFAULT_CONCURRENCY, DestinationConfig, DestinationKind, RetryPolicy,
    RouteConfig,
};
pub use exchange::{ExchangeConfig, PullConfig};
pub use operations::{
    AuditConfig, DeadlinesConfig, DispatcherConfig, LogConfig, RetentionConfig, TsaConfig,
};
pub use secrets::{MIN_TOKEN_CHARS, secret_file_permission_warning};
pub use server::{ConnectionLimits, ServerConfig};
pub use store::StoreConfig;

use destinations::destination;
use env::apply_env;
use exchange::default_exchange_skew;
use on_reload::{Changes, OnReload};
use secrets::{long_enough, token_from_file};
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

/// `[center]`: the center Lienthong serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterConfig {
    /// The center's identifier (mã định danh), e.g. `000.02.01.H37`.
    pub agency_code: String,
    /// Its name.
    pub agency_name: String,
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

    /// The files the configuration at `path` names (with the process's environment overrides)
    /// that are missing or cannot be read, one problem per file with every key naming it, read
    /// on the raw text: found whether or not the rest of the file is valid (check-config lists
    /// them beside the text's own problems). Empty when the text is not TOML (that is the
    /// text's problem).
    pub fn file_problems(path: &Path) -> Vec<ConfigError> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        let Ok(mut table) = toml::from_str::<toml::Table>(&text) else {
            return Vec::new();
        };
        apply_env(&mut table, std::env::vars(), &mut Vec::new());
        files::problems(&table)
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
            for (k, file) in d.kind.config().secret_files() {
                add(key(k), &Some(file));
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
            let open = crate::auth::access::unprotected(&self.server);
            if open.is_empty() {
                warnings.push(err(
                    "server.allow_unauthenticated",
                    "is set (it is not needed: every API has authentication)",
                ));
            }
            warnings.extend(open.into_iter().map(|e| ConfigError {
                message: format!(
                    "{} — open to every caller, whatever its address, because server.allow_unauthenticated is set (a lab only)",
                    e.message
                ),
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
        if let Some(server) = &self.server {
            server.validate(errors);
        }
        if let Some(store) = &self.store {
            store.validate(errors);
        }
        if let Some(audit) = &self.audit {
            audit.validate(errors);
        }
        if let Some(log) = &self.log {
            log.validate(errors);
        }
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.validate(errors);
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
            for p in d.kind.config().validate() {
                errors.push(err(format!("{key}.{}", p.key), p.message));
            }
            // What its kind needs of other sections (a section that failed to parse has
            // its own error already).
            let needs = d.kind.config().needs();
            if let (Some(problem), Some(None)) = (needs.signing, &self.signing) {
                errors.push(err(format!("{key}.kind"), problem));
            }
            for (store_key, t) in &needs.trust_stores {
                if let Some(stores) = &self.trust
                    && !stores.contains_key(t)
                {
                    errors.push(err(
                        format!("{key}.{store_key}"),
                        format!("unknown trust store `{t}` (add [trust.{t}])"),
                    ));
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
        // A body no client address may hold in memory could never be received.
        if let Some(server) = &self.server {
            let share = server.body_memory_per_client();
            // Pushes are read only from a source that has something to check them by.
            let callbacks = self
                .callbacks
                .as_ref()
                .filter(|c| c.dvcqg.is_some() || c.payment.is_some() || c.investment.is_some())
                .map(|c| c.max_body);
            for (key, limit) in [
                ("server.max_body", Some(server.max_body)),
                ("callbacks.max_body", callbacks),
            ] {
                if let Some(limit) = limit.filter(|l| *l > share) {
                    errors.push(err(
                        key,
                        format!(
                            "{limit} bytes is more than one client address may hold in memory ({share} bytes, server.max_body_memory_per_client, by default half of server.max_body_memory): such a body would always be refused; raise server.max_body_memory"
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

/// The top-level tables of the configuration file; any other top-level key is an error.
pub(crate) const SECTIONS: &[&str] = &[
    "server",
    "store",
    "center",
    "dispatcher",
    "log",
    "routes",
    "trust",
    "signing",
    "exchange",
    "retention",
    "audit",
    "attachments",
    "deadlines",
    "callbacks",
    "destinations",
];

fn parse_sections(mut table: toml::Table, errors: &mut Vec<ConfigError>) -> Parts {
    let mut take = |k: &str| {
        debug_assert!(SECTIONS.contains(&k), "{k} is missing from SECTIONS");
        table.remove(k)
    };
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

impl OnReload for Config {
    fn on_reload(&self, new: &Self, c: &mut Changes) {
        let Self {
            server,
            store,
            center,
            dispatcher,
            log,
            destinations,
            routes,
            trust: _,
            signing: _,
            exchange,
            callbacks,
            retention,
            deadlines,
            audit,
            attachments: _,
            source: _,
        } = self;
        c.section("server", server, &new.server);
        // The store, the center's identity (the axis poller, the answers' sender), the
        // dispatcher's loop, the log, routing, the exchange receiver, retention, deadline
        // statistics and time-stamping are set up once, at start-up.
        c.restart("store", store, &new.store);
        c.restart("center", center, &new.center);
        c.restart("dispatcher", dispatcher, &new.dispatcher);
        c.restart("log", log, &new.log);
        c.restart("routes", routes, &new.routes);
        c.restart("exchange", exchange, &new.exchange);
        c.restart("retention", retention, &new.retention);
        c.restart("deadlines", deadlines, &new.deadlines);
        c.restart("audit", audit, &new.audit);
        // Rebuilt by the reload: trust stores, the signing identity (the security material) and
        // the file policy of intake and of the peers' fetcher.
        c.live("trust");
        c.live("signing");
        c.live("attachments");
        c.section("callbacks", callbacks, &new.callbacks);
        // Destinations: the set is fixed at start-up; each one's wiring is rebuilt.
        c.restart_if(
            "destinations",
            destinations.keys().ne(new.destinations.keys()),
        );
        let axis = self.exchange.pull.as_ref().map(|p| p.axis.as_str());
        for (name, d) in destinations {
            if let Some(n) = new.destinations.get(name) {
                c.section(&format!("destinations.{name}"), d, n);
                // The axis poller holds its own client of that peer, built at start-up.
                if axis == Some(name.as_str()) {
                    c.restart(&format!("destinations.{name}"), d, n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
