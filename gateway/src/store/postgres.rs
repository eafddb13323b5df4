//! The PostgreSQL store, for several instances sharing the work on one database.
//!
//! Every operation runs in its own transaction on a pooled connection (PostgreSQL commits
//! concurrent transactions with shared WAL flushes, so there is no writer task to group them),
//! and its caller is answered after the commit. The SQL is the SQLite store's (`ops/`), with row
//! locks where instances may meet: claims take lane heads with `FOR UPDATE SKIP LOCKED`, intake
//! and receipts lock the dossier's row, and an operation that lost a race with another instance
//! (a unique key taken meanwhile, a deadlock, a serialization failure) is run again, where it
//! finds what the other instance stored (a duplicate then gets the original answer).
//!
//! While the database is down, operations fail after `acquire_timeout` (callers answer 503 with
//! Retry-After; nothing is lost, since nothing was said yes to); the pool opens new connections
//! when it is back, so work resumes without a restart.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};
use tokio::sync::Notify;

use super::op::{Done, Op};
use super::{Dialect, StoreError, StoreOptions};

pub(super) type Db = Postgres;
pub(super) type Conn = sqlx::PgConnection;
pub(super) type Pool = sqlx::PgPool;
pub(super) const DIALECT: Dialect = Dialect::Postgres;

// The operations, compiled for this driver (and again in `sqlite.rs` for the other one).
#[expect(
    clippy::duplicate_mod,
    reason = "one source of SQL compiled for each driver, see ops/mod.rs"
)]
#[path = "ops/mod.rs"]
pub(super) mod ops;

/// Times an operation that lost a race with another instance is run again.
const CONFLICT_RETRIES: u32 = 5;

/// The open PostgreSQL store: its pool.
pub(super) struct PgStore {
    pool: Pool,
}

/// Connects to `url` and brings its schema up to date (idempotent; several instances may do it
/// at once: sqlx takes an advisory lock around the migrations).
///
/// Errors: the database cannot be reached, or a migration fails.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    let result = sqlx::migrate!("./migrations/postgres").run(&pool).await;
    pool.close().await;
    result?;
    Ok(())
}

impl PgStore {
    /// Connects, brings the schema up to date and opens the pool.
    pub(super) async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        migrate(url).await?;
        let statement_timeout = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)?
            .application_name(&format!("lienthong/{}", options.instance))
            // A statement stuck behind a lock or a slow disk fails (and its operation with it)
            // instead of holding a connection and its caller forever.
            .options([("statement_timeout", statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // A connection the server dropped (restart, failover) is found before use and
            // replaced, so work resumes by itself when the database is back.
            .test_before_acquire(true)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_with(connect)
            .await?;
        Ok(Self { pool })
    }

    /// Runs `op` in its own transaction and answers it after the commit.
    pub(super) async fn run(&self, op: Op, work: &Arc<Notify>) {
        if matches!(op, Op::Stop(_)) {
            op.answer(Ok(Done::Unit));
            return;
        }
        let mut tries = 0;
        let result = loop {
            match self.transaction(&op).await {
                Err(e) if lost_a_race(&e) && tries < CONFLICT_RETRIES => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "store: concurrent change; running the operation again");
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(done) => {
                if op.wakes(&done) {
                    work.notify_one();
                }
                op.answer(Ok(done));
            }
            Err(e) => op.answer(Err(StoreError::Db(e))),
        }
    }

    async fn transaction(&self, op: &Op) -> Result<Done, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = ops::execute(&mut tx, op).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// The pool reads run on.
    pub(super) fn reader(&self) -> &Pool {
        &self.pool
    }

    /// Closes the pool's connections.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether `e` means another instance changed the same rows first: running the operation again
/// sees their change (a unique key another instance just took, a deadlock, a serialization
/// failure).
fn lost_a_race(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() || matches!(db.code().as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}
