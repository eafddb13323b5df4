//! Deliveries: claims of due lane heads, lease renewal, attempts, release and replay.
//!
//! Only the oldest undelivered message of a lane (dossier, destination) is eligible, so an
//! update never overtakes an earlier message still in retry. On PostgreSQL several instances
//! claim at once: the heads are locked with `FOR UPDATE SKIP LOCKED` (no instance waits for
//! another or takes the same row) and set in flight under the claimer's lease in the same
//! statement; while a head is in flight its lane has nothing else eligible, so no two instances
//! ever send two messages of one lane at once.

use lienthong_connectors::MessageKind;
use sqlx::Row;

use super::{Conn, DIALECT};
use crate::store::Dialect;
use crate::store::delivery::{
    Claim, ClaimedBatch, ClaimedMessage, Completion, Decision, Release, ReplayOutcome,
};
use crate::store::now_ms;
use crate::store::state::from_column;

/// Leases that ran out (an instance died or hung mid-delivery) make their messages due again.
async fn expire_leases(conn: &mut Conn, destination: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retry_wait' END,
                lease_owner = NULL, lease_until = NULL, next_attempt_at = $2, updated_at = $2
         WHERE destination = $1 AND state = 'in_flight' AND lease_until < $2",
    )
    .bind(destination)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// SQLite: due heads in the `deliveries_due` index's order (no ORDER BY: `pending` first, then
/// `retry_wait`, each oldest-due first; the scan stops at the limit instead of sorting the
/// backlog). The single writer makes the read and the updates that follow atomic.
const SQLITE_HEADS: &str = "
SELECT d.message_seq, d.dossier_code, d.kind FROM deliveries d
WHERE d.destination = $1 AND d.state IN ('pending', 'retry_wait') AND d.next_attempt_at <= $2
  AND NOT EXISTS (
    SELECT 1 FROM deliveries e
    WHERE e.dossier_code = d.dossier_code AND e.destination = d.destination
      AND e.message_seq < d.message_seq AND e.state NOT IN ('delivered', 'cancelled'))
LIMIT $3";

