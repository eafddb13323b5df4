//! The single writer: every write operation of the process, committed in groups.
//!
//! Answers are sent only after the group's COMMIT returned. Operations are written to take few
//! statements (each statement is a round trip to SQLite's thread): a trigger creates each
//! message's delivery, inserts use `ON CONFLICT` instead of a prior check. When an operation fails
//! (rare: a full disk, a constraint bug), the group is rolled back and every operation is run
//! again in its own transaction, so one bad operation fails alone.

use lienthong_connectors::{MessageKind, Outcome};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Row, SqliteConnection};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

use super::{StoreError, now_ms};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) struct Job {
    pub(super) op: Op,
}

pub(super) enum Op {
    NewDossier(NewDossier, Reply<IntakeOutcome>),
    ReplaceDossier(ReplaceDossier, Reply<IntakeOutcome>),
    Event(EventIntake, Reply<IntakeOutcome>),
    Claim(Claim, Reply<Vec<ClaimedBatch>>),
    Complete(Vec<Completion>, Reply<()>),
    Release(Option<Vec<i64>>, Reply<u64>),
    Replay(String, Reply<ReplayOutcome>),
    Receive(
        Box<super::exchange::ExchangeReceipt>,
        Reply<super::exchange::ReceiptOutcome>,
    ),
    Callback(
        Box<super::callbacks::CallbackReceipt>,
        Reply<super::callbacks::CallbackOutcome>,
    ),
    Followup(
        Box<super::followups::FollowupUpdate>,
        Reply<super::followups::FollowupOutcome>,
    ),
    Purge(super::retention::PurgePlan, Reply<super::retention::Purged>),
    AcquireJob(String, String, i64, Reply<bool>),
    ReleaseJob(String, String, Reply<()>),
    Stop(oneshot::Sender<()>),
}

/// A message to queue with its delivery.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Stable id (UUID v7).
    pub id: String,
    /// Destination name.
    pub destination: String,
    /// Kind.
    pub kind: MessageKind,
    /// Canonical body (JSON of a `MessageBody`); shared, so the store binds it without a copy
    /// (a notice can carry a large document's files).
    pub body: std::sync::Arc<str>,
}

/// A new dossier with its first messages.
#[derive(Debug, Clone)]
pub struct NewDossier {
    /// Dossier code.
    pub code: String,
    /// Normalised canonical JSON.
    pub body: String,
    /// SHA-256 of `body` (identical repeats are recognised by it).
    pub sha256: String,
    /// Canonical status.
    pub status: String,
    /// Destinations chosen by routing.
    pub destinations: Vec<String>,
    /// The 202 answer, kept for repeats.
    pub answer: String,
    /// One message per destination.
    pub messages: Vec<NewMessage>,
}

/// New data for an existing dossier (`PUT`).
#[derive(Debug, Clone)]
pub struct ReplaceDossier {
    /// Dossier code.
    pub code: String,
    /// Normalised canonical JSON.
    pub body: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Canonical status.
    pub status: String,
    /// The 202 answer.
    pub answer: String,
    /// One refresh per destination the dossier went to.
    pub messages: Vec<NewMessage>,
}

/// A status event with its progress messages.
#[derive(Debug, Clone)]
pub struct EventIntake {
    /// Dossier code.
    pub dossier_code: String,
    /// Event id.
    pub event_id: String,
    /// New canonical status.
    pub status: lienthong_mappings::DossierStatus,
    /// Event JSON.
    pub body: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The 202 answer.
    pub answer: String,
    /// One progress message per destination of the dossier.
    pub messages: Vec<NewMessage>,
}

/// What an intake operation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// Stored: answer 202 with this body.
    Accepted(String),
    /// An identical repeat: answer 200 with the original body.
    Repeat(String),
    /// The same code or id with a different body: 409 with this detail.
    Conflict(String),
    /// No such dossier: 404.
    NotFound,
    /// The event's status cannot follow the dossier's: 422.
    InvalidTransition {
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
}

impl IntakeOutcome {
    /// A short label for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accepted",
            Self::Repeat(_) => "repeat",
            Self::Conflict(_) => "conflict",
            Self::NotFound => "not_found",
            Self::InvalidTransition { .. } => "invalid_transition",
        }
    }
}

/// A claim of due deliveries of one destination.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Destination name.
    pub destination: String,
    /// This instance's id (lease owner).
    pub owner: String,
    /// Most lanes to claim.
    pub limit: usize,
    /// Lease length in milliseconds.
    pub lease_ms: i64,
    /// Most consecutive progress messages of one lane sent together.
    pub progress_batch: usize,
}

