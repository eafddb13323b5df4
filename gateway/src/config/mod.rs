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
mod parts;
mod secrets;
mod section;
mod server;
mod store;
mod trust;
pub use callbacks::{
    CallbacksConfig, PUSH_SOURCES, PushSourceConfig, SharedKeyConfig, SharedKeyError,
    SignedPushConfig, push_source, push_source_names,
};
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
pub use store::{StoreConfig, StoreLocation, StoreOptions, StoreUrlError};

use destinations::destination;
use env::apply_env;
use exchange::default_exchange_skew;
use on_reload::{Changes, OnReload};
#[cfg(test)]
use parts::SECTIONS;
use parts::parse_sections;
use secrets::{long_enough, token_from_file};
use section::section;
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
    ConfigError::new(key, message.into())
}

impl ConfigError {
    /// A problem with `key` (as the file spells it), saying `message`.
    pub fn new(key: impl Into<String>, message: impl ToString) -> Self {
        Self {
            key: key.into(),
            message: message.to_string(),
        }
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
        for (name, source) in &self.callbacks.sources {
            if let PushSourceConfig::SharedKey(k) = source {
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

    /// The warnings about the configuration itself (destinations on private addresses, secret
    /// files others can read, a listener other hosts reach with no Host check); `Config::warnings`
    /// (in `crate::auth::warnings`) adds what the configuration leaves open to every caller.
    pub(crate) fn own_warnings_at(&self, listen: std::net::SocketAddr) -> Vec<ConfigError> {
        let mut warnings = Vec::new();
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
