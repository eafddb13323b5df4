//! The data of `store::intake`: what the writer is asked to store and what it answers (see
//! `store/intake.rs` for the operations themselves).

use lienthong_connectors::MessageKind;

/// A message to queue with its delivery.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Stable id (UUID v7).
    pub id: String,
    /// Destination name.
    pub destination: String,
    /// Kind.
    pub kind: MessageKind,
    /// Canonical body (JSON of a `MessageBody`); shared, so the store binds it without a copy
    /// (a notice can carry a large document's files).
    pub body: std::sync::Arc<str>,
}

/// A new dossier with its first messages.
#[derive(Debug, Clone)]
pub struct NewDossier {
    /// Dossier code.
    pub code: String,
    /// Normalised canonical JSON.
    pub body: String,
    /// SHA-256 of `body` (identical repeats are recognised by it).
    pub sha256: String,
    /// Canonical status.
    pub status: String,
    /// Destinations chosen by routing.
    pub destinations: Vec<String>,
    /// The receipt the center was given (the outbox writes it), kept so that a repeat gets the
    /// same one.
    pub answer: String,
    /// One message per destination.
    pub messages: Vec<NewMessage>,
    /// What its deadline statistics are computed from.
    pub facts: crate::records::deadlines::DossierFacts,
}

/// New data for an existing dossier (`PUT`).
#[derive(Debug, Clone)]
pub struct ReplaceDossier {
    /// Dossier code.
    pub code: String,
    /// Normalised canonical JSON.
    pub body: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Canonical status.
    pub status: String,
    /// The receipt the center is given (the outbox writes it).
    pub answer: String,
    /// One refresh per destination the dossier went to.
    pub messages: Vec<NewMessage>,
    /// What its deadline statistics are computed from (a new due date, say).
    pub facts: crate::records::deadlines::DossierFacts,
}

/// A status event with its progress messages.
#[derive(Debug, Clone)]
pub struct EventIntake {
    /// Dossier code.
    pub dossier_code: String,
    /// Event id.
    pub event_id: String,
    /// New canonical status.
    pub status: lienthong_mappings::DossierStatus,
    /// Event JSON.
    pub body: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The receipt the center is given (the outbox writes it).
    pub answer: String,
    /// One progress message per destination of the dossier.
    pub messages: Vec<NewMessage>,
    /// What it changes in the dossier's deadline.
    pub facts: crate::records::deadlines::EventFacts,
}

/// What an intake operation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeOutcome {
    /// Stored, with this receipt.
    Accepted(String),
    /// An identical repeat of what is stored: the original receipt.
    Repeat(String),
    /// The same code or id with a different body: what differs.
    Conflict(String),
    /// No such dossier.
    NotFound,
    /// The event's status cannot follow the dossier's.
    InvalidTransition {
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
}

impl IntakeOutcome {
    /// A short label for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Accepted(_) => "accepted",
            Self::Repeat(_) => "repeat",
            Self::Conflict(_) => "conflict",
            Self::NotFound => "not_found",
            Self::InvalidTransition { .. } => "invalid_transition",
        }
    }
}
