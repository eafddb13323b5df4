//! The SQLite store, the embedded default for one node: WAL mode, `synchronous = FULL`, and one
//! writer task that owns the only write connection. The writer takes whatever operations are
//! waiting (intake, claims, completions, replays), runs them in one `BEGIN IMMEDIATE`
//! transaction, commits once, and only then answers each caller: under load many requests share
//! one fsync (group commit), and a caller never hears "done" before its data is durable. When an
//! operation fails (rare: a full disk, a constraint bug), the group is rolled back and every
//! operation is run again in its own transaction, so one bad operation fails alone. Reads use a
//! separate pool of read-only connections.
//!
//! Checkpoints (copying the write-ahead log back into the database file) are not left to the
//! writer: SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so
//! that one group waited for the copy and an fsync of the database file as well as its own, and
//! those groups were intake's slowest answers (issue 27, BENCHMARKS.md). The writer's connection
//! has automatic checkpoints off; a checkpointer task runs a passive checkpoint every
//! [`CHECKPOINT_EVERY`] on a connection of its own, beside the writer and never blocking it.
//! Durability is unchanged: a commit is durable once the log is synced, as before.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{Notify, mpsc, oneshot};

use super::op::{Done, Op};
use super::{Dialect, StoreError};

pub(super) type Db = Sqlite;
pub(super) type Conn = sqlx::SqliteConnection;
pub(super) type Pool = sqlx::SqlitePool;
pub(super) const DIALECT: Dialect = Dialect::Sqlite;

// The operations, compiled for this driver (and again in `postgres.rs` for the other one).
#[expect(
    clippy::duplicate_mod,
    reason = "one source of SQL compiled for each driver, see ops/mod.rs"
)]
#[path = "ops/mod.rs"]
pub(super) mod ops;

/// How long a connection waits for a lock held by another process (the CLI, a second reader).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Queue of write operations waiting for the writer.
const WRITE_QUEUE: usize = 8192;

/// The open SQLite store: the read pool and the writer's queue.
pub(super) struct SqliteStore {
    read: Pool,
    writer: mpsc::Sender<Op>,
    writer_task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    checkpointer: tokio_util::task::AbortOnDropHandle<()>,
}

impl SqliteStore {
    /// Opens (creating if need be) the database at `path`, runs migrations and starts the writer.
    pub(super) async fn open(
        path: &Path,
        max_batch: usize,
        read_connections: u32,
        work: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Location(format!("{}: {e}", dir.display())))?;
        }
        let base = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .pragma("wal_autocheckpoint", "0"),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let checkpoints = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(read_connections.max(1))
            .connect_with(base.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let task = tokio::spawn(run(write, rx, max_batch.max(1), work));
        let checkpointer =
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(checkpoint(checkpoints)));
        Ok(Self {
            read,
            writer: tx,
            writer_task: tokio::sync::Mutex::new(Some(task)),
            checkpointer,
        })
    }

    /// The read-only pool.
    pub(super) fn reader(&self) -> &Pool {
        &self.read
    }

    /// Hands `op` to the writer (which answers it after its group's commit).
    pub(super) async fn submit(&self, op: Op) -> Result<(), StoreError> {
        self.writer.send(op).await.map_err(|_| StoreError::Closed)
    }

    /// Stops the writer after it has committed what it holds.
    pub(super) async fn close(&self) {
        let task = self.writer_task.lock().await.take();
        let (tx, rx) = oneshot::channel();
        if self.writer.send(Op::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        if let Some(t) = task {
            let _ = t.await;
        }
        self.checkpointer.abort();
        self.read.close().await;
    }
}

async fn run(pool: Pool, mut rx: mpsc::Receiver<Op>, max_batch: usize, work: Arc<Notify>) {
    let mut conn: Option<PoolConnection<Sqlite>> = None;
    let mut stop: Option<Op> = None;
    while stop.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut ops = vec![first];
        while ops.len() < max_batch {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        if let Some(i) = ops.iter().position(|o| matches!(o, Op::Stop(_))) {
            stop = Some(ops.remove(i));
        }
        if ops.is_empty() {
            continue;
        }
        let mut c = match conn.take() {
            Some(c) => c,
            None => match pool.acquire().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "store: cannot get the write connection");
                    for op in ops {
                        op.answer(Err(StoreError::Write(e.to_string())));
                    }
                    continue;
                }
            },
        };
        if group(&mut c, ops).await {
            work.notify_one();
        }
        conn = Some(c);
    }
    drop(conn);
    pool.close().await;
    if let Some(s) = stop {
        s.answer(Ok(Done::Unit));
    }
}

/// Copies the write-ahead log into the database file every [`CHECKPOINT_EVERY`], without
/// waiting for readers or the writer (`PASSIVE`: what cannot be copied now is copied next
/// time). Runs until the store closes; a failed checkpoint is logged and tried again.
async fn checkpoint(pool: Pool) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "store: checkpoint failed; trying again");
        }
    }
}

/// Runs a group in one transaction; returns whether the dispatcher should look for work.
async fn group(conn: &mut Conn, ops: Vec<Op>) -> bool {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %e, "store: cannot begin a write transaction");
        for op in ops {
            op.answer(Err(StoreError::Write(e.to_string())));
        }
        return false;
    }
    let results = match ops::execute_all(conn, &ops).await {
        Ok(results) => results,
        Err(e) => {
            tracing::warn!(error = %e, ops = ops.len(), "store: an operation failed; running the group one by one");
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            let mut wake = false;
            for op in ops {
                wake |= alone(conn, op).await;
            }
            return wake;
        }
    };
    let commit = std::time::Instant::now();
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
            crate::monitoring::telemetry::store_group(ops.len(), commit.elapsed().as_secs_f64());
            let mut wake = false;
            for (op, done) in ops.into_iter().zip(results) {
                wake |= op.wakes(&done);
                op.answer(Ok(done));
            }
            wake
        }
        Err(e) => {
            tracing::error!(error = %e, "store: commit failed");
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            for op in ops {
                op.answer(Err(StoreError::Write(e.to_string())));
            }
            false
        }
    }
}

/// Runs one operation in its own transaction.
async fn alone(conn: &mut Conn, op: Op) -> bool {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        op.answer(Err(StoreError::Write(e.to_string())));
        return false;
    }
    match ops::execute(conn, &op).await {
        Ok(done) => match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => {
                let wake = op.wakes(&done);
                op.answer(Ok(done));
                wake
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                op.answer(Err(StoreError::Write(e.to_string())));
                false
            }
        },
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            op.answer(Err(StoreError::Db(e)));
            false
        }
    }
}
