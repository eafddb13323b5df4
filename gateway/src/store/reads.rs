//! Reads for tracking, administration and health, on the read-only pool.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Store, StoreError, ms_to_rfc3339};

/// What intake needs to know of an existing dossier.
#[derive(Debug, Clone)]
pub struct DossierRecord {
    /// Current canonical status.
    pub status: String,
    /// Destinations it was routed to.
    pub destinations: Vec<String>,
    /// For a dossier another center sent: its agency code and the DocumentId it came in.
    pub origin: Option<(String, String)>,
    /// The canonical dossier as last stored (JSON).
    pub body: String,
}

/// A status event as tracked.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Event id.
    pub id: String,
    /// Status after the event.
    pub status: String,
    /// When it was received.
    pub received_at: String,
    /// The event as sent.
    pub event: Value,
}

/// A delivery as shown to operators.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// Message id (the id to replay).
    pub id: String,
    /// Dossier code.
    pub dossier_code: String,
    /// Destination.
    pub destination: String,
    /// `dossier` or `progress`.
    pub kind: String,
    /// Delivery state.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt (for pending and retry_wait).
    pub next_attempt_at: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// Last HTTP status.
    pub last_http_status: Option<i64>,
    /// The portal's last error_code.
    pub portal_code: Option<String>,
    /// The portal's last message.
    pub portal_message: Option<String>,
    /// When queued.
    pub created_at: String,
    /// When delivered.
    pub delivered_at: Option<String>,
    /// An earlier dead message of the same dossier and destination that holds this one back
    /// (order per dossier is kept: replay or cancel it first).
    pub held_by: Option<String>,
}

/// One recorded attempt.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    /// Attempt number.
    pub attempt: i64,
    /// Start.
    pub started_at: String,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// `delivered`, `retry` or `rejected`.
    pub outcome: String,
    /// State after the attempt.
    pub decision: String,
    /// HTTP status.
    pub http_status: Option<i64>,
    /// Error text.
    pub error: Option<String>,
    /// Portal error_code.
    pub portal_code: Option<String>,
    /// Portal message.
    pub portal_message: Option<String>,
    /// Delay chosen before the next attempt, in milliseconds.
    pub retry_delay_ms: Option<i64>,
    /// Messages sent in the same exchange.
    pub batch_size: i64,
}

/// Tracking view of a dossier (`GET /v1/dossiers/{code}`).
#[derive(Debug, Clone, Serialize)]
pub struct DossierView {
    /// Code.
    pub code: String,
    /// Current status.
    pub status: String,
    /// Data version (1, then +1 per `PUT`).
    pub version: i64,
    /// Destinations.
    pub destinations: Vec<String>,
    /// When first accepted.
    pub accepted_at: String,
    /// Last change.
    pub updated_at: String,
    /// Status events in arrival order.
    pub events: Vec<EventView>,
    /// Deliveries in message order.
    pub deliveries: Vec<DeliveryView>,
    /// The dossier as stored.
    pub dossier: Value,
}

/// Filter for delivery lists.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this destination.
    pub destination: Option<String>,
    /// Only this dossier.
    pub dossier_code: Option<String>,
    /// At most this many (newest first).
    pub limit: i64,
}

/// Number of deliveries in one state for one destination.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateCount {
    /// Destination.
    pub destination: String,
    /// State.
    pub state: String,
    /// Count.
    pub count: i64,
}

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

