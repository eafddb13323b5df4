//! The audit log's SQL: appending records unlinked, linking them into the chain, time-stamps.

use sqlx::Row;

use super::Conn;
use crate::records::audit::{AuditEntry, GENESIS, link_hash};
use crate::store::now_ms;

/// Appends `entry`, unlinked, in the caller's transaction.
pub(super) async fn append(conn: &mut Conn, entry: &AuditEntry) -> Result<(), sqlx::Error> {
    append_all(conn, std::slice::from_ref(entry), now_ms()).await
}

/// Appends `entries`, unlinked and in order, at `at`, with a few multi-row statements.
pub(super) async fn append_all(
    conn: &mut Conn,
    entries: &[AuditEntry],
    at: i64,
) -> Result<(), sqlx::Error> {
    for piece in super::batch::pieces(entries) {
        let mut q = sqlx::QueryBuilder::<super::Db>::new(
            "INSERT INTO audit_log (at, direction, peer, dossier_code, message_id, payload_sha256, signature,
                                    peer_certificate_sha256, outcome) ",
        );
        q.push_values(piece, |mut row, e| {
            row.push_bind(at)
                .push_bind(e.direction.as_str())
                .push_bind(e.peer.as_str())
                .push_bind(e.dossier_code.as_str())
                .push_bind(e.message_id.as_str())
                .push_bind(e.payload_sha256.as_deref())
                .push_bind(e.signature.as_deref())
                .push_bind(e.peer_certificate_sha256.as_deref())
                .push_bind(e.outcome.as_str());
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Appends a `sent` record for each `(message seq, evidence, outcome)` of `sent`, in that order,
/// at `at`: the message's destination, dossier and id, with what went over the wire. A few
/// multi-row statements, not one per message.
pub(super) async fn append_sent_all(
    conn: &mut Conn,
    sent: &[(i64, &lienthong_connectors::evidence::Evidence, &str)],
    at: i64,
) -> Result<(), sqlx::Error> {
    let numbered: Vec<(i64, &(i64, &lienthong_connectors::evidence::Evidence, &str))> = sent
        .iter()
        .enumerate()
        .map(|(i, s)| (i64::try_from(i).unwrap_or(i64::MAX), s))
        .collect();
    for piece in super::batch::pieces(&numbered) {
        let mut q = sqlx::QueryBuilder::<super::Db>::new(
            "WITH sent (ord, seq, payload_sha256, signature, peer_certificate_sha256, outcome) AS (",
        );
        q.push_values(piece, |mut row, (ord, (seq, evidence, outcome))| {
            row.push_bind(*ord)
                .push_bind(*seq)
                .push_bind(evidence.payload_sha256.as_deref())
                .push_bind(evidence.signature.as_deref())
                .push_bind(evidence.peer_certificate_sha256.as_deref())
                .push_bind(*outcome);
        });
        q.push(
            ") INSERT INTO audit_log (at, direction, peer, dossier_code, message_id, payload_sha256,
                                     signature, peer_certificate_sha256, outcome)
             SELECT ",
        );
        q.push_bind(at);
        q.push(
            ", 'sent', m.destination, m.dossier_code, m.id, sent.payload_sha256, sent.signature,
                    sent.peer_certificate_sha256, sent.outcome
             FROM sent JOIN messages m ON m.seq = sent.seq ORDER BY sent.ord",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Links at most `limit` unlinked records after the chain's head, in the order they were
/// written; returns how many.
pub(super) async fn link(conn: &mut Conn, limit: i64) -> Result<u64, sqlx::Error> {
    let head = sqlx::query(
        "SELECT seq, hash FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let (mut seq, mut prev) = match head {
        Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
        None => (0, GENESIS.to_owned()),
    };
    let rows = sqlx::query(
        "SELECT id, at, direction, peer, dossier_code, message_id, payload_sha256, signature,
                peer_certificate_sha256, outcome
         FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut links: Vec<(i64, i64, String, String)> = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get(0)?;
        seq += 1;
        let mut r = super::reads::audit_content(&row, seq)?;
        r.prev_hash.clone_from(&prev);
        r.hash = link_hash(&prev, &r);
        prev.clone_from(&r.hash);
        links.push((id, seq, r.prev_hash, r.hash));
    }
    // One statement per piece of records, not one per record: the chainer runs in the writer's
    // groups, and a round of 2,000 single-row updates held intake behind it (issue 27).
    for piece in super::batch::pieces(&links) {
        let mut q =
            sqlx::QueryBuilder::<super::Db>::new("WITH link (id, seq, prev_hash, hash) AS (");
        q.push_values(piece, |mut row, (id, seq, prev_hash, hash)| {
            row.push_bind(*id)
                .push_bind(*seq)
                .push_bind(prev_hash.as_str())
                .push_bind(hash.as_str());
        });
        q.push(LINK_UPDATE);
        q.build().execute(&mut *conn).await?;
    }
    let linked = links.len() as u64;
    Ok(linked)
}

/// The update that links a piece of records (after their `VALUES`). The unary `+` keeps SQLite
/// from answering `seq IS NULL` through the unique index on `seq`: SQLite 3.51 chose that index
/// and, for every record of the piece, walked every unlinked record (9 ms a statement at 2,000
/// unlinked, a third of the writer's time during intake; issue 27). With it, each record is found
/// by its primary key. PostgreSQL reads `+seq` as `seq`.
pub(in crate::store) const LINK_UPDATE: &str =
    ") UPDATE audit_log SET seq = link.seq, prev_hash = link.prev_hash, hash = link.hash
     FROM link WHERE audit_log.id = link.id AND +audit_log.seq IS NULL";

/// Records an RFC 3161 time-stamp token over the hash of record `seq`.
pub(super) async fn stamp(
    conn: &mut Conn,
    seq: i64,
    hash: &str,
    tsa: &str,
    token: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_stamps (seq, hash, tsa, token, stamped_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (seq) DO NOTHING",
    )
    .bind(seq)
    .bind(hash)
    .bind(tsa)
    .bind(token)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
