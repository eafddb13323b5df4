//! `[store]`: where dossiers, messages and deliveries live (SQLite or PostgreSQL).

use super::*;

/// `[store]`: where dossiers, messages and deliveries live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:///absolute/path.db` (one node) or `postgres://user@host:5432/database`
    /// (several instances sharing the work; give each its own `server.instance`).
    pub url: String,
    /// Most write operations committed together (group commit): on SQLite any, on PostgreSQL
    /// new dossiers.
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
    pub fn options(&self, instance: &str) -> StoreOptions {
        StoreOptions {
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
    StoreOptions::default().max_connections
}
fn default_acquire_timeout() -> Duration {
    StoreOptions::default().acquire_timeout
}
fn default_statement_timeout() -> Duration {
    StoreOptions::default().statement_timeout
}

fn default_group_commit() -> usize {
    StoreOptions::default().max_batch
}
fn default_read_connections() -> u32 {
    StoreOptions::default().read_connections
}

impl StoreConfig {
    /// Checks this section alone (reads nothing).
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Err(e) = StoreLocation::parse(&self.url) {
            errors.push(err("store.url", e.to_string()));
        }
        if self.max_batch == 0 {
            errors.push(err("store.max_batch", "must be at least 1"));
        }
        if self.max_connections == 0 {
            errors.push(err("store.max_connections", "must be at least 1"));
        }
        if self.acquire_timeout.is_zero() {
            errors.push(err("store.acquire_timeout", "must be longer than 0s"));
        }
        if self.statement_timeout.is_zero() {
            errors.push(err(
                "store.statement_timeout",
                "must be longer than 0s (0 would turn PostgreSQL's limit off)",
            ));
        }
    }
}

/// Where the store is, parsed from `store.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database (the URL as given, credentials included).
    Postgres(String),
}

impl StoreLocation {
    /// Parses `sqlite:///absolute/path.db` or `postgres://user@host:port/database` (also
    /// `postgresql://`; parameters such as `sslmode` as libpq takes them).
    ///
    /// Errors: another scheme, a relative SQLite path, a PostgreSQL URL without a host.
    pub fn parse(url: &str) -> Result<Self, StoreUrlError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let p = std::path::PathBuf::from(path);
            if !p.is_absolute() {
                return Err(StoreUrlError::RelativeSqlitePath(url.to_owned()));
            }
            return Ok(Self::Sqlite(p));
        }
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or_default();
            if host.is_empty() {
                return Err(StoreUrlError::PostgresWithoutHost);
            }
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(StoreUrlError::UnknownScheme)
    }
}

/// Why `store.url` is not a store Lienthong can open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    /// `sqlite://` with a relative path (two slashes instead of three).
    #[error("`{0}`: write sqlite:///absolute/path.db (three slashes)")]
    RelativeSqlitePath(String),
    /// `postgres://` without a host.
    #[error("PostgreSQL URL without a host: write postgres://user@host:5432/database")]
    PostgresWithoutHost,
    /// Neither SQLite nor PostgreSQL.
    #[error("expected sqlite:///absolute/path.db or postgres://user@host:5432/database")]
    UnknownScheme,
}

/// How the store is opened, from `[store]` ([`StoreConfig::options`]).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most write operations committed together (group commit): on SQLite any, on PostgreSQL
    /// new dossiers.
    pub max_batch: usize,
    /// SQLite: read-only connections.
    pub read_connections: u32,
    /// PostgreSQL: most connections of this instance.
    pub max_connections: u32,
    /// PostgreSQL: how long an operation waits for a connection (and so how long intake takes
    /// to answer 503 while the database is down).
    pub acquire_timeout: Duration,
    /// PostgreSQL: longest a statement may run.
    pub statement_timeout: Duration,
    /// This instance's name (PostgreSQL `application_name`, to tell instances apart in
    /// `pg_stat_activity`).
    pub instance: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 256,
            read_connections: 4,
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            instance: "lienthong".to_owned(),
        }
    }
}
