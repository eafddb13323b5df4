//! The PostgreSQL store, for several instances sharing the work on one database.
//!
//! Every operation runs in its own transaction on a pooled connection (PostgreSQL commits
//! concurrent transactions with shared WAL flushes), but new dossiers, the bulk of the load, are
//! written in groups with multi-row statements (see [`group_intake`]); every caller is answered
//! after the commit that holds its data. The SQL is the SQLite store's (`ops/`), with row
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
use tokio::sync::{Notify, Semaphore, mpsc};

use super::op::{Done, Op};
use super::{Dialect, StoreError};
use crate::config::StoreOptions;

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

/// The open PostgreSQL store: its pool, and the queue where new dossiers wait to be written
/// together.
pub(super) struct PgStore {
    pool: Pool,
    intake: mpsc::Sender<Op>,
}

/// New dossiers waiting for a group.
const INTAKE_QUEUE: usize = 8192;

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
    /// Connects, brings the schema up to date, opens the pool and starts the intake grouper.
    pub(super) async fn open(
        url: &str,
        options: &StoreOptions,
        work: Arc<Notify>,
    ) -> Result<Self, StoreError> {
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
        let (intake, waiting) = mpsc::channel(INTAKE_QUEUE);
        // A quarter of the connections write intake groups, so claims, completions and reads
        // always find one.
        let slots = (options.max_connections / 4).max(1) as usize;
        tokio::spawn(group_intake(
            pool.clone(),
            waiting,
            options.max_batch.max(1),
            slots,
            work,
        ));
        Ok(Self { pool, intake })
    }

    /// Runs `op` in its own transaction (a new dossier: in a group of those waiting, see
    /// [`group_intake`]) and answers it after the commit.
    pub(super) async fn run(&self, op: Op, work: &Arc<Notify>) {
        if matches!(op, Op::NewDossier(..)) {
            if let Err(mpsc::error::SendError(op)) = self.intake.send(op).await {
                op.answer(Err(StoreError::Closed));
            }
            return;
        }
        run_alone(&self.pool, op, work).await;
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

/// Runs `op` in its own transaction, again when it lost a race with another instance, and
/// answers it after the commit.
async fn run_alone(pool: &Pool, op: Op, work: &Notify) {
    if matches!(op, Op::Stop(_)) {
        op.answer(Ok(Done::Unit));
        return;
    }
    let ops = [op];
    let result = with_retries(pool, &ops).await;
    let [op] = ops;
    match result {
        Ok(mut done) => {
            let done = done.pop().unwrap_or(Done::Unit);
            if op.wakes(&done) {
                work.notify_one();
            }
            op.answer(Ok(done));
        }
        Err(e) => op.answer(Err(StoreError::Db(e))),
    }
}

/// Writes new dossiers in groups, as the SQLite writer does: each group is the dossiers that
/// waited while the previous groups were being written (up to `max_batch`), in one transaction
/// with a few multi-row statements (`ops::execute_all`), so a group costs a handful of round
/// trips and one commit instead of four round trips per dossier. At most `slots` groups are
/// written at once; while they all are, new dossiers gather for the next.
async fn group_intake(
    pool: Pool,
    mut waiting: mpsc::Receiver<Op>,
    max_batch: usize,
    slots: usize,
    work: Arc<Notify>,
) {
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        let mut ops = vec![first];
        while ops.len() < max_batch {
            match waiting.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        let work = work.clone();
        tokio::spawn(async move {
            write_group(&pool, ops, &work).await;
            drop(slot);
        });
    }
}

/// Writes one group and answers each of its operations after the commit. When a statement
/// fails, every operation is run again alone, so one bad operation fails alone.
async fn write_group(pool: &Pool, ops: Vec<Op>, work: &Notify) {
    match with_retries(pool, &ops).await {
        Ok(results) => {
            let mut wake = false;
            for (op, done) in ops.into_iter().zip(results) {
                wake |= op.wakes(&done);
                op.answer(Ok(done));
            }
            if wake {
                work.notify_one();
            }
        }
        Err(sqlx::Error::Database(e)) => {
            tracing::warn!(error = %e, ops = ops.len(), "store: an operation failed; running the group one by one");
            futures::future::join_all(ops.into_iter().map(|op| run_alone(pool, op, work))).await;
        }
        // The database cannot be reached or the connection broke: each would fail the same way.
        Err(e) => {
            let message = e.to_string();
            for op in ops {
                op.answer(Err(StoreError::Write(message.clone())));
            }
        }
    }
}

/// Runs `ops` in one transaction, again when it lost a race with another instance.
async fn with_retries(pool: &Pool, ops: &[Op]) -> Result<Vec<Done>, sqlx::Error> {
    let mut tries = 0;
    loop {
        match transaction(pool, ops).await {
            Err(e) if lost_a_race(&e) && tries < CONFLICT_RETRIES => {
                tries += 1;
                tracing::debug!(error = %e, tries, "store: concurrent change; running the operation again");
                tokio::time::sleep(Duration::from_millis(5 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}

async fn transaction(pool: &Pool, ops: &[Op]) -> Result<Vec<Done>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = ops::execute_all(&mut tx, ops).await?;
    let commit = std::time::Instant::now();
    tx.commit().await?;
    crate::monitoring::telemetry::store_group(ops.len(), commit.elapsed().as_secs_f64());
    Ok(done)
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
