//! One retention round: delivered messages with their attempts, then the bodies no message
//! names any more, then dossiers with nothing left to deliver with what belongs to them, then old
//! dedupe records — at most `batch` of each.
//! On PostgreSQL the rows are taken with `SKIP LOCKED`, so a round never waits on (or fights
//! with) work another instance is doing on the same rows.

use super::{Conn, dialect};
use crate::store::retention::{PurgePlan, Purged};

pub(super) async fn purge(conn: &mut Conn, plan: &PurgePlan) -> Result<Purged, sqlx::Error> {
    let limit = i64::from(plan.batch);

    // Delivered messages: the deliveries' own index finds them; attempts and messages follow.
    let seqs: Vec<i64> = sqlx::query_scalar(dialect(
        "SELECT message_seq FROM deliveries
         WHERE state IN ('delivered', 'cancelled') AND updated_at < $1 LIMIT $2",
        "SELECT message_seq FROM deliveries
         WHERE state IN ('delivered', 'cancelled') AND updated_at < $1 LIMIT $2
         FOR UPDATE SKIP LOCKED",
    ))
    .bind(plan.delivered_before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for seq in &seqs {
        for sql in [
            "DELETE FROM attempts WHERE message_seq = $1",
            "DELETE FROM deliveries WHERE message_seq = $1",
            "DELETE FROM messages WHERE seq = $1",
        ] {
            sqlx::query(sql).bind(seq).execute(&mut *conn).await?;
        }
    }

    // Bodies no message names, not queued with for the retention period (a body touched by an
    // intake still writing holds its row lock: skipped, and too recent anyway).
    let bodies = sqlx::query(dialect(
        "DELETE FROM message_bodies WHERE sha256 IN
           (SELECT b.sha256 FROM message_bodies b
            WHERE b.touched_at < $1
              AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_sha256 = b.sha256)
            LIMIT $2)",
        "DELETE FROM message_bodies WHERE sha256 IN
           (SELECT b.sha256 FROM message_bodies b
            WHERE b.touched_at < $1
              AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_sha256 = b.sha256)
            LIMIT $2 FOR UPDATE SKIP LOCKED)",
    ))
    .bind(plan.delivered_before)
    .bind(limit)
    .execute(&mut *conn)
    .await?
    .rows_affected();

    // Dossiers with nothing left to deliver, unchanged for the retention period.
    let codes: Vec<String> = sqlx::query_scalar(dialect(
        "SELECT code FROM dossiers d
         WHERE updated_at < $1 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dossier_code = d.code)
         LIMIT $2",
        "SELECT code FROM dossiers d
         WHERE updated_at < $1 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dossier_code = d.code)
         LIMIT $2 FOR UPDATE SKIP LOCKED",
    ))
    .bind(plan.dossiers_before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for code in &codes {
        for sql in [
            "DELETE FROM status_events WHERE dossier_code = $1",
            "DELETE FROM exchange_received WHERE dossier_code = $1",
            "DELETE FROM callbacks_received WHERE dossier_code = $1",
            "DELETE FROM followups WHERE dossier_code = $1",
            "DELETE FROM dossiers WHERE code = $1",
        ] {
            sqlx::query(sql).bind(code).execute(&mut *conn).await?;
        }
    }

    let dedupe = sqlx::query(
        "DELETE FROM inbound_dedupe WHERE (source, message_id) IN
           (SELECT source, message_id FROM inbound_dedupe WHERE received_at < $1 LIMIT $2)",
    )
    .bind(plan.dedupe_before)
    .bind(limit)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(Purged {
        messages: u64::try_from(seqs.len()).unwrap_or(u64::MAX),
        bodies,
        dossiers: u64::try_from(codes.len()).unwrap_or(u64::MAX),
        dedupe,
    })
}
