//! The single writer: every write operation of the process, committed in groups.
//!
//! Each operation runs under its own savepoint, so one failing operation does not undo the others
//! of its group; answers are sent only after the group's COMMIT returned.

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
    /// Canonical body (JSON of a `MessageBody`).
    pub body: String,
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

/// Sends an answer after the group committed (or its error if it did not).
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

fn answer<T: Send + 'static>(tx: Reply<T>, value: Result<T, StoreError>) -> Answer {
    Box::new(move |commit_error| {
        let _ = tx.send(match (commit_error, value) {
            (Some(e), _) => Err(StoreError::Write(e.to_owned())),
            (_, v) => v,
        });
    })
}

pub(super) async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    work: Arc<Notify>,
) {
    let mut conn: Option<PoolConnection<Sqlite>> = None;
    let mut stop: Option<oneshot::Sender<()>> = None;
    while stop.is_none() {
        let Some(first) = rx.recv().await else { break };
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let c = match conn.take() {
            Some(c) => c,
            None => match pool.acquire().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "store: cannot get the write connection");
                    fail_all(jobs, &e.to_string(), &mut stop);
                    continue;
                }
            },
        };
        let mut c = c;
        let woke = group(&mut c, jobs, &mut stop).await;
        conn = Some(c);
        if woke {
            work.notify_one();
        }
    }
    drop(conn);
    pool.close().await;
    if let Some(s) = stop {
        let _ = s.send(());
    }
}

fn fail_all(jobs: Vec<Job>, error: &str, stop: &mut Option<oneshot::Sender<()>>) {
    for j in jobs {
        let a = match j.op {
            Op::NewDossier(_, tx) | Op::ReplaceDossier(_, tx) | Op::Event(_, tx) => {
                answer(tx, Ok(IntakeOutcome::NotFound))
            }
            Op::Claim(_, tx) => answer(tx, Ok(Vec::new())),
            Op::Complete(_, tx) => answer(tx, Ok(())),
            Op::Release(_, tx) => answer(tx, Ok(0)),
            Op::Replay(_, tx) => answer(tx, Ok(ReplayOutcome::NotFound)),
            Op::Stop(tx) => {
                *stop = Some(tx);
                continue;
            }
        };
        a(Some(error));
    }
}

/// Runs one group; returns whether the dispatcher should look for work.
async fn group(
    conn: &mut SqliteConnection,
    jobs: Vec<Job>,
    stop: &mut Option<oneshot::Sender<()>>,
) -> bool {
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %e, "store: cannot begin a write transaction");
        fail_all(jobs, &e.to_string(), stop);
        return false;
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
    let mut wake = false;
    for job in jobs {
        if let Op::Stop(tx) = job.op {
            *stop = Some(tx);
            continue;
        }
        if let Err(e) = sqlx::query("SAVEPOINT op").execute(&mut *conn).await {
            tracing::error!(error = %e, "store: savepoint failed");
        }
        let (ok, a) = apply(conn, job.op, &mut wake).await;
        let end = if ok {
            "RELEASE op"
        } else {
            "ROLLBACK TO op; RELEASE op"
        };
        if let Err(e) = sqlx::raw_sql(end).execute(&mut *conn).await {
            tracing::error!(error = %e, "store: savepoint end failed");
        }
        answers.push(a);
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
            for a in answers {
                a(None);
            }
            wake
        }
        Err(e) => {
            tracing::error!(error = %e, "store: commit failed");
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            let text = e.to_string();
            for a in answers {
                a(Some(&text));
            }
            false
        }
    }
}

/// Applies one operation; `false` when it failed (its savepoint is rolled back).
async fn apply(conn: &mut SqliteConnection, op: Op, wake: &mut bool) -> (bool, Answer) {
    fn done<T: Send + 'static>(tx: Reply<T>, r: Result<T, sqlx::Error>) -> (bool, Answer) {
        let ok = r.is_ok();
        (ok, answer(tx, r.map_err(StoreError::Db)))
    }
    match op {
        Op::NewDossier(d, tx) => {
            let r = new_dossier(conn, &d).await;
            *wake |= matches!(r, Ok(IntakeOutcome::Accepted(_)));
            done(tx, r)
        }
        Op::ReplaceDossier(d, tx) => {
            let r = replace_dossier(conn, &d).await;
            *wake |= matches!(r, Ok(IntakeOutcome::Accepted(_)));
            done(tx, r)
        }
        Op::Event(e, tx) => {
            let r = event(conn, &e).await;
            *wake |= matches!(r, Ok(IntakeOutcome::Accepted(_)));
            done(tx, r)
        }
        Op::Claim(c, tx) => done(tx, claim(conn, &c).await),
        Op::Complete(c, tx) => {
            *wake = true;
            done(tx, complete(conn, &c).await)
        }
        Op::Release(seqs, tx) => {
            *wake = true;
            done(tx, release(conn, seqs.as_deref()).await)
        }
        Op::Replay(id, tx) => {
            let r = replay(conn, &id).await;
            *wake |= matches!(r, Ok(ReplayOutcome::Replayed));
            done(tx, r)
        }
        Op::Stop(tx) => {
            let _ = tx.send(());
            (true, Box::new(|_| {}))
        }
    }
}

async fn queue(
    conn: &mut SqliteConnection,
    dossier_code: &str,
    messages: &[NewMessage],
    now: i64,
) -> Result<(), sqlx::Error> {
    for m in messages {
        let seq: i64 = sqlx::query(
            "INSERT INTO messages (id, dossier_code, destination, kind, body, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(&m.id)
        .bind(dossier_code)
        .bind(&m.destination)
        .bind(m.kind.as_str())
        .bind(&m.body)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO deliveries (message_seq, dossier_code, destination, kind, state, next_attempt_at, age_from, updated_at)
             VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
        )
        .bind(seq)
        .bind(dossier_code)
        .bind(&m.destination)
        .bind(m.kind.as_str())
        .bind(now)
        .bind(now)
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
    let existing = sqlx::query("SELECT body_sha256, intake_answer FROM dossiers WHERE code = ?")
        .bind(&d.code)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = existing {
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
    let now = now_ms();
    let destinations = serde_json::to_string(&d.destinations).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query(
        "INSERT INTO dossiers (code, body, body_sha256, status, destinations, version, intake_answer, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
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
    .await?;
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

async fn event(conn: &mut SqliteConnection, e: &EventIntake) -> Result<IntakeOutcome, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT status FROM dossiers WHERE code = ?")
        .bind(&e.dossier_code)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(IntakeOutcome::NotFound);
    };
    let current: String = row.try_get(0)?;
    if let Some(prev) = sqlx::query(
        "SELECT body_sha256, answer FROM status_events WHERE dossier_code = ? AND event_id = ?",
    )
    .bind(&e.dossier_code)
    .bind(&e.event_id)
    .fetch_optional(&mut *conn)
    .await?
    {
        let sha: String = prev.try_get(0)?;
        return Ok(if sha == e.sha256 {
            IntakeOutcome::Repeat(prev.try_get(1)?)
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
         VALUES (?, ?, (SELECT COUNT(*) + 1 FROM status_events WHERE dossier_code = ?), ?, ?, ?, ?, ?)",
    )
    .bind(&e.dossier_code)
    .bind(&e.event_id)
    .bind(&e.dossier_code)
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