/// PostgreSQL: the heads are locked, skipping those another instance is taking, and leased in
/// one statement; a row changed by a concurrent claim is re-checked by PostgreSQL before it is
/// locked (`state` no longer due: left out).
const POSTGRES_HEADS: &str = "
WITH heads AS (
    SELECT d.message_seq FROM deliveries d
    WHERE d.destination = $1 AND d.state IN ('pending', 'retry_wait') AND d.next_attempt_at <= $2
      AND NOT EXISTS (
        SELECT 1 FROM deliveries e
        WHERE e.dossier_code = d.dossier_code AND e.destination = d.destination
          AND e.message_seq < d.message_seq AND e.state NOT IN ('delivered', 'cancelled'))
    ORDER BY d.next_attempt_at, d.message_seq
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
UPDATE deliveries SET state = 'in_flight', lease_owner = $4, lease_until = $5, updated_at = $2
FROM heads WHERE deliveries.message_seq = heads.message_seq
RETURNING deliveries.message_seq, deliveries.dossier_code, deliveries.kind";

pub(super) async fn claim(conn: &mut Conn, c: &Claim) -> Result<Vec<ClaimedBatch>, sqlx::Error> {
    let now = now_ms();
    let until = now.saturating_add(c.lease_ms);
    expire_leases(conn, &c.destination, now).await?;
    let limit = i64::try_from(c.limit).unwrap_or(i64::MAX);
    let heads = match DIALECT {
        Dialect::Sqlite => {
            sqlx::query(SQLITE_HEADS)
                .bind(&c.destination)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
        Dialect::Postgres => {
            sqlx::query(POSTGRES_HEADS)
                .bind(&c.destination)
                .bind(now)
                .bind(limit)
                .bind(&c.owner)
                .bind(until)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut lanes = Vec::with_capacity(heads.len());
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
            // The head is in flight for this claimer: nobody else can take the rest of its lane.
            let followers = sqlx::query(
                "SELECT message_seq, kind, state FROM deliveries
                 WHERE dossier_code = $1 AND destination = $2 AND message_seq > $3
                   AND state NOT IN ('delivered', 'cancelled')
                 ORDER BY message_seq LIMIT $4",
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
                if k != kind_text || !from_column(&state)?.is_due() {
                    break;
                }
                seqs.push(seq);
            }
        }
        lanes.push((dossier_code, kind, seqs));
    }
    // PostgreSQL's claim statement has leased the heads already; the rest are leased here, all
    // at once, and every claimed message is read at once: a claim costs a few statements, not
    // two per message (it runs in the writer's groups, issue 27).
    let lease: Vec<i64> = lanes
        .iter()
        .flat_map(|(_, _, seqs)| {
            let skip = usize::from(DIALECT == Dialect::Postgres);
            seqs.iter().skip(skip).copied()
        })
        .collect();
    for piece in super::batch::pieces(&lease) {
        let mut q = sqlx::QueryBuilder::<super::Db>::new(
            "UPDATE deliveries SET state = 'in_flight', lease_owner = ",
        );
        q.push_bind(c.owner.as_str())
            .push(", lease_until = ")
            .push_bind(until)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE message_seq IN (");
        let mut list = q.separated(", ");
        for seq in piece {
            list.push_bind(*seq);
        }
        q.push(")");
        q.build().execute(&mut *conn).await?;
    }
    let all: Vec<i64> = lanes
        .iter()
        .flat_map(|(_, _, seqs)| seqs.iter().copied())
        .collect();
    let mut read = std::collections::HashMap::with_capacity(all.len());
    for piece in super::batch::pieces(&all) {
        let mut q = sqlx::QueryBuilder::<super::Db>::new(
            "SELECT m.seq, m.id, COALESCE(b.body, m.body), d.attempts, d.age_from FROM messages m
             JOIN deliveries d ON d.message_seq = m.seq
             LEFT JOIN message_bodies b ON b.sha256 = m.body_sha256
             WHERE m.seq IN (",
        );
        let mut list = q.separated(", ");
        for seq in piece {
            list.push_bind(*seq);
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *conn).await? {
            let seq: i64 = row.try_get(0)?;
            let attempts: i64 = row.try_get(3)?;
            read.insert(
                seq,
                ClaimedMessage {
                    seq,
                    id: row.try_get(1)?,
                    body: row.try_get(2)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    age_from: row.try_get(4)?,
                },
            );
        }
    }
    let mut batches = Vec::with_capacity(lanes.len());
    for (dossier_code, kind, seqs) in lanes {
        let messages = seqs
            .iter()
            .map(|seq| read.remove(seq).ok_or(sqlx::Error::RowNotFound))
            .collect::<Result<Vec<_>, _>>()?;
        batches.push(ClaimedBatch {
            destination: c.destination.clone(),
            dossier_code,
            kind,
            messages,
        });
    }
    Ok(batches)
}

pub(super) async fn renew(
    conn: &mut Conn,
    owner: &str,
    seqs: &[i64],
    lease_ms: i64,
) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let mut held = 0;
    for seq in seqs {
        held += sqlx::query(
            "UPDATE deliveries SET lease_until = $1
             WHERE message_seq = $2 AND state = 'in_flight' AND lease_owner = $3",
        )
        .bind(now.saturating_add(lease_ms))
        .bind(seq)
        .bind(owner)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(held)
}

/// One message's completion: its sequence number and attempt, who completes it, and the
/// completion (outcome, decision, evidence) it is part of.
struct Finished<'a> {
    seq: i64,
    attempt: u32,
    owner: &'a str,
    c: &'a Completion,
}

/// Records the completions of `ops` (each: the owner and its completions), in order: for each
/// message the delivery's new state (only while the owner still holds its lease), its `sent`
/// audit record (always: it went over the wire), and its attempt record (only when the state
/// was recorded). A few multi-row statements per piece of messages, not three per message: the
/// completions run in the writer's groups, and intake waits behind them (issue 27).
///
/// Errors: a statement failed; the caller rolls the group back.
pub(super) async fn complete(
    conn: &mut Conn,
    ops: &[(&str, &[Completion])],
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let rows: Vec<Finished<'_>> = ops
        .iter()
        .flat_map(|(owner, completions)| {
            completions.iter().flat_map(move |c| {
                c.messages.iter().map(move |&(seq, attempt)| Finished {
                    seq,
                    attempt,
                    owner,
                    c,
                })
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    if !rows.iter().all(|r| seen.insert(r.seq)) {
        // The same message twice in one group (a late completion beside the new owner's): one
        // at a time, so the first to hold the lease is the one recorded, as alone.
        for r in &rows {
            complete_rows(conn, std::slice::from_ref(r), now).await?;
        }
        return Ok(());
    }
    for piece in super::batch::pieces(&rows) {
        complete_rows(conn, piece, now).await?;
    }
    Ok(())
}

/// [`complete`] for `rows`, no message twice among them.
async fn complete_rows(
    conn: &mut Conn,
    rows: &[Finished<'_>],
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<super::Db>::new(
        "WITH done (seq, attempt, state, next_at, error, http_status, portal_code, portal_message,
                    delivered_at, owner) AS (",
    );
    q.push_values(rows, |mut row, r| {
        let (next, _, delivered_at) = timing(r.c, now);
        let portal = r.c.outcome.portal();
        row.push_bind(r.seq)
            .push_bind(i64::from(r.attempt))
            .push_bind(r.c.decision.state().as_str())
            .push_bind(next)
            .push_bind(r.c.outcome.error())
            .push_bind(r.c.outcome.http_status().map(i64::from))
            .push_bind(portal.map(|p| p.code.as_str()))
            .push_bind(portal.map(|p| p.message.as_str()))
            .push_bind(delivered_at)
            .push_bind(r.owner);
    });
    q.push(
        ") UPDATE deliveries SET state = done.state, attempts = done.attempt,
                next_attempt_at = done.next_at, lease_owner = NULL, lease_until = NULL,
                last_error = done.error, last_http_status = done.http_status,
                portal_code = done.portal_code, portal_message = done.portal_message,
                updated_at = ",
    );
    q.push_bind(now);
    q.push(
        ", delivered_at = done.delivered_at
         FROM done WHERE deliveries.message_seq = done.seq AND deliveries.state = 'in_flight'
           AND deliveries.lease_owner = done.owner
         RETURNING deliveries.message_seq",
    );
    let mut recorded = std::collections::HashSet::with_capacity(rows.len());
    for row in q.build().fetch_all(&mut *conn).await? {
        recorded.insert(row.try_get::<i64, _>(0)?);
    }
    // The audit log records what was sent, even when the attempt itself is not recorded below
    // (it went over the wire all the same), in the order of the messages.
    super::audit::append_sent_all(
        conn,
        &rows
            .iter()
            .map(|r| (r.seq, &r.c.evidence, r.c.outcome.label()))
            .collect::<Vec<_>>(),
        now,
    )
    .await?;
    let attempts: Vec<&Finished<'_>> = rows
        .iter()
        .filter(|r| {
            let kept = recorded.contains(&r.seq);
            if !kept {
                // The lease ran out and another instance has the message now (or will): its
                // attempt is the one recorded.
                tracing::warn!(
                    seq = r.seq,
                    owner = r.owner,
                    "attempt finished after its lease was taken over: not recorded"
                );
            }
            kept
        })
        .collect();
    if attempts.is_empty() {
        return Ok(());
    }
    let mut q = sqlx::QueryBuilder::<super::Db>::new(
        "INSERT INTO attempts (message_seq, attempt, started_at, duration_ms, outcome, decision, http_status,
                               error, portal_code, portal_message, retry_delay_ms, batch_size,
                               xroad_id, xroad_request_id, xroad_request_hash) ",
    );
    q.push_values(&attempts, |mut row, r| {
        let (_, delay, _) = timing(r.c, now);
        let portal = r.c.outcome.portal();
        let xroad = r.c.evidence.xroad.as_ref();
        row.push_bind(r.seq)
            .push_bind(i64::from(r.attempt))
            .push_bind(r.c.started_at)
            .push_bind(r.c.duration_ms)
            .push_bind(r.c.outcome.label())
            .push_bind(r.c.decision.state().as_str())
            .push_bind(r.c.outcome.http_status().map(i64::from))
            .push_bind(r.c.outcome.error())
            .push_bind(portal.map(|p| p.code.as_str()))
            .push_bind(portal.map(|p| p.message.as_str()))
            .push_bind(delay)
            .push_bind(i64::try_from(r.c.messages.len()).unwrap_or(1))
            .push_bind(xroad.map(|x| x.id.as_str()))
            .push_bind(xroad.and_then(|x| x.request_id.as_deref()))
            .push_bind(xroad.and_then(|x| x.request_hash.as_deref()));
    });
    q.build().execute(&mut *conn).await?;
    for r in attempts {
        if let Some(reference) = &r.c.follow_up {
            super::followups::start(conn, r.seq, reference, now).await?;
        }
    }
    Ok(())
}

/// A completion's next attempt time, retry delay and delivery time.
fn timing(c: &Completion, now: i64) -> (i64, Option<i64>, Option<i64>) {
    match c.decision {
        Decision::Delivered => (now, None, Some(now)),
        Decision::RetryAt { at_ms, delay_ms } => (at_ms, Some(delay_ms), None),
        Decision::Dead => (now, None, None),
    }
}

pub(super) async fn release(conn: &mut Conn, which: &Release) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    macro_rules! release_sql {
        ($tail:literal) => {
            concat!(
                "UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retry_wait' END,
                        lease_owner = NULL, lease_until = NULL, next_attempt_at = $1, updated_at = $1
                 WHERE state = 'in_flight'",
                $tail
            )
        };
    }
    Ok(match which {
        Release::All => sqlx::query(release_sql!(""))
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
        Release::OwnedBy(owner) => sqlx::query(release_sql!(" AND lease_owner = $2"))
            .bind(now)
            .bind(owner)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
        Release::Seqs(seqs) => {
            let mut n = 0;
            for s in seqs {
                n += sqlx::query(release_sql!(" AND message_seq = $2"))
                    .bind(now)
                    .bind(s)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            }
            n
        }
    })
}

pub(super) async fn replay(conn: &mut Conn, id: &str) -> Result<ReplayOutcome, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT d.message_seq, d.state FROM deliveries d JOIN messages m ON m.seq = d.message_seq
         WHERE m.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(ReplayOutcome::NotFound);
    };
    let seq: i64 = row.try_get(0)?;
    let state = from_column(&row.try_get::<String, _>(1)?)?;
    if !state.is_replayable() {
        return Ok(ReplayOutcome::NotReplayable(state));
    }
    let now = now_ms();
    // Guarded by the state, so two operators replaying at once on two instances replay once.
    sqlx::query(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, age_from = $1,
                updated_at = $1, delivered_at = NULL
         WHERE message_seq = $2 AND state IN ('dead', 'cancelled')",
    )
    .bind(now)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(ReplayOutcome::Replayed)
}
