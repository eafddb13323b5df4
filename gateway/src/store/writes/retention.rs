//! The data of `store::retention`: what the writer is asked to store and what it answers (see
//! `store/retention.rs` for the operations themselves).

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
