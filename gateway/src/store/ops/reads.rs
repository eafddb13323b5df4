//! Reads for tracking, administration, health and the pollers, on the backend's pool (on
//! SQLite the read-only connections; the writer is never waited for).

use sqlx::Row;

use crate::store::DeliveryState;
use crate::store::state::from_column;

use super::{Db, Pool};
use crate::store::followups::Followup;
use crate::store::reads::{
    AttemptView, CallbackView, DeliveryFilter, DeliveryView, DossierRecord, DossierView, EventView,
    ReceivedView, StateCount,
};
use crate::store::{StoreError, ms_to_rfc3339};

/// `SELECT` of a delivery view followed by the rest of the statement (kept a literal: no SQL is
/// ever built from run-time text).
macro_rules! select_deliveries {
    ($tail:literal) => {
        concat!(
            "SELECT m.id, d.dossier_code, d.destination, d.kind, d.state, d.attempts, d.next_attempt_at,
                    d.last_error, d.last_http_status, d.portal_code, d.portal_message, m.created_at, d.delivered_at,
                    (SELECT hm.id FROM deliveries h JOIN messages hm ON hm.seq = h.message_seq
                     WHERE h.dossier_code = d.dossier_code AND h.destination = d.destination
                       AND h.message_seq < d.message_seq AND h.state = 'dead'
                     ORDER BY h.message_seq LIMIT 1) AS held_by
             FROM deliveries d JOIN messages m ON m.seq = d.message_seq ",
            $tail
        )
    };
}

fn delivery(row: &<Db as sqlx::Database>::Row) -> Result<DeliveryView, sqlx::Error> {
    let state = from_column(&row.try_get::<String, _>(4)?)?;
    let next: i64 = row.try_get(6)?;
    Ok(DeliveryView {
        id: row.try_get(0)?,
        dossier_code: row.try_get(1)?,
        destination: row.try_get(2)?,
        kind: row.try_get(3)?,
        next_attempt_at: state.is_due().then(|| ms_to_rfc3339(next)),
        state,
        attempts: row.try_get(5)?,
        last_error: row.try_get(7)?,
        last_http_status: row.try_get(8)?,
        portal_code: row.try_get(9)?,
        portal_message: row.try_get(10)?,
        created_at: ms_to_rfc3339(row.try_get(11)?),
        delivered_at: row.try_get::<Option<i64>, _>(12)?.map(ms_to_rfc3339),
        held_by: row.try_get(13)?,
    })
}

pub(in crate::store) async fn ping(pool: &Pool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

pub(in crate::store) async fn dossier(
    pool: &Pool,
    code: &str,
) -> Result<Option<DossierRecord>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT status, destinations, origin_peer, origin_document, body FROM dossiers WHERE code = $1",
    )
        .bind(code)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let dest: String = row.try_get(1)?;
    Ok(Some(DossierRecord {
        status: row.try_get(0)?,
        destinations: serde_json::from_str(&dest)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        origin: match (row.try_get(2)?, row.try_get(3)?) {
            (Some(peer), Some(document)) => Some((peer, document)),
            _ => None,
        },
        body: row.try_get(4)?,
    }))
}

