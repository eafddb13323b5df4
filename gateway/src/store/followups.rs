//! Following dossiers that a destination decides itself (NBRS registrations): a delivery that
//! came back with the destination's reference starts a follow-up; the poller asks about due
//! follow-ups and records what changed — the new code on the follow-up, the status event on the
//! dossier (with its progress messages to the dossier's other destinations) and the notices for
//! the center — in one transaction guarded by the last code recorded, so a status change becomes
//! an event exactly once, across restarts and repeated polls.

use sqlx::{Row, SqliteConnection};

use super::writer::{EventIntake, IntakeOutcome, NewMessage, queue};
use super::{Store, StoreError, now_ms};

/// A follow-up due to be asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followup {
    /// The dossier.
    pub dossier_code: String,
    /// The destination's reference for it.
    pub reference: String,
    /// The code last recorded, if any.
    pub last_code: Option<String>,
}

/// What a poll of one follow-up saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The destination's status code.
    pub code: String,
    /// Whether it is final (no more polls).
    pub is_final: bool,
    /// The status event it means for the dossier, when it means one.
    pub event: Option<EventIntake>,
    /// Notices for the center.
    pub notices: Vec<NewMessage>,
}

/// The result of polling one follow-up.
#[derive(Debug, Clone)]
pub struct FollowupUpdate {
    /// The destination polled.
    pub destination: String,
    /// The dossier.
    pub dossier_code: String,
    /// The reference asked about.
    pub reference: String,
    /// What it said (`None`: the poll failed; only the next poll is scheduled).
    pub seen: Option<Seen>,
    /// When to ask again (unless final).
    pub next_poll_at: i64,
}

/// What recording a poll came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowupOutcome {
    /// A new code: recorded, with what the event came to (`None`: no event).
    Changed(Option<IntakeOutcome>),
    /// Same code as recorded (or the follow-up moved on): only the next poll scheduled.
    Unchanged,
}

/// Starts (or restarts, with a new reference) following the dossier of delivered message `seq`.
pub(super) async fn start(
    conn: &mut SqliteConnection,
    seq: i64,
    reference: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deliveries SET portal_reference = ? WHERE message_seq = ?")
        .bind(reference)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO followups (destination, dossier_code, reference, final, polls, next_poll_at, updated_at)
         SELECT destination, dossier_code, ?1, 0, 0, ?2, ?2 FROM deliveries WHERE message_seq = ?3
         ON CONFLICT (destination, dossier_code) DO UPDATE SET
             last_code = CASE WHEN followups.reference = excluded.reference THEN followups.last_code END,
             final = CASE WHEN followups.reference = excluded.reference THEN followups.final ELSE 0 END,
             reference = excluded.reference, next_poll_at = excluded.next_poll_at,
             updated_at = excluded.updated_at",
    )
    .bind(reference)
    .bind(now)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn record(
    conn: &mut SqliteConnection,
    u: &FollowupUpdate,
) -> Result<FollowupOutcome, sqlx::Error> {
    let now = now_ms();
    let Some(seen) = &u.seen else {
        reschedule(conn, u, now).await?;
        return Ok(FollowupOutcome::Unchanged);
    };
    // Only the first to record this code for this reference goes on.
    let changed = sqlx::query(
        "UPDATE followups SET last_code = ?, final = ?, polls = polls + 1, next_poll_at = ?, updated_at = ?
         WHERE destination = ? AND dossier_code = ? AND reference = ?
           AND (last_code IS NULL OR last_code != ?)",
    )
    .bind(&seen.code)
    .bind(i64::from(seen.is_final))
    .bind(u.next_poll_at)
    .bind(now)
    .bind(&u.destination)
    .bind(&u.dossier_code)
    .bind(&u.reference)
    .bind(&seen.code)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        reschedule(conn, u, now).await?;
        return Ok(FollowupOutcome::Unchanged);
    }
    queue(conn, &u.dossier_code, &seen.notices, now).await?;
    let event = match &seen.event {
        Some(e) => Some(super::writer::event(conn, e).await?),
        None => None,
    };
    Ok(FollowupOutcome::Changed(event))
}

async fn reschedule(
    conn: &mut SqliteConnection,
    u: &FollowupUpdate,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE followups SET polls = polls + 1, next_poll_at = ?, updated_at = ?
         WHERE destination = ? AND dossier_code = ? AND reference = ?",
    )
    .bind(u.next_poll_at)
    .bind(now)
    .bind(&u.destination)
    .bind(&u.dossier_code)
    .bind(&u.reference)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Follow-ups of `destination` due at `now` and not final, oldest due first.
    ///
    /// Errors: the store failed.
    pub async fn due_followups(
        &self,
        destination: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Followup>, StoreError> {
        let rows = sqlx::query(
            "SELECT dossier_code, reference, last_code FROM followups
             WHERE destination = ? AND final = 0 AND next_poll_at <= ?
             ORDER BY next_poll_at LIMIT ?",
        )
        .bind(destination)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Followup {
                    dossier_code: r.try_get(0)?,
                    reference: r.try_get(1)?,
                    last_code: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Records a poll of one follow-up (one transaction).
    ///
    /// Errors: the store failed; nothing was recorded.
    pub async fn record_followup(&self, u: FollowupUpdate) -> Result<FollowupOutcome, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(super::writer::Op::Followup(Box::new(u), tx), rx)
            .await
    }
}
