//! Following dossiers that a destination decides itself (NBRS registrations): a delivery that
//! came back with the destination's reference starts a follow-up; the poller asks about due
//! follow-ups and records what changed — the new code on the follow-up, the status event on the
//! dossier (with its progress messages to the dossier's other destinations) and the notices for
//! the center — in one transaction guarded by the last code recorded, so a status change becomes
//! an event exactly once, across restarts and repeated polls.

use tokio::sync::oneshot;

use super::intake::{EventIntake, IntakeOutcome, NewMessage};
use super::op::Op;
use super::{Store, StoreError};

/// A follow-up due to be asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followup {
    /// The dossier.
    pub dossier_code: String,
    /// The destination's reference for it.
    pub reference: String,
    /// The code last recorded, if any.
    pub last_code: Option<String>,
}

/// What a poll of one follow-up saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The destination's status code.
    pub code: String,
    /// Whether it is final (no more polls).
    pub is_final: bool,
    /// The status event it means for the dossier, when it means one.
    pub event: Option<EventIntake>,
    /// Notices for the center.
    pub notices: Vec<NewMessage>,
}

/// The result of polling one follow-up.
#[derive(Debug, Clone)]
pub struct FollowupUpdate {
    /// The destination polled.
    pub destination: String,
    /// The dossier.
    pub dossier_code: String,
    /// The reference asked about.
    pub reference: String,
    /// What it said (`None`: the poll failed; only the next poll is scheduled).
    pub seen: Option<Seen>,
    /// When to ask again (unless final).
    pub next_poll_at: i64,
}

/// What recording a poll came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowupOutcome {
    /// A new code: recorded, with what the event came to (`None`: no event).
    Changed(Option<IntakeOutcome>),
    /// Same code as recorded (or the follow-up moved on): only the next poll scheduled.
    Unchanged,
}

impl Store {
    /// Follow-ups of `destination` due at `now` and not final, oldest due first.
    ///
    /// Errors: the store failed.
    pub async fn due_followups(
        &self,
        destination: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<Followup>, StoreError> {
        on_backend!(self, due_followups(destination, now, limit))
    }

    /// Records a poll of one follow-up (one transaction).
    ///
    /// Errors: the store failed; nothing was recorded.
    pub async fn record_followup(&self, u: FollowupUpdate) -> Result<FollowupOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Followup(Box::new(u), tx), rx).await
    }
}
