//! Retention: what is old enough is deleted in small batches, so the store stays small over
//! years without one long transaction holding the writer.
//!
//! - messages delivered (or cancelled) before `delivered_before`, with their delivery row and
//!   attempts; dead letters and anything not yet delivered are never purged;
//! - dossiers last changed before `dossiers_before` that have no message left, with their
//!   events, received edXML, pushes and follow-ups (a dossier stays queryable until then);
//! - dedupe records older than `dedupe_before` (the replay windows refuse anything older).

use sqlx::SqliteConnection;

/// What one purge round may delete (times in store milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePlan {
    /// Delivered messages older than this go.
    pub delivered_before: i64,
    /// Dossiers last changed before this (and without messages) go.
    pub dossiers_before: i64,
    /// Dedupe records older than this go.
    pub dedupe_before: i64,
    /// At most this many of each per round.
    pub batch: u32,
}

/// What one round deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Messages (with their delivery and attempts).
    pub messages: u64,
    /// Dossiers (with their events, received documents, pushes and follow-ups).
    pub dossiers: u64,
    /// Dedupe records.
    pub dedupe: u64,
}

impl Purged {
    /// Whether any kind filled its batch (another round may find more).
    pub fn full(&self, batch: u32) -> bool {
        let b = u64::from(batch);
        self.messages >= b || self.dossiers >= b || self.dedupe >= b
    }
}

pub(super) async fn purge(
    conn: &mut SqliteConnection,
    plan: &PurgePlan,
) -> Result<Purged, sqlx::Error> {
    let mut purged = Purged::default();
    let limit = i64::from(plan.batch);

    // Delivered messages: the deliveries' own index finds them; attempts and messages follow.
    let seqs: Vec<i64> = sqlx::query_scalar(
        "SELECT message_seq FROM deliveries
         WHERE state IN ('delivered', 'cancelled') AND updated_at < ?
         LIMIT ?",
    )
    .bind(plan.delivered_before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for seq in &seqs {
        for sql in [
            "DELETE FROM attempts WHERE message_seq = ?",
            "DELETE FROM deliveries WHERE message_seq = ?",
            "DELETE FROM messages WHERE seq = ?",
        ] {
            sqlx::query(sql).bind(seq).execute(&mut *conn).await?;
        }
    }
    purged.messages = u64::try_from(seqs.len()).unwrap_or(u64::MAX);

    // Dossiers with nothing left to deliver, unchanged for the retention period.
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM dossiers d
         WHERE updated_at < ?
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dossier_code = d.code)
         LIMIT ?",
    )
    .bind(plan.dossiers_before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for code in &codes {
        for sql in [
            "DELETE FROM status_events WHERE dossier_code = ?",
            "DELETE FROM exchange_received WHERE dossier_code = ?",
            "DELETE FROM callbacks_received WHERE dossier_code = ?",
            "DELETE FROM followups WHERE dossier_code = ?",
            "DELETE FROM dossiers WHERE code = ?",
        ] {
            sqlx::query(sql).bind(code).execute(&mut *conn).await?;
        }
    }
    purged.dossiers = u64::try_from(codes.len()).unwrap_or(u64::MAX);

    purged.dedupe = sqlx::query(
        "DELETE FROM inbound_dedupe WHERE rowid IN
           (SELECT rowid FROM inbound_dedupe WHERE received_at < ? LIMIT ?)",
    )
    .bind(plan.dedupe_before)
    .bind(limit)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(purged)
}

impl super::Store {
    /// One purge round (one transaction): at most `plan.batch` of each kind.
    ///
    /// Errors: the store failed; nothing of the round was deleted.
    pub async fn purge(&self, plan: PurgePlan) -> Result<Purged, super::StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(super::writer::Op::Purge(plan, tx), rx).await
    }
}
