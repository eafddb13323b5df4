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
    /// Something that came back, for the center (a dossier or status from another center, a
    /// portal result): delivered to the center's webhook.
    Notice,
}

impl MessageKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dossier => "dossier",
            Self::Progress => "progress",
            Self::Notice => "notice",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dossier" => Some(Self::Dossier),
            "progress" => Some(Self::Progress),
            "notice" => Some(Self::Notice),
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
    /// A notice for the center.
    Notice(Notice),
}

/// Something the center is told about (delivered to its webhook as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// What happened, e.g. `exchange.dossier` (a dossier received from another center) or
    /// `exchange.status` (another center's status for one of ours).
    pub event: String,
    /// The dossier it concerns.
    pub dossier_code: String,
    /// The details, as documented for each event.
    pub data: serde_json::Value,
}

/// `value` as the input of mapping `mapping`.
///
/// Errors: `value` does not serialise to JSON (a map with non-string keys; not expected of the
/// canonical model), reported as a render error of that mapping.
pub fn mapping_input(
    mapping: &str,
    value: &impl Serialize,
) -> Result<serde_json::Value, lienthong_mappings::RenderError> {
    serde_json::to_value(value).map_err(|e| lienthong_mappings::RenderError {
        mapping: mapping.to_owned(),
        target: String::new(),
        input: None,
        message: e.to_string(),
    })
}

/// The `RenderError` of a connector that does not send a kind of message.
pub fn unsupported(connector: &str, body: &MessageBody) -> lienthong_mappings::RenderError {
    lienthong_mappings::RenderError {
        mapping: connector.to_owned(),
        target: String::new(),
        input: None,
        message: format!(
            "{connector} destinations do not take {} messages",
            body.kind().as_str()
        ),
    }
}

impl MessageBody {
    /// The kind of message this body makes.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Dossier { .. } => MessageKind::Dossier,
            Self::Progress(_) => MessageKind::Progress,
            Self::Notice(_) => MessageKind::Notice,
        }
    }

    /// The dossier code it concerns.
    pub fn dossier_code(&self) -> &str {
        match self {
            Self::Dossier { dossier, .. } => &dossier.code,
            Self::Progress(p) => &p.dossier_code,
            Self::Notice(n) => &n.dossier_code,
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
