//! The store: dossiers, status events, messages (the outbox), deliveries and attempts.
//!
//! SQLite in WAL mode with `synchronous = FULL`. Every write goes through one writer task
//! ([`writer`]) that owns the only write connection: it takes whatever operations are waiting
//! (intake, claims, completions, replays), runs them in one `BEGIN IMMEDIATE` transaction with
//! a savepoint each, commits once, and only then answers each caller. Under load many requests
//! share one fsync (group commit); a caller never hears "done" before its data is durable.
//! Reads (tracking, admin, health) use a separate pool of read-only connections.

mod callbacks;
mod dedupe;
mod exchange;
mod followups;
mod jobs;
pub mod postgres;
mod reads;
mod retention;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{Notify, mpsc, oneshot};

pub use callbacks::{CallbackOutcome, CallbackReceipt};
pub use exchange::{ExchangeReceipt, ReceiptEffect, ReceiptOutcome};
pub use followups::{Followup, FollowupOutcome, FollowupUpdate, Seen};
pub use reads::{
    AttemptView, CallbackView, DeliveryFilter, DeliveryView, DossierRecord, DossierView, EventView,
    ReceivedView, StateCount,
};
pub use retention::{PurgePlan, Purged};
pub use writer::{
    Claim, ClaimedBatch, ClaimedMessage, Completion, Decision, EventIntake, IntakeOutcome,
    NewDossier, NewMessage, ReplaceDossier, ReplayOutcome,
};

/// Where the store is, parsed from `store.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
}

impl StoreLocation {
    /// Parses `sqlite:///absolute/path.db`.
    ///
    /// Errors: another scheme, or a relative path.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let p = std::path::PathBuf::from(path);
            if !p.is_absolute() {
                return Err(format!(
                    "`{url}`: write sqlite:///absolute/path.db (three slashes)"
                ));
            }
            return Ok(Self::Sqlite(p));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(
                "PostgreSQL is not available in this version yet; use sqlite:///path.db".to_owned(),
            );
        }
        Err(format!("`{url}`: expected sqlite:///absolute/path.db"))
    }
}

/// Store failures. Callers answer 503 for them: nothing was committed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
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

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    writer: mpsc::Sender<writer::Job>,
    /// Signalled after every commit that added or freed deliveries, so the dispatcher claims at once.
    pub work: Arc<Notify>,
    writer_task: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// How long a connection waits for a lock held by another process (the CLI, a second reader).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Queue of write operations waiting for the writer.
const WRITE_QUEUE: usize = 8192;

impl Store {
    /// Opens (creating if need be) the store, runs migrations and starts the writer.
    ///
    /// Errors: the location is invalid, the file cannot be opened, migrations fail.
    pub async fn open(
        url: &str,
        max_batch: usize,
        read_connections: u32,
    ) -> Result<Self, StoreError> {
        let StoreLocation::Sqlite(path) =
            StoreLocation::parse(url).map_err(StoreError::Location)?;
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
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(read_connections.max(1))
            .connect_with(base.read_only(true))
            .await?;
        let work = Arc::new(Notify::new());
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let task = tokio::spawn(writer::run(write, rx, max_batch.max(1), work.clone()));
        Ok(Self {
            read,
            writer: tx,
            work,
            writer_task: Arc::new(tokio::sync::Mutex::new(Some(task))),
        })
    }

    async fn submit<T>(
        &self,
        op: writer::Op,
        rx: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.writer
            .send(writer::Job { op })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores a new dossier and its messages (or recognises a repeat).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn intake_dossier(&self, d: NewDossier) -> Result<IntakeOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::NewDossier(d, tx), rx).await
    }

    /// Replaces a dossier's data and queues a refresh to its destinations.
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn replace_dossier(&self, d: ReplaceDossier) -> Result<IntakeOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::ReplaceDossier(d, tx), rx).await
    }

    /// Stores a status event and its progress messages (or recognises a repeat).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn intake_event(&self, e: EventIntake) -> Result<IntakeOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Event(e, tx), rx).await
    }

    /// Claims due deliveries of one destination for this instance.
    ///
    /// Errors: the store failed; nothing was claimed.
    pub async fn claim(&self, c: Claim) -> Result<Vec<ClaimedBatch>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Claim(c, tx), rx).await
    }

    /// Records the outcome of attempts.
    ///
    /// Errors: the store failed; the deliveries stay claimed until their lease runs out.
    pub async fn complete(&self, c: Vec<Completion>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Complete(c, tx), rx).await
    }

    /// Gives claimed deliveries back without an attempt (shutdown).
    ///
    /// Errors: the store failed; the leases will expire instead.
    pub async fn release(&self, seqs: Vec<i64>) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Release(Some(seqs), tx), rx).await
    }

    /// Gives back every claimed delivery (start-up of the single SQLite instance: whatever was in
    /// flight when the previous process died is due again).
    ///
    /// Errors: the store failed.
    pub async fn release_all(&self) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Release(None, tx), rx).await
    }

    /// Puts a dead delivery back in the queue with fresh attempts.
    ///
    /// Errors: the store failed.
    pub async fn replay(&self, message_id: &str) -> Result<ReplayOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Replay(message_id.to_owned(), tx), rx)
            .await
    }

    /// Stores a message received from another center with its effect and notices (or
    /// recognises a resend).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn receive_exchange(&self, r: ExchangeReceipt) -> Result<ReceiptOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Receive(Box::new(r), tx), rx).await
    }

    /// Stores a verified push from a national system with its notices, or answers the original
    /// answer for a repeat (same source and dedupe key).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn receive_callback(
        &self,
        r: CallbackReceipt,
    ) -> Result<CallbackOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(writer::Op::Callback(Box::new(r), tx), rx).await
    }

    /// Stops the writer after it has committed what it holds.
    pub async fn close(&self) {
        let task = self.writer_task.lock().await.take();
        let (tx, rx) = oneshot::channel();
        if self
            .writer
            .send(writer::Job {
                op: writer::Op::Stop(tx),
            })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        if let Some(t) = task {
            let _ = t.await;
        }
        self.read.close().await;
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