/// A claimed message.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    /// Store sequence number.
    pub seq: i64,
    /// Message id.
    pub id: String,
    /// Canonical body JSON.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Start of the `max_age` window.
    pub age_from: i64,
}

/// Consecutive messages of one lane (dossier, destination), to be sent in one exchange.
#[derive(Debug, Clone)]
pub struct ClaimedBatch {
    /// Destination.
    pub destination: String,
    /// Dossier code.
    pub dossier_code: String,
    /// Kind of every message of the batch.
    pub kind: MessageKind,
    /// The messages, oldest first.
    pub messages: Vec<ClaimedMessage>,
}

/// What the dispatcher decided after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Done.
    Delivered,
    /// Try again at this time, after this delay.
    RetryAt {
        /// When (ms).
        at_ms: i64,
        /// The chosen delay (ms).
        delay_ms: i64,
    },
    /// Give up.
    Dead,
}

/// The result of one exchange, for every message of its batch.
#[derive(Debug, Clone)]
pub struct Completion {
    /// `(seq, attempt number)` of each message.
    pub messages: Vec<(i64, u32)>,
    /// Start (ms).
    pub started_at: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// The connector's classification.
    pub outcome: Outcome,
    /// What happens next.
    pub decision: Decision,
}

/// What a replay request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Queued again.
    Replayed,
    /// No such message.
    NotFound,
    /// Only dead or cancelled deliveries can be replayed; this is the current state.
    NotReplayable(String),
}

/// What an operation produced, before it is sent to its caller.
enum Done {
    Intake(IntakeOutcome),
    Claimed(Vec<ClaimedBatch>),
    Unit,
    Count(u64),
    Replay(ReplayOutcome),
    Received(super::exchange::ReceiptOutcome),
    Callback(super::callbacks::CallbackOutcome),
    Followup(super::followups::FollowupOutcome),
    Purged(super::retention::Purged),
    Held(bool),
}

impl Op {
    /// Whether the dispatcher should look for work after this operation committed.
    fn wakes(&self, done: &Done) -> bool {
        matches!(self, Self::Complete(..) | Self::Release(..))
            || matches!(
                done,
                Done::Intake(IntakeOutcome::Accepted(_))
                    | Done::Replay(ReplayOutcome::Replayed)
                    | Done::Received(super::exchange::ReceiptOutcome::Stored { .. })
                    | Done::Callback(super::callbacks::CallbackOutcome::Stored(_))
                    | Done::Followup(super::followups::FollowupOutcome::Changed(_))
            )
    }

