//! Reads for tracking, administration and health, on the read-only pool.

use super::DeliveryState;
use serde::Serialize;
use serde_json::Value;

use super::{Store, StoreError};

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
    pub state: DeliveryState,
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
    /// Through X-Road: the `X-Road-Id` sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xroad_id: Option<String>,
    /// Through X-Road: the answer's `X-Road-Request-Id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xroad_request_id: Option<String>,
    /// Through X-Road: the answer's `X-Road-Request-Hash` (checked against the request sent
    /// unless the destination says `request_hash = "keep"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xroad_request_hash: Option<String>,
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
    pub state: Option<DeliveryState>,
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
    pub state: DeliveryState,
    /// Count.
    pub count: i64,
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
    /// Checks that the database answers (readiness).
    ///
    /// Errors: it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, ping())
    }

    /// The intake facts of a dossier.
    ///
    /// Errors: the store failed, or the stored destinations are unreadable.
    pub async fn dossier(&self, code: &str) -> Result<Option<DossierRecord>, StoreError> {
        on_backend!(self, dossier(code))
    }

    /// The tracking view of a dossier.
    ///
    /// Errors: the store failed or holds unreadable JSON.
    pub async fn dossier_view(&self, code: &str) -> Result<Option<DossierView>, StoreError> {
        on_backend!(self, dossier_view(code))
    }

    /// Deliveries matching a filter, newest first.
    ///
    /// Errors: the store failed.
    pub async fn deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryView>, StoreError> {
        on_backend!(self, deliveries(f))
    }

    /// Attempts of one message, oldest first.
    ///
    /// Errors: the store failed.
    pub async fn attempts(&self, message_id: &str) -> Result<Vec<AttemptView>, StoreError> {
        on_backend!(self, attempts(message_id))
    }

    /// Deliveries per destination and state.
    ///
    /// Errors: the store failed.
    pub async fn delivery_counts(&self) -> Result<Vec<StateCount>, StoreError> {
        on_backend!(self, delivery_counts())
    }

    /// The error of the most recent failed delivery of `destination` still waiting or dead, and
    /// when it was recorded (Unix ms).
    ///
    /// Errors: the store failed.
    pub async fn last_error(&self, destination: &str) -> Result<Option<(String, i64)>, StoreError> {
        on_backend!(self, last_error(destination))
    }

    /// Creation time (ms) of the oldest message not yet delivered, per destination.
    ///
    /// Errors: the store failed.
    pub async fn oldest_undelivered(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(self, oldest_undelivered())
    }

    /// Received edXML messages of one dossier, in arrival order.
    ///
    /// Errors: the store failed.
    pub async fn received(&self, dossier_code: &str) -> Result<Vec<ReceivedView>, StoreError> {
        on_backend!(self, received(dossier_code))
    }

    /// Whether a message of the dossier was delivered to one of `destinations`: read from the
    /// audit log, which records every attempt with its outcome and which retention never
    /// purges (delivered messages themselves are purged after `retention.delivered`).
    ///
    /// Errors: the store failed.
    pub async fn delivered_to(
        &self,
        dossier_code: &str,
        destinations: &[String],
    ) -> Result<bool, StoreError> {
        on_backend!(self, delivered_to(dossier_code, destinations))
    }

    /// Pushes received about one dossier, in arrival order.
    ///
    /// Errors: the store failed or holds unreadable JSON.
    pub async fn callbacks_received(
        &self,
        dossier_code: &str,
    ) -> Result<Vec<CallbackView>, StoreError> {
        on_backend!(self, callbacks_received(dossier_code))
    }
}
