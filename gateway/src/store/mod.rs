//! The store: dossiers, status events, messages (the outbox), deliveries and attempts, what
//! came in from outside (edXML, pushes) with its dedupe records, follow-ups and job leases.
//!
//! Two backends behind one [`Store`], chosen by `store.url`:
//! - **SQLite** (`sqlite:///path.db`, the default for one node): one writer task commits
//!   operations in groups ([`sqlite`]);
//! - **PostgreSQL** (`postgres://…`, several instances on one database): each operation in its
//!   own transaction, lane heads claimed with `FOR UPDATE SKIP LOCKED` ([`postgres`]).
//!
//! Both run the same operations ([`op::Op`]) through the same SQL (`ops/`, compiled once per
//! driver), so they behave alike; either answers a caller only after the commit. No SQL lives
//! outside this module.

/// Runs the read `$f` of `ops::reads` on whichever backend `$store` has.
macro_rules! on_backend {
    ($store:expr, $f:ident ( $($arg:expr),* )) => {
        match &*$store.backend {
            $crate::store::Backend::Sqlite(b) => {
                $crate::store::sqlite::ops::reads::$f(b.reader() $(, $arg)*).await
            }
            $crate::store::Backend::Postgres(b) => {
                $crate::store::postgres::ops::reads::$f(b.reader() $(, $arg)*).await
            }
        }
    };
}

mod audit;
pub use audit::{AuditStamp, AuditStatus};
mod callbacks;
mod deadlines;
pub use deadlines::OverdueDossier;
mod delivery;
mod exchange;
mod followups;
mod intake;
mod jobs;
mod nonces;
mod op;
pub mod postgres;
mod reads;
mod retention;
mod sessions;
mod sqlite;
mod state;
mod tokens;
mod writes;
pub use state::DeliveryState;

use std::sync::Arc;

use tokio::sync::{Notify, oneshot};

use crate::config::{StoreLocation, StoreOptions};

pub use callbacks::{CallbackOutcome, CallbackReceipt, OnChange};
pub use delivery::{Claim, ClaimedBatch, ClaimedMessage, Completion, Decision, ReplayOutcome};
pub use exchange::{ExchangeReceipt, ReceiptEffect, ReceiptOutcome};
pub use followups::{Followup, FollowupOutcome, FollowupUpdate, Seen};
pub use intake::{EventIntake, IntakeOutcome, NewDossier, NewMessage, ReplaceDossier};
pub use reads::{
    AttemptView, CallbackView, DeliveryFilter, DeliveryView, DossierRecord, DossierView, EventView,
    ReceivedView, StateCount,
};
pub use retention::{PurgePlan, Purged};

/// Which SQL dialect an `ops` compilation speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// Store failures. Callers answer 503 for them: nothing was committed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no, or could not be reached.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The writer task has stopped (shutting down, or the database failed).
    #[error("the store is shutting down")]
    Closed,
    /// The write transaction could not begin or commit; nothing of it was stored.
    #[error("write failed: {0}")]
    Write(String),
    /// A stored value could not be read back.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The location is invalid.
    #[error("{0}")]
    Location(String),
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    /// Signalled after every commit that added or freed deliveries, so the dispatcher claims at
    /// once (on PostgreSQL: this instance's commits; other instances' work is found by polling).
    pub work: Arc<Notify>,
}

impl Store {
    /// Opens the store at `url` with default options (tests, the CLI).
    ///
    /// Errors: as [`Store::open_with`].
    pub async fn open(
        url: &str,
        max_batch: usize,
        read_connections: u32,
    ) -> Result<Self, StoreError> {
        let options = StoreOptions {
            max_batch,
            read_connections,
            ..StoreOptions::default()
        };
        Self::open_with(url, &options).await
    }

    /// Opens (creating a SQLite file if need be) the store, brings its schema up to date and
    /// starts it.
    ///
    /// Errors: the location is invalid, the database cannot be opened or reached, migrations
    /// fail.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let work = Arc::new(Notify::new());
        let backend =
            match StoreLocation::parse(url).map_err(|e| StoreError::Location(e.to_string()))? {
                StoreLocation::Sqlite(path) => Backend::Sqlite(
                    sqlite::SqliteStore::open(
                        &path,
                        options.max_batch,
                        options.read_connections,
                        work.clone(),
                    )
                    .await?,
                ),
                StoreLocation::Postgres(url) => {
                    Backend::Postgres(postgres::PgStore::open(&url, options, work.clone()).await?)
                }
            };
        Ok(Self {
            backend: Arc::new(backend),
            work,
        })
    }

    /// Whether several instances may share this store (PostgreSQL).
    pub fn shared(&self) -> bool {
        matches!(*self.backend, Backend::Postgres(_))
    }

    /// Which backend this is, for logs and health: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match *self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs a write operation and waits for its answer (sent after the commit).
    async fn submit<T>(
        &self,
        op: op::Op,
        rx: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let name = op.name();
        let started = std::time::Instant::now();
        match &*self.backend {
            Backend::Sqlite(s) => s.submit(op).await?,
            Backend::Postgres(p) => p.run(op, &self.work).await,
        }
        let result = rx.await.map_err(|_| StoreError::Closed)?;
        // Until the commit, queueing in the SQLite writer included: what a caller waits.
        crate::monitoring::telemetry::store_op(
            name,
            started.elapsed().as_secs_f64(),
            result.is_ok(),
        );
        result
    }

    /// Stops the store after what it holds is committed.
    pub async fn close(&self) {
        match &*self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// Milliseconds since the Unix epoch, the store's time unit.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// RFC 3339 text of a store time, for answers.
pub fn ms_to_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