fn delivery(row: &sqlx::sqlite::SqliteRow) -> Result<DeliveryView, sqlx::Error> {
    let state: String = row.try_get(4)?;
    let next: i64 = row.try_get(6)?;
    Ok(DeliveryView {
        id: row.try_get(0)?,
        dossier_code: row.try_get(1)?,
        destination: row.try_get(2)?,
        kind: row.try_get(3)?,
        next_attempt_at: matches!(state.as_str(), "pending" | "retry_wait")
            .then(|| ms_to_rfc3339(next)),
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

impl Store {
    /// Checks that the database answers (readiness).
    ///
    /// Errors: it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The intake facts of a dossier.
    ///
    /// Errors: the store failed, or the stored destinations are unreadable.
    pub async fn dossier(&self, code: &str) -> Result<Option<DossierRecord>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT status, destinations, origin_peer, origin_document, body FROM dossiers WHERE code = ?",
        )
            .bind(code)
            .fetch_optional(&self.read)
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

    /// The tracking view of a dossier.
    ///
    /// Errors: the store failed or holds unreadable JSON.
    pub async fn dossier_view(&self, code: &str) -> Result<Option<DossierView>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT code, status, version, destinations, created_at, updated_at, body FROM dossiers WHERE code = ?",
        )
        .bind(code)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
        let events = sqlx::query("SELECT event_id, status, received_at, body FROM status_events WHERE dossier_code = ? ORDER BY seq")
            .bind(code)
            .fetch_all(&self.read)
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
            "WHERE d.dossier_code = ? ORDER BY d.message_seq"
        ))
        .bind(code)
        .fetch_all(&self.read)
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

    /// Deliveries matching a filter, newest first.
    ///
    /// Errors: the store failed.
    pub async fn deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryView>, StoreError> {
        let rows = sqlx::query(select_deliveries!(
            "WHERE (?1 IS NULL OR d.state = ?1) AND (?2 IS NULL OR d.destination = ?2) AND (?3 IS NULL OR d.dossier_code = ?3)
             ORDER BY d.message_seq DESC LIMIT ?4"
        ))
        .bind(&f.state)
        .bind(&f.destination)
        .bind(&f.dossier_code)
        .bind(f.limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(delivery).collect::<Result<Vec<_>, _>>()?)
    }

    /// Attempts of one message, oldest first.
    ///
    /// Errors: the store failed.
    pub async fn attempts(&self, message_id: &str) -> Result<Vec<AttemptView>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.attempt, a.started_at, a.duration_ms, a.outcome, a.decision, a.http_status, a.error, a.portal_code,
                    a.portal_message, a.retry_delay_ms, a.batch_size
             FROM attempts a JOIN messages m ON m.seq = a.message_seq WHERE m.id = ? ORDER BY a.id",
        )
        .bind(message_id)
        .fetch_all(&self.read)
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
                })
            })
            .collect()
    }

    /// Deliveries per destination and state.
    ///
    /// Errors: the store failed.
    pub async fn delivery_counts(&self) -> Result<Vec<StateCount>, StoreError> {
        let rows = sqlx::query("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state ORDER BY 1, 2")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StateCount {
                    destination: r.try_get(0)?,
                    state: r.try_get(1)?,
                    count: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Creation time (ms) of the oldest message not yet delivered, per destination.
    ///
    /// Errors: the store failed.
    pub async fn oldest_undelivered(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.destination, MIN(m.created_at) FROM deliveries d JOIN messages m ON m.seq = d.message_seq
             WHERE d.state IN ('pending', 'in_flight', 'retry_wait') GROUP BY d.destination",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

/// An edXML message received from another center, as kept for evidence.
#[derive(Debug, Clone, Serialize)]
pub struct ReceivedView {
    /// Sender's agency code.
    pub source: String,
    /// DocumentId.
    pub document_id: String,
    /// Dossier code.
    pub dossier_code: String,
    /// `dossier` or `status`.
    pub kind: String,
    /// BussinessDocType of a dossier message.
    pub business_doc_type: Option<i64>,
    /// StatusCode of a status message.
    pub status_code: Option<String>,
    /// What it did: created, updated, revoked, status, recorded.
    pub effect: String,
    /// Signer's subject.
    pub signer: String,
    /// SHA-256 of the document.
    pub body_sha256: String,
    /// When it was received.
    pub received_at: String,
    /// The document as received (signed).
    pub body: String,
    /// The signed answer sent back.
    pub answer: String,
}

impl Store {
    /// Received edXML messages of one dossier, in arrival order.
    ///
    /// Errors: the store failed.
    pub async fn received(&self, dossier_code: &str) -> Result<Vec<ReceivedView>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.source, r.document_id, r.dossier_code, r.kind, r.business_doc_type, r.status_code, r.effect,
                    r.signer, r.body_sha256, r.received_at, r.body, d.answer
             FROM exchange_received r
             JOIN inbound_dedupe d ON d.source = r.source AND d.message_id = r.dedupe_key
             WHERE r.dossier_code = ? ORDER BY r.id",
        )
        .bind(dossier_code)
        .fetch_all(&self.read)
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
}

/// A push from a national system as kept (`GET /v1/callbacks/received/{dossier}`).
#[derive(Debug, Clone, Serialize)]
pub struct CallbackView {
    /// Who pushed it.
    pub source: String,
    /// What the center was told.
    pub event: String,
    /// The dedupe key.
    pub dedupe_key: String,
    /// The dossier.
    pub dossier_code: String,
    /// SHA-256 of the kept body.
    pub body_sha256: String,
    /// When it was received.
    pub received_at: String,
    /// The push as kept (secrets removed).
    pub body: Value,
}

impl Store {
    /// Pushes received about one dossier, in arrival order.
    ///
    /// Errors: the store failed or holds unreadable JSON.
    pub async fn callbacks_received(
        &self,
        dossier_code: &str,
    ) -> Result<Vec<CallbackView>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, event, dedupe_key, dossier_code, body_sha256, received_at, body
             FROM callbacks_received WHERE dossier_code = ? ORDER BY id",
        )
        .bind(dossier_code)
        .fetch_all(&self.read)
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
}
