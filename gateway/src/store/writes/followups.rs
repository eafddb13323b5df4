//! The data of `store::followups`: what the writer is asked to store and what it answers (see
//! `store/followups.rs` for the operations themselves).

use super::intake::{EventIntake, IntakeOutcome, NewMessage};

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
