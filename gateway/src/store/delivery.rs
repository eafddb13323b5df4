//! Deliveries: claiming due lane heads under a lease, renewing the lease while an attempt runs,
//! recording attempts, giving claims back, and replaying dead letters.

use super::op::Op;
pub(super) use super::writes::delivery::Release;
pub use super::writes::delivery::{
    Claim, ClaimedBatch, ClaimedMessage, Completion, Decision, ReplayOutcome,
};
use super::{Store, StoreError};
use tokio::sync::oneshot;

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
