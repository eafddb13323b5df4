//! Reads of the audit log: pages of records, a dossier's records, the chain's state and its
//! time-stamps (`lienthong audit`, evidence bundles, metrics).

use sqlx::Row;

use super::super::{Db, Pool};
use crate::store::StoreError;

/// The columns of a linked audit record, in [`audit_record`]'s order.
macro_rules! select_audit {
    ($tail:literal) => {
        concat!(
            "SELECT seq, at, direction, peer, dossier_code, message_id, payload_sha256, signature,
                    peer_certificate_sha256, outcome, prev_hash, hash FROM audit_log ",
            $tail
        )
    };
}

fn audit_record(
    row: &<Db as sqlx::Database>::Row,
) -> Result<crate::records::audit::AuditRecord, StoreError> {
    let mut r = audit_content(row, row.try_get(0)?)?;
    r.prev_hash = row.try_get(10)?;
    r.hash = row.try_get(11)?;
    Ok(r)
}

/// A record's content from columns 1..=9 (`at` … `outcome`, as [`select_audit`] and the chainer
/// select them) at position `seq`, its links left empty.
pub(in crate::store) fn audit_content(
    row: &<Db as sqlx::Database>::Row,
    seq: i64,
) -> Result<crate::records::audit::AuditRecord, sqlx::Error> {
    let direction: String = row.try_get(2)?;
    Ok(crate::records::audit::AuditRecord {
        seq,
        at: row.try_get(1)?,
        direction: crate::records::audit::Direction::parse(&direction)
            .ok_or_else(|| sqlx::Error::Decode(format!("audit direction `{direction}`").into()))?,
        peer: row.try_get(3)?,
        dossier_code: row.try_get(4)?,
        message_id: row.try_get(5)?,
        payload_sha256: row.try_get(6)?,
        signature: row.try_get(7)?,
        peer_certificate_sha256: row.try_get(8)?,
        outcome: row.try_get(9)?,
        prev_hash: String::new(),
        hash: String::new(),
    })
}

pub(in crate::store) async fn audit_page(
    pool: &Pool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<crate::records::audit::AuditRecord>, StoreError> {
    sqlx::query(select_audit!("WHERE seq > $1 ORDER BY seq LIMIT $2"))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(audit_record)
        .collect()
}

pub(in crate::store) async fn audit_of_dossier(
    pool: &Pool,
    code: &str,
) -> Result<Vec<crate::records::audit::AuditRecord>, StoreError> {
    sqlx::query(select_audit!(
        "WHERE dossier_code = $1 AND seq IS NOT NULL ORDER BY seq"
    ))
    .bind(code)
    .fetch_all(pool)
    .await?
    .iter()
    .map(audit_record)
    .collect()
}

pub(in crate::store) async fn audit_status(
    pool: &Pool,
) -> Result<crate::store::AuditStatus, StoreError> {
    let head = sqlx::query(
        "SELECT seq, hash, at FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let unlinked: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    let stamp = sqlx::query(
        "SELECT s.seq, a.at FROM audit_stamps s JOIN audit_log a ON a.seq = s.seq ORDER BY s.seq DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let mut status = crate::store::AuditStatus {
        unlinked,
        ..Default::default()
    };
    if let Some(h) = head {
        status.length = h.try_get(0)?;
        status.head_hash = Some(h.try_get(1)?);
        status.head_at = Some(h.try_get(2)?);
    }
    if let Some(s) = stamp {
        status.stamped_seq = Some(s.try_get(0)?);
        status.stamped_record_at = Some(s.try_get(1)?);
    }
    Ok(status)
}

pub(in crate::store) async fn audit_stamps(
    pool: &Pool,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<crate::store::AuditStamp>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, hash, tsa, token, stamped_at FROM audit_stamps WHERE seq >= $1 AND seq <= $2
         ORDER BY seq LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::store::AuditStamp {
                seq: r.try_get(0)?,
                hash: r.try_get(1)?,
                tsa: r.try_get(2)?,
                token: r.try_get(3)?,
                stamped_at: r.try_get(4)?,
            })
        })
        .collect()
}
