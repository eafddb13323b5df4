//! Follow-ups: started by a delivery that came back with the destination's reference, then
//! each poll recorded, a changed code exactly once (guarded by the last code recorded).

use super::Conn;
use super::intake::queue;
use crate::store::followups::{FollowupOutcome, FollowupUpdate};
use crate::store::now_ms;

/// Starts (or restarts, with a new reference) following the dossier of delivered message `seq`.
pub(super) async fn start(
    conn: &mut Conn,
    seq: i64,
    reference: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deliveries SET portal_reference = $1 WHERE message_seq = $2")
        .bind(reference)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO followups (destination, dossier_code, reference, final, polls, next_poll_at, updated_at)
         SELECT destination, dossier_code, $1, FALSE, 0, $2, $2 FROM deliveries WHERE message_seq = $3
         ON CONFLICT (destination, dossier_code) DO UPDATE SET
             last_code = CASE WHEN followups.reference = excluded.reference THEN followups.last_code END,
             final = CASE WHEN followups.reference = excluded.reference THEN followups.final ELSE FALSE END,
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
    conn: &mut Conn,
    u: &FollowupUpdate,
) -> Result<FollowupOutcome, sqlx::Error> {
    let now = now_ms();
    let Some(seen) = &u.seen else {
        reschedule(conn, u, now).await?;
        return Ok(FollowupOutcome::Unchanged);
    };
    // Only the first to record this code for this reference goes on.
    let changed = sqlx::query(
        "UPDATE followups SET last_code = $1, final = $2, polls = polls + 1, next_poll_at = $3, updated_at = $4
         WHERE destination = $5 AND dossier_code = $6 AND reference = $7
           AND (last_code IS NULL OR last_code != $8)",
    )
    .bind(&seen.code)
    .bind(seen.is_final)
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
    // A status polled from the destination is a message received: it goes in the audit log.
    super::audit::append(
        conn,
        &crate::records::audit::AuditEntry {
            direction: crate::records::audit::Direction::Received,
            peer: u.destination.clone(),
            dossier_code: u.dossier_code.clone(),
            message_id: format!("{}:{}", u.reference, seen.code),
            payload_sha256: None,
            signature: None,
            peer_certificate_sha256: None,
            outcome: format!("status {}", seen.code),
        },
    )
    .await?;
    let event = match &seen.event {
        Some(e) => Some(super::intake::event(conn, e).await?),
        None => None,
    };
    Ok(FollowupOutcome::Changed(event))
}

async fn reschedule(conn: &mut Conn, u: &FollowupUpdate, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE followups SET polls = polls + 1, next_poll_at = $1, updated_at = $2
         WHERE destination = $3 AND dossier_code = $4 AND reference = $5",
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