pub(in crate::store) async fn dossier_view(
    pool: &Pool,
    code: &str,
) -> Result<Option<DossierView>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT code, status, version, destinations, created_at, updated_at, body FROM dossiers WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let events = sqlx::query("SELECT event_id, status, received_at, body FROM status_events WHERE dossier_code = $1 ORDER BY seq")
        .bind(code)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| -> Result<EventView, StoreError> {
            Ok(EventView {
                id: r.try_get(0)?,
                status: r.try_get(1)?,
                received_at: ms_to_rfc3339(r.try_get(2)?),
                event: serde_json::from_str(&r.try_get::<String, _>(3)?).map_err(corrupt)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deliveries = sqlx::query(select_deliveries!(
        "WHERE d.dossier_code = $1 ORDER BY d.message_seq"
    ))
    .bind(code)
    .fetch_all(pool)
    .await?
    .iter()
    .map(delivery)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(DossierView {
        code: row.try_get(0)?,
        status: row.try_get(1)?,
        version: row.try_get(2)?,
        destinations: serde_json::from_str(&row.try_get::<String, _>(3)?).map_err(corrupt)?,
        accepted_at: ms_to_rfc3339(row.try_get(4)?),
        updated_at: ms_to_rfc3339(row.try_get(5)?),
        events,
        deliveries,
        dossier: serde_json::from_str(&row.try_get::<String, _>(6)?).map_err(corrupt)?,
    }))
}

pub(in crate::store) async fn deliveries(
    pool: &Pool,
    f: &DeliveryFilter,
) -> Result<Vec<DeliveryView>, StoreError> {
    let rows = sqlx::query(select_deliveries!(
        "WHERE ($1 IS NULL OR d.state = $1) AND ($2 IS NULL OR d.destination = $2) AND ($3 IS NULL OR d.dossier_code = $3)
         ORDER BY d.message_seq DESC LIMIT $4"
    ))
    .bind(f.state.map(DeliveryState::as_str))
    .bind(&f.destination)
    .bind(&f.dossier_code)
    .bind(f.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(delivery).collect::<Result<Vec<_>, _>>()?)
}

pub(in crate::store) async fn attempts(
    pool: &Pool,
    message_id: &str,
) -> Result<Vec<AttemptView>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.attempt, a.started_at, a.duration_ms, a.outcome, a.decision, a.http_status, a.error, a.portal_code,
                a.portal_message, a.retry_delay_ms, a.batch_size, a.xroad_id, a.xroad_request_id,
                a.xroad_request_hash
         FROM attempts a JOIN messages m ON m.seq = a.message_seq WHERE m.id = $1 ORDER BY a.id",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AttemptView {
                attempt: r.try_get(0)?,
                started_at: ms_to_rfc3339(r.try_get(1)?),
                duration_ms: r.try_get(2)?,
                outcome: r.try_get(3)?,
                decision: r.try_get(4)?,
                http_status: r.try_get(5)?,
                error: r.try_get(6)?,
                portal_code: r.try_get(7)?,
                portal_message: r.try_get(8)?,
                retry_delay_ms: r.try_get(9)?,
                batch_size: r.try_get(10)?,
                xroad_id: r.try_get(11)?,
                xroad_request_id: r.try_get(12)?,
                xroad_request_hash: r.try_get(13)?,
            })
        })
        .collect()
}

pub(in crate::store) async fn delivery_counts(pool: &Pool) -> Result<Vec<StateCount>, StoreError> {
    let rows = sqlx::query("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state ORDER BY 1, 2")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StateCount {
                destination: r.try_get(0)?,
                state: from_column(&r.try_get::<String, _>(1)?)?,
                count: r.try_get(2)?,
            })
        })
        .collect()
}

pub(in crate::store) async fn oldest_undelivered(
    pool: &Pool,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.destination, MIN(m.created_at) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
         WHERE d.state IN ('pending', 'in_flight', 'retry_wait') GROUP BY d.destination",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(in crate::store) async fn received(
    pool: &Pool,
    dossier_code: &str,
) -> Result<Vec<ReceivedView>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.source, r.document_id, r.dossier_code, r.kind, r.business_doc_type, r.status_code, r.effect,
                r.signer, r.body_sha256, r.received_at, r.body, d.answer
         FROM exchange_received r
         JOIN inbound_dedupe d ON d.source = r.source AND d.message_id = r.dedupe_key
         WHERE r.dossier_code = $1 ORDER BY r.id",
    )
    .bind(dossier_code)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ReceivedView {
                source: r.try_get(0)?,
                document_id: r.try_get(1)?,
                dossier_code: r.try_get(2)?,
                kind: r.try_get(3)?,
                business_doc_type: r.try_get(4)?,
                status_code: r.try_get(5)?,
                effect: r.try_get(6)?,
                signer: r.try_get(7)?,
                body_sha256: r.try_get(8)?,
                received_at: ms_to_rfc3339(r.try_get(9)?),
                body: r.try_get(10)?,
                answer: r.try_get(11)?,
            })
        })
        .collect()
}

pub(in crate::store) async fn callbacks_received(
    pool: &Pool,
    dossier_code: &str,
) -> Result<Vec<CallbackView>, StoreError> {
    let rows = sqlx::query(
        "SELECT source, event, dedupe_key, dossier_code, body_sha256, received_at, body
         FROM callbacks_received WHERE dossier_code = $1 ORDER BY id",
    )
    .bind(dossier_code)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let body: String = r.try_get(6)?;
            Ok(CallbackView {
                source: r.try_get(0)?,
                event: r.try_get(1)?,
                dedupe_key: r.try_get(2)?,
                dossier_code: r.try_get(3)?,
                body_sha256: r.try_get(4)?,
                received_at: ms_to_rfc3339(r.try_get(5)?),
                body: serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })
        })
        .collect()
}

