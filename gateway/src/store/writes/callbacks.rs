//! The data of `store::callbacks`: what the writer is asked to store and what it answers (see
//! `store/callbacks.rs` for the operations themselves).

use super::intake::{EventIntake, NewMessage};

/// A verified push ready to be stored.
#[derive(Debug, Clone)]
pub struct CallbackReceipt {
    /// Who pushed it (`dvcqg`, `payment`, …).
    pub source: String,
    /// What the center is told (`payment.confirmed`, …).
    pub event: String,
    /// Deduplication key within the source.
    pub dedupe_key: String,
    /// The dossier it concerns.
    pub dossier_code: String,
    /// The push as kept (secrets removed).
    pub body: String,
    /// Its SHA-256.
    pub sha256: String,
    /// SHA-256 (hex) of the client certificate it came with over mTLS, for the audit log.
    pub peer_certificate_sha256: Option<String>,
    /// The success answer, kept for repeats.
    pub answer: String,
    /// Notices for the center.
    pub notices: Vec<NewMessage>,
    /// The status event it means for the dossier (a national system's decision), if any.
    pub event_intake: Option<EventIntake>,
    /// What a push under the same key with other content means.
    pub on_change: OnChange,
}

/// What a push whose key was seen before, with other content, is (a repeat is a repeat only
/// when its content is the same): the source's [`lienthong_connectors::push::Repeats`]. Under
/// `NeverUnpay`, what contradicts a confirmed payment is kept as `payment.conflict`, not
/// forwarded, and flagged for the operator.
pub use lienthong_connectors::push::Repeats as OnChange;

/// What storing a push came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Stored: the answer to send.
    Stored(String),
    /// Stored as a new state of a record seen before with other content (forwarded).
    Changed(String),
    /// Stored, not forwarded: it contradicts a confirmed payment (flagged for the operator).
    Flagged(String),
    /// Received before: the original answer.
    Repeat(String),
}
