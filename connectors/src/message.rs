//! What the dispatcher hands to a connector: a message and its canonical body.

use lienthong_mappings::{Dossier, ProgressInput};
use serde::{Deserialize, Serialize};

/// Message kinds, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Create or refresh a dossier on the destination.
    Dossier,
    /// A processing-progress entry (from a status event).
    Progress,
}

impl MessageKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dossier => "dossier",
            Self::Progress => "progress",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dossier" => Some(Self::Dossier),
            "progress" => Some(Self::Progress),
            _ => None,
        }
    }
}

/// Whether a dossier message creates the dossier on the destination or refreshes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DossierOp {
    /// First synchronisation (the connector may look the dossier up first).
    Create,
    /// A later refresh (`PUT /v1/dossiers/{code}`).
    Update,
}

/// The canonical content of a message, stored as JSON and rendered by the connector at send time
/// (so that a fixed mapping file applies to a replayed message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageBody {
    /// A dossier to create or refresh.
    Dossier {
        /// Create or refresh.
        op: DossierOp,
        /// The dossier as accepted.
        dossier: Box<Dossier>,
    },
    /// A status event to report as progress.
    Progress(ProgressInput),
}

impl MessageBody {
    /// The kind of message this body makes.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Dossier { .. } => MessageKind::Dossier,
            Self::Progress(_) => MessageKind::Progress,
        }
    }

    /// The dossier code it concerns.
    pub fn dossier_code(&self) -> &str {
        match self {
            Self::Dossier { dossier, .. } => &dossier.code,
            Self::Progress(p) => &p.dossier_code,
        }
    }
}

/// One message being delivered.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// Stable message id (UUID v7); receivers deduplicate on it.
    pub id: String,
    /// The body.
    pub body: MessageBody,
    /// 1 for the first attempt.
    pub attempt: u32,
}
