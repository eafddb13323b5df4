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

mod audit;
mod deadlines;
pub(in crate::store) use audit::*;
pub(in crate::store) use deadlines::*;

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
