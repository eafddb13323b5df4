//! Retention: what is old enough is deleted in small batches, so the store stays small over
//! years without one long transaction holding the writer.
//!
//! - messages delivered (or cancelled) before `delivered_before`, with their delivery row and
//!   attempts; dead letters and anything not yet delivered are never purged;
//! - dossiers last changed before `dossiers_before` that have no message left, with their
//!   events, received edXML, pushes and follow-ups (a dossier stays queryable until then);
//! - dedupe records older than `dedupe_before` (the replay windows refuse anything older).

use super::op::Op;
pub use super::writes::retention::{PurgePlan, Purged};
use tokio::sync::oneshot;

impl super::Store {
    /// One purge round (one transaction): at most `plan.batch` of each kind.
    ///
    /// Errors: the store failed; nothing of the round was deleted.
    pub async fn purge(&self, plan: PurgePlan) -> Result<Purged, super::StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Purge(plan, tx), rx).await
    }
}
