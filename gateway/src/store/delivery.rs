//! Deliveries: claiming due lane heads under a lease, renewing the lease while an attempt runs,
//! recording attempts, giving claims back, and replaying dead letters.

use lienthong_connectors::{MessageKind, Outcome};
use tokio::sync::oneshot;

use super::op::Op;
use super::{Store, StoreError};

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
    pub const fn state(&self) -> super::DeliveryState {
        match self {
            Self::Delivered => super::DeliveryState::Delivered,
            Self::RetryAt { .. } => super::DeliveryState::RetryWait,
            Self::Dead => super::DeliveryState::Dead,
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
    NotReplayable(super::DeliveryState),
}

/// Which claimed deliveries to give back without an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Release {
    /// Every delivery in flight (the single SQLite node at start-up).
    All,
    /// Those leased by this instance (a PostgreSQL instance at start-up: what it held when it
    /// died; other instances' work is left alone).
    OwnedBy(String),
    /// These (shutdown, or a claim that could not be started).
    Seqs(Vec<i64>),
}

impl Store {
    /// Claims due deliveries of one destination for this instance.
    ///
    /// Errors: the store failed; nothing was claimed.
    pub async fn claim(&self, c: Claim) -> Result<Vec<ClaimedBatch>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Claim(c, tx), rx).await
    }

    /// Extends the lease of deliveries `owner` holds (an attempt still running), until `lease_ms`
    /// from now; returns how many it still held (fewer: another instance took them over).
    ///
    /// Errors: the store failed; the leases run as they were.
    pub async fn renew(
        &self,
        owner: &str,
        seqs: Vec<i64>,
        lease_ms: i64,
    ) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Renew(owner.to_owned(), seqs, lease_ms, tx), rx)
            .await
    }

    /// Records the outcome of attempts made by `owner`. A message whose lease another instance
    /// has taken over meanwhile is left as that instance has it.
    ///
    /// Errors: the store failed; the deliveries stay claimed until their lease runs out.
    pub async fn complete(&self, owner: &str, c: Vec<Completion>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Complete(owner.to_owned(), c, tx), rx).await
    }

    /// Gives claimed deliveries back without an attempt (shutdown).
    ///
    /// Errors: the store failed; the leases will expire instead.
    pub async fn release(&self, seqs: Vec<i64>) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Release(Release::Seqs(seqs), tx), rx).await
    }

    /// Gives back what this instance left in flight when it last stopped: on SQLite (one
    /// instance) every delivery in flight, on PostgreSQL those leased by `owner`.
    ///
    /// Errors: the store failed.
    pub async fn release_abandoned(&self, owner: &str) -> Result<u64, StoreError> {
        let which = if self.shared() {
            Release::OwnedBy(owner.to_owned())
        } else {
            Release::All
        };
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Release(which, tx), rx).await
    }

    /// Puts a dead delivery back in the queue with fresh attempts.
    ///
    /// Errors: the store failed.
    pub async fn replay(&self, message_id: &str) -> Result<ReplayOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Replay(message_id.to_owned(), tx), rx).await
    }
}