pub(in crate::store) async fn due_followups(
    pool: &Pool,
    destination: &str,
    now: i64,
    limit: u32,
) -> Result<Vec<Followup>, StoreError> {
    let rows = sqlx::query(
        "SELECT dossier_code, reference, last_code FROM followups
         WHERE destination = $1 AND final = FALSE AND next_poll_at <= $2
         ORDER BY next_poll_at LIMIT $3",
    )
    .bind(destination)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(pool)
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

/// A dossier's deadline state as of `$1`, due soon within `$2` ms (see `crate::records::deadlines`).
macro_rules! deadline_state {
    () => {
        "CASE
            WHEN due_at IS NULL THEN 'no_due_date'
            WHEN returned_at IS NOT NULL AND returned_at <= $1
                THEN CASE WHEN returned_at <= due_at THEN 'on_time' ELSE 'late' END
            WHEN status IN ('rejected', 'withdrawn', 'stopped') THEN 'closed'
            WHEN due_at < $1 THEN 'overdue'
            WHEN due_at <= $1 + $2 THEN 'due_soon'
            ELSE 'in_progress'
         END"
    };
}

pub(in crate::store) async fn deadline_counts(
    pool: &Pool,
    period: (i64, i64),
    as_of: i64,
    due_soon_ms: i64,
) -> Result<Vec<crate::records::deadlines::GroupCounts>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT COALESCE(agency_code, ''), COALESCE(procedure_code, ''), COALESCE(field_code, ''), ",
        deadline_state!(),
        " AS state, COUNT(*) FROM dossiers
         WHERE COALESCE(received_at, created_at) >= $3 AND COALESCE(received_at, created_at) < $4
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3"
    ))
    .bind(as_of)
    .bind(due_soon_ms)
    .bind(period.0)
    .bind(period.1)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<crate::records::deadlines::GroupCounts> = Vec::new();
    for r in &rows {
        let (agency, procedure, field): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let state: String = r.try_get(3)?;
        let n: i64 = r.try_get(4)?;
        let group = match out.last_mut() {
            Some(g) if g.agency == agency && g.procedure == procedure && g.field == field => g,
            _ => {
                out.push(crate::records::deadlines::GroupCounts {
                    agency,
                    procedure,
                    field,
                    counts: crate::records::deadlines::Counts::default(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        let c = &mut group.counts;
        match state.as_str() {
            "on_time" => c.on_time += n,
            "late" => c.late += n,
            "overdue" => c.overdue += n,
            "due_soon" => c.due_soon += n,
            "in_progress" => c.in_progress += n,
            "closed" => c.closed += n,
            _ => c.no_due_date += n,
        }
        c.total += n;
    }
    Ok(out)
}

pub(in crate::store) async fn overdue(
    pool: &Pool,
    as_of: i64,
    limit: i64,
) -> Result<Vec<crate::store::OverdueDossier>, StoreError> {
    let rows = sqlx::query(
        "SELECT code, status, agency_code, procedure_code, field_code, received_at, due_at FROM dossiers
         WHERE due_at < $1 AND (returned_at IS NULL OR returned_at > $1)
           AND status NOT IN ('rejected', 'withdrawn', 'stopped')
         ORDER BY due_at, code LIMIT $2",
    )
    .bind(as_of)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let due: i64 = r.try_get(6)?;
            Ok(crate::store::OverdueDossier {
                code: r.try_get(0)?,
                status: r.try_get(1)?,
                agency_code: r.try_get(2)?,
                procedure_code: r.try_get(3)?,
                field_code: r.try_get(4)?,
                received_at: r.try_get::<Option<i64>, _>(5)?.map(ms_to_rfc3339),
                due_at: ms_to_rfc3339(due),
                overdue_days: (as_of - due).div_euclid(86_400_000),
            })
        })
        .collect()
}

pub(in crate::store) async fn last_error(
    pool: &Pool,
    destination: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = sqlx::query(
        "SELECT last_error, updated_at FROM deliveries
         WHERE destination = $1 AND state IN ('retry_wait', 'dead') AND last_error IS NOT NULL
         ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(destination)
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

pub(in crate::store) async fn delivered_to(
    pool: &Pool,
    dossier_code: &str,
    destinations: &[String],
) -> Result<bool, StoreError> {
    for destination in destinations {
        let row = sqlx::query(
            "SELECT 1 FROM audit_log
             WHERE dossier_code = $1 AND direction = 'sent' AND peer = $2 AND outcome = 'delivered'
             LIMIT 1",
        )
        .bind(dossier_code)
        .bind(destination)
        .fetch_optional(pool)
        .await?;
        if row.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(in crate::store) async fn session_role(
    pool: &Pool,
    id_sha256: &str,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    let row =
        sqlx::query("SELECT role FROM console_sessions WHERE id_sha256 = $1 AND until_ms > $2")
            .bind(id_sha256)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?;
    row.map(|r| r.try_get(0).map_err(StoreError::from))
        .transpose()
}

pub(in crate::store) async fn generated_token(
    pool: &Pool,
    role: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT token FROM generated_tokens WHERE role = $1")
            .bind(role)
            .fetch_optional(pool)
            .await?,
    )
}
