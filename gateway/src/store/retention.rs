//! Retention: what is old enough is deleted in small batches, so the store stays small over
//! years without one long transaction holding the writer.
//!
//! - messages delivered (or cancelled) before `delivered_before`, with their delivery row and
//!   attempts; dead letters and anything not yet delivered are never purged;
//! - dossiers last changed before `dossiers_before` that have no message left, with their
//!   events, received edXML, pushes and follow-ups (a dossier stays queryable until then);
//! - dedupe records older than `dedupe_before` (the replay windows refuse anything older).

use tokio::sync::oneshot;

use super::op::Op;

/// What one purge round may delete (times in store milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePlan {
    /// Delivered messages older than this go.
    pub delivered_before: i64,
    /// Dossiers last changed before this (and without messages) go.
    pub dossiers_before: i64,
    /// Dedupe records older than this go.
    pub dedupe_before: i64,
    /// At most this many of each per round.
    pub batch: u32,
}

/// What one round deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Messages (with their delivery and attempts).
    pub messages: u64,
    /// Message bodies no message names any more.
    pub bodies: u64,
    /// Dossiers (with their events, received documents, pushes and follow-ups).
    pub dossiers: u64,
    /// Dedupe records.
    pub dedupe: u64,
}

impl Purged {
    /// Whether any kind filled its batch (another round may find more).
    pub fn full(&self, batch: u32) -> bool {
        let b = u64::from(batch);
        self.messages >= b || self.bodies >= b || self.dossiers >= b || self.dedupe >= b
    }
}

impl super::Store {
    /// One purge round (one transaction): at most `plan.batch` of each kind.
    ///
    /// Errors: the store failed; nothing of the round was deleted.
    pub async fn purge(&self, plan: PurgePlan) -> Result<Purged, super::StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Purge(plan, tx), rx).await
    }
}