    /// Sends the result to the caller.
    fn answer(self, result: Result<Done, StoreError>) {
        fn send<T>(tx: Reply<T>, r: Result<T, StoreError>) {
            let _ = tx.send(r);
        }
        let mismatch =
            || StoreError::Corrupt("operation answered with the wrong kind of result".to_owned());
        match self {
            Self::NewDossier(_, tx) | Self::ReplaceDossier(_, tx) | Self::Event(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Intake(o) => Ok(o),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Claim(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Claimed(c) => Ok(c),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Complete(_, tx) => send(tx, result.map(|_| ())),
            Self::Release(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Count(n) => Ok(n),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Replay(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Replay(r) => Ok(r),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Receive(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Received(r) => Ok(r),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Callback(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Callback(r) => Ok(r),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Followup(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Followup(r) => Ok(r),
                    _ => Err(mismatch()),
                }),
            ),
            Self::Purge(_, tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Purged(p) => Ok(p),
                    _ => Err(mismatch()),
                }),
            ),
            Self::AcquireJob(.., tx) => send(
                tx,
                result.and_then(|d| match d {
                    Done::Held(h) => Ok(h),
                    _ => Err(mismatch()),
                }),
            ),
            Self::ReleaseJob(.., tx) => send(tx, result.map(|_| ())),
            Self::Stop(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

pub(super) async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    work: Arc<Notify>,
) {
    let mut conn: Option<PoolConnection<Sqlite>> = None;
    let mut stop: Option<Op> = None;
    while stop.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut ops = vec![first.op];
        while ops.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => ops.push(j.op),
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

/// Runs a group in one transaction; returns whether the dispatcher should look for work.
async fn group(conn: &mut SqliteConnection, ops: Vec<Op>) -> bool {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %e, "store: cannot begin a write transaction");
        for op in ops {
            op.answer(Err(StoreError::Write(e.to_string())));
        }
        return false;
    }
    let mut results = Vec::with_capacity(ops.len());
    let mut failed = None;
    for op in &ops {
        match execute(conn, op).await {
            Ok(d) => results.push(d),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        tracing::warn!(error = %e, ops = ops.len(), "store: an operation failed; running the group one by one");
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        let mut wake = false;
        for op in ops {
            wake |= alone(conn, op).await;
        }
        return wake;
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
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
async fn alone(conn: &mut SqliteConnection, op: Op) -> bool {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        op.answer(Err(StoreError::Write(e.to_string())));
        return false;
    }
    match execute(conn, &op).await {
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

async fn execute(conn: &mut SqliteConnection, op: &Op) -> Result<Done, sqlx::Error> {
    Ok(match op {
        Op::NewDossier(d, _) => Done::Intake(new_dossier(conn, d).await?),
        Op::ReplaceDossier(d, _) => Done::Intake(replace_dossier(conn, d).await?),
        Op::Event(e, _) => Done::Intake(event(conn, e).await?),
        Op::Claim(c, _) => Done::Claimed(claim(conn, c).await?),
        Op::Complete(c, _) => {
            complete(conn, c).await?;
            Done::Unit
        }
        Op::Release(seqs, _) => Done::Count(release(conn, seqs.as_deref()).await?),
        Op::Replay(id, _) => Done::Replay(replay(conn, id).await?),
        Op::Receive(r, _) => Done::Received(super::exchange::receive(conn, r).await?),
        Op::Callback(r, _) => Done::Callback(super::callbacks::receive(conn, r).await?),
        Op::Followup(u, _) => Done::Followup(super::followups::record(conn, u).await?),
        Op::Purge(p, _) => Done::Purged(super::retention::purge(conn, p).await?),
        Op::AcquireJob(job, owner, lease_ms, _) => {
            Done::Held(super::jobs::acquire(conn, job, owner, *lease_ms).await?)
        }
        Op::ReleaseJob(job, owner, _) => {
            super::jobs::release(conn, job, owner).await?;
            Done::Unit
        }
        Op::Stop(_) => Done::Unit,
    })
}

pub(super) async fn queue(
    conn: &mut SqliteConnection,
    dossier_code: &str,
    messages: &[NewMessage],
    now: i64,
) -> Result<(), sqlx::Error> {
    for m in messages {
        // The `messages_start_delivery` trigger creates the pending delivery.
        sqlx::query("INSERT INTO messages (id, dossier_code, destination, kind, body, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&m.id)
            .bind(dossier_code)
            .bind(&m.destination)
            .bind(m.kind.as_str())
            .bind(m.body.clone())
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn new_dossier(
    conn: &mut SqliteConnection,
    d: &NewDossier,
) -> Result<IntakeOutcome, sqlx::Error> {
    let now = now_ms();
    let destinations = serde_json::to_string(&d.destinations).unwrap_or_else(|_| "[]".to_owned());
    let inserted = sqlx::query(
        "INSERT INTO dossiers (code, body, body_sha256, status, destinations, version, intake_answer, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (code) DO NOTHING",
    )
    .bind(&d.code)
    .bind(&d.body)
    .bind(&d.sha256)
    .bind(&d.status)
    .bind(destinations)
    .bind(&d.answer)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        let row = sqlx::query("SELECT body_sha256, intake_answer FROM dossiers WHERE code = ?")
            .bind(&d.code)
            .fetch_one(&mut *conn)
            .await?;
        let sha: String = row.try_get(0)?;
        return Ok(if sha == d.sha256 {
            IntakeOutcome::Repeat(row.try_get(1)?)
        } else {
            IntakeOutcome::Conflict(format!(
                "dossier {} already exists with different data; send changes with PUT /v1/dossiers/{}",
                d.code, d.code
            ))
        });
    }
    queue(conn, &d.code, &d.messages, now).await?;
    Ok(IntakeOutcome::Accepted(d.answer.clone()))
}

async fn replace_dossier(
    conn: &mut SqliteConnection,
    d: &ReplaceDossier,
) -> Result<IntakeOutcome, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT body_sha256 FROM dossiers WHERE code = ?")
        .bind(&d.code)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(IntakeOutcome::NotFound);
    };
    let sha: String = row.try_get(0)?;
    if sha == d.sha256 {
        return Ok(IntakeOutcome::Repeat(
            serde_json::json!({ "code": d.code, "unchanged": true, "messages": [] }).to_string(),
        ));
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE dossiers SET body = ?, body_sha256 = ?, status = ?, version = version + 1, updated_at = ? WHERE code = ?",
    )
    .bind(&d.body)
    .bind(&d.sha256)
    .bind(&d.status)
    .bind(now)
    .bind(&d.code)
    .execute(&mut *conn)
    .await?;
    queue(conn, &d.code, &d.messages, now).await?;
    Ok(IntakeOutcome::Accepted(d.answer.clone()))
}

pub(super) async fn event(
    conn: &mut SqliteConnection,
    e: &EventIntake,
) -> Result<IntakeOutcome, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT d.status, ev.body_sha256, ev.answer FROM dossiers d
         LEFT JOIN status_events ev ON ev.dossier_code = d.code AND ev.event_id = ?
         WHERE d.code = ?",
    )
    .bind(&e.event_id)
    .bind(&e.dossier_code)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(IntakeOutcome::NotFound);
    };
    let current: String = row.try_get(0)?;
    if let Some(sha) = row.try_get::<Option<String>, _>(1)? {
        return Ok(if sha == e.sha256 {
            IntakeOutcome::Repeat(row.try_get(2)?)
        } else {
            IntakeOutcome::Conflict(format!(
                "event {} of dossier {} already exists with different data",
                e.event_id, e.dossier_code
            ))
        });
    }
    let allowed =
        lienthong_mappings::DossierStatus::parse(&current).is_none_or(|c| c.allows(e.status));
    if !allowed {
        return Ok(IntakeOutcome::InvalidTransition {
            from: current,
            to: e.status.as_str().to_owned(),
        });
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO status_events (dossier_code, event_id, seq, status, body, body_sha256, answer, received_at)
         VALUES (?1, ?2, (SELECT COUNT(*) + 1 FROM status_events WHERE dossier_code = ?1), ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&e.dossier_code)
    .bind(&e.event_id)
    .bind(e.status.as_str())
    .bind(&e.body)
    .bind(&e.sha256)
    .bind(&e.answer)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE dossiers SET status = ?, updated_at = ? WHERE code = ?")
        .bind(e.status.as_str())
        .bind(now)
        .bind(&e.dossier_code)
        .execute(&mut *conn)
        .await?;
    queue(conn, &e.dossier_code, &e.messages, now).await?;
    Ok(IntakeOutcome::Accepted(e.answer.clone()))
}

/// Due deliveries whose lane has nothing older still undelivered. No ORDER BY: the scan follows
/// the `deliveries_due` index, so `pending` come first, then `retry_wait`, each oldest-due first,
/// and the scan stops at the limit instead of sorting the whole backlog.
const CLAIM_HEADS: &str = "
SELECT d.message_seq, d.dossier_code, d.kind FROM deliveries d
WHERE d.destination = ?1 AND d.state IN ('pending', 'retry_wait') AND d.next_attempt_at <= ?2
  AND NOT EXISTS (
    SELECT 1 FROM deliveries e
    WHERE e.dossier_code = d.dossier_code AND e.destination = d.destination
      AND e.message_seq < d.message_seq AND e.state NOT IN ('delivered', 'cancelled'))
LIMIT ?3";

async fn claim(conn: &mut SqliteConnection, c: &Claim) -> Result<Vec<ClaimedBatch>, sqlx::Error> {
    let now = now_ms();
    // Leases that ran out (an instance died mid-delivery): due again.
    sqlx::query(
        "UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retry_wait' END,
                lease_owner = NULL, lease_until = NULL, next_attempt_at = ?2, updated_at = ?2
         WHERE destination = ?1 AND state = 'in_flight' AND lease_until < ?2",
    )
    .bind(&c.destination)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let heads = sqlx::query(CLAIM_HEADS)
        .bind(&c.destination)
        .bind(now)
        .bind(i64::try_from(c.limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
    let mut batches = Vec::with_capacity(heads.len());
    for h in heads {
        let head: i64 = h.try_get(0)?;
        let dossier_code: String = h.try_get(1)?;
        let kind_text: String = h.try_get(2)?;
        let Some(kind) = MessageKind::parse(&kind_text) else {
            tracing::error!(
                seq = head,
                kind = kind_text,
                "store: unknown message kind; skipped"
            );
            continue;
        };
        let mut seqs = vec![head];
        if kind == MessageKind::Progress && c.progress_batch > 1 {
            let followers = sqlx::query(
                "SELECT message_seq, kind, state FROM deliveries
                 WHERE dossier_code = ? AND destination = ? AND message_seq > ? AND state NOT IN ('delivered', 'cancelled')
                 ORDER BY message_seq LIMIT ?",
            )
            .bind(&dossier_code)
            .bind(&c.destination)
            .bind(head)
            .bind(i64::try_from(c.progress_batch - 1).unwrap_or(0))
            .fetch_all(&mut *conn)
            .await?;
            for f in followers {
                let (seq, k, state): (i64, String, String) =
                    (f.try_get(0)?, f.try_get(1)?, f.try_get(2)?);
                if k != kind_text || !matches!(state.as_str(), "pending" | "retry_wait") {
                    break;
                }
                seqs.push(seq);
            }
        }
        let mut messages = Vec::with_capacity(seqs.len());
        for seq in seqs {
            sqlx::query("UPDATE deliveries SET state = 'in_flight', lease_owner = ?, lease_until = ?, updated_at = ? WHERE message_seq = ?")
                .bind(&c.owner)
                .bind(now + c.lease_ms)
                .bind(now)
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            let row = sqlx::query(
                "SELECT m.id, m.body, d.attempts, d.age_from FROM messages m JOIN deliveries d ON d.message_seq = m.seq WHERE m.seq = ?",
            )
            .bind(seq)
            .fetch_one(&mut *conn)
            .await?;
            let attempts: i64 = row.try_get(2)?;
            messages.push(ClaimedMessage {
                seq,
                id: row.try_get(0)?,
                body: row.try_get(1)?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                age_from: row.try_get(3)?,
            });
        }
        batches.push(ClaimedBatch {
            destination: c.destination.clone(),
            dossier_code,
            kind,
            messages,
        });
    }
    Ok(batches)
}

async fn complete(
    conn: &mut SqliteConnection,
    completions: &[Completion],
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    for c in completions {
        let (state, next, delay, delivered_at) = match c.decision {
            Decision::Delivered => ("delivered", now, None, Some(now)),
            Decision::RetryAt { at_ms, delay_ms } => ("retry_wait", at_ms, Some(delay_ms), None),
            Decision::Dead => ("dead", now, None, None),
        };
        let portal = c.outcome.portal();
        let batch_size = i64::try_from(c.messages.len()).unwrap_or(1);
        for &(seq, attempt) in &c.messages {
            sqlx::query(
                "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL,
                        last_error = ?, last_http_status = ?, portal_code = ?, portal_message = ?, updated_at = ?,
                        delivered_at = ?
                 WHERE message_seq = ? AND state = 'in_flight'",
            )
            .bind(state)
            .bind(i64::from(attempt))
            .bind(next)
            .bind(c.outcome.error())
            .bind(c.outcome.http_status().map(i64::from))
            .bind(portal.map(|p| p.code.as_str()))
            .bind(portal.map(|p| p.message.as_str()))
            .bind(now)
            .bind(delivered_at)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO attempts (message_seq, attempt, started_at, duration_ms, outcome, decision, http_status, error,
                                       portal_code, portal_message, retry_delay_ms, batch_size)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(i64::from(attempt))
            .bind(c.started_at)
            .bind(c.duration_ms)
            .bind(c.outcome.label())
            .bind(state)
            .bind(c.outcome.http_status().map(i64::from))
            .bind(c.outcome.error())
            .bind(portal.map(|p| p.code.as_str()))
            .bind(portal.map(|p| p.message.as_str()))
            .bind(delay)
            .bind(batch_size)
            .execute(&mut *conn)
            .await?;
            if let (Decision::Delivered, Some(reference)) =
                (&c.decision, portal.and_then(|p| p.reference.as_deref()))
            {
                super::followups::start(conn, seq, reference, now).await?;
            }
        }
    }
    Ok(())
}

async fn release(conn: &mut SqliteConnection, seqs: Option<&[i64]>) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    macro_rules! release_sql {
        ($tail:literal) => {
            concat!(
                "UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retry_wait' END,
                        lease_owner = NULL, lease_until = NULL, next_attempt_at = ?1, updated_at = ?1
                 WHERE state = 'in_flight'",
                $tail
            )
        };
    }
    match seqs {
        None => Ok(sqlx::query(release_sql!(""))
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()),
        Some(seqs) => {
            let mut n = 0;
            for s in seqs {
                n += sqlx::query(release_sql!(" AND message_seq = ?2"))
                    .bind(now)
                    .bind(s)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            }
            Ok(n)
        }
    }
}

async fn replay(conn: &mut SqliteConnection, id: &str) -> Result<ReplayOutcome, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT d.message_seq, d.state FROM deliveries d JOIN messages m ON m.seq = d.message_seq WHERE m.id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(ReplayOutcome::NotFound);
    };
    let seq: i64 = row.try_get(0)?;
    let state: String = row.try_get(1)?;
    if !matches!(state.as_str(), "dead" | "cancelled") {
        return Ok(ReplayOutcome::NotReplayable(state));
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, age_from = ?, updated_at = ?,
                delivered_at = NULL WHERE message_seq = ?",
    )
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(ReplayOutcome::Replayed)
}
