//! Following dossiers that a destination decides itself (NBRS registrations): a delivery that
//! came back with the destination's reference starts a follow-up; the poller asks about due
//! follow-ups and records what changed — the new code on the follow-up, the status event on the
//! dossier (with its progress messages to the dossier's other destinations) and the notices for
//! the center — in one transaction guarded by the last code recorded, so a status change becomes
//! an event exactly once, across restarts and repeated polls.

use super::op::Op;
pub use super::writes::followups::{Followup, FollowupOutcome, FollowupUpdate, Seen};
use super::{Store, StoreError};
use tokio::sync::oneshot;

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
