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

impl StoreConfig {
    /// Checks this section alone (reads nothing).
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if let Err(e) = crate::store::StoreLocation::parse(&self.url) {
            errors.push(err("store.url", e));
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
