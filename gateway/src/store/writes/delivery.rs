//! The data of `store::delivery`: what the writer is asked to store and what it answers (see
//! `store/delivery.rs` for the operations themselves).

use lienthong_connectors::{MessageKind, Outcome};

/// A claim of due deliveries of one destination.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Destination name.
    pub destination: String,
    /// This instance's id (lease owner).
    pub owner: String,
    /// Most lanes to claim.
    pub limit: usize,
    /// Lease length in milliseconds.
    pub lease_ms: i64,
    /// Most consecutive progress messages of one lane sent together.
    pub progress_batch: usize,
}

/// A claimed message.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    /// Store sequence number.
    pub seq: i64,
    /// Message id.
    pub id: String,
    /// Canonical body JSON.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Start of the `max_age` window.
    pub age_from: i64,
}

/// Consecutive messages of one lane (dossier, destination), to be sent in one exchange.
#[derive(Debug, Clone)]
pub struct ClaimedBatch {
    /// Destination.
    pub destination: String,
    /// Dossier code.
    pub dossier_code: String,
    /// Kind of every message of the batch.
    pub kind: MessageKind,
    /// The messages, oldest first.
    pub messages: Vec<ClaimedMessage>,
}

/// What the dispatcher decided after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Done.
    Delivered,
    /// Try again at this time, after this delay.
    RetryAt {
        /// When (ms).
        at_ms: i64,
        /// The chosen delay (ms).
        delay_ms: i64,
    },
    /// Give up.
    Dead,
}

impl Decision {
    /// The state a delivery is left in by this decision.
    pub const fn state(&self) -> crate::store::state::DeliveryState {
        match self {
            Self::Delivered => crate::store::state::DeliveryState::Delivered,
            Self::RetryAt { .. } => crate::store::state::DeliveryState::RetryWait,
            Self::Dead => crate::store::state::DeliveryState::Dead,
        }
    }
}

/// The result of one exchange, for every message of its batch.
#[derive(Debug, Clone)]
pub struct Completion {
    /// `(seq, attempt number)` of each message.
    pub messages: Vec<(i64, u32)>,
    /// Start (ms).
    pub started_at: i64,
    /// Duration (ms).
    pub duration_ms: i64,
    /// The connector's classification.
    pub outcome: Outcome,
    /// What happens next.
    pub decision: Decision,
    /// What went over the wire (for the audit log).
    pub evidence: lienthong_connectors::evidence::Evidence,
    /// The destination's reference to follow the dossier by, when the gateway decided this
    /// delivery starts (or restarts) a follow-up (`crate::delivery::dispatcher`).
    pub follow_up: Option<String>,
}

/// What a replay request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Queued again.
    Replayed,
    /// No such message.
    NotFound,
    /// Only dead or cancelled deliveries can be replayed; this is the current state.
    NotReplayable(crate::store::state::DeliveryState),
}

/// Which claimed deliveries to give back without an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) enum Release {
    /// Every delivery in flight (the single SQLite node at start-up).
    All,
    /// Those leased by this instance (a PostgreSQL instance at start-up: what it held when it
    /// died; other instances' work is left alone).
    OwnedBy(String),
    /// These (shutdown, or a claim that could not be started).
    Seqs(Vec<i64>),
}
