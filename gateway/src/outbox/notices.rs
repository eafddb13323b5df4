//! What the center's one-stop software receives (thông báo gửi phần mềm một cửa): the `data` of
//! each notice kind as a type, so that the notices are built from these types and their JSON
//! Schemas ([`schemas`], `GET /v1/schema/notices`, `docs/schemas/notices.json`) are generated
//! from the same types and cannot drift from what is sent.
//!
//! Every notice is `{"id", "event", "dossier_code", "data"}` posted to each webhook destination
//! of `callbacks.forward_to` or `exchange.forward_to` (docs/pushes.md says when each is sent).
//! The schemas leave room for fields added later (no `additionalProperties: false`): a center
//! ignores what it does not know. The notices of pushes are typed by their sources, in their
//! connector folders ([`lienthong_connectors::push::PushSource::notices`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `nbrs.status` (`<kind>.status` of a followed destination): a new status of a registration
/// the follow-up poller found.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FollowStatusNotice {
    /// The destination that reported it.
    pub destination: String,
    /// The destination's reference of the registration (NBRS `IN_JOURNAL_NO`).
    pub reference: String,
    /// The destination's own status code (NBRS `PROCESS_STATUS`).
    pub code: String,
    /// The canonical dossier status it means, if any (`accepted`, `processing`, `processed`…).
    pub status: Option<String>,
    /// Whether the destination's status is final (polling stops).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The destination's whole answer.
    pub report: Value,
}

/// The agency that sent an edXML message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Sender {
    /// Its agency code (`From/OrganId`).
    pub code: String,
    /// Its name (`From/OrganName`).
    pub name: String,
}

/// A file received with an edXML dossier.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReceivedFile {
    /// Its `ContentId`.
    pub content_id: String,
    /// File name.
    pub name: String,
    /// Media type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// The bytes, base64.
    pub content: String,
}

/// `exchange.dossier`: a dossier another center sent (liên thông), verified and stored.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExchangeDossierNotice {
    /// The sending agency.
    pub from: Sender,
    /// The edXML `DocumentId`.
    pub document_id: String,
    /// `BusinessDocType`: 0 new, 2 update.
    pub business_doc_type: u8,
    /// The edXML `Subject`.
    pub subject: Option<String>,
    /// Subject of the certificate that signed it.
    pub signer: String,
    /// The canonical dossier (`GET /v1/schema/dossier`) when the sender attached it, else
    /// `{"code", "summary", "procedure": {"code"}}` from the edXML header.
    pub dossier: Value,
    /// The dossier's files.
    pub attachments: Vec<ReceivedFile>,
}

/// `exchange.status`: a status message another center sent about a dossier exchanged with it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExchangeStatusNotice {
    /// The sending agency.
    pub from: Sender,
    /// The edXML `DocumentId` of the status message.
    pub document_id: String,
    /// The edXML status code (01 received … 06 finished, 13 taken back, 15/16 change accepted
    /// or refused).
    pub status_code: String,
    /// The canonical dossier status it means, if any.
    pub status: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// The official who set it.
    pub staff: Option<String>,
    /// When (RFC 3339).
    pub at: Option<String>,
    /// Subject of the certificate that signed it.
    pub signer: String,
}

/// The envelope of every notice.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// The message id (UUID v7): the key of what the center received (the same notice may
    /// arrive twice only if the center's answer was lost).
    pub id: String,
    /// The notice kind.
    pub event: String,
    /// The dossier code.
    pub dossier_code: String,
    /// The kind's data (the schema of its event).
    pub data: Value,
}

/// The `data` of `T` as a JSON value.
///
/// Errors: never for these types (their fields are JSON already); serde's error otherwise.
pub fn data<T: Serialize>(notice: &T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(notice)
}

/// The JSON Schemas of the notices: `envelope`, then one per event.
pub fn schemas() -> Value {
    let s = |v: schemars::Schema| v.to_value();
    let mut events = serde_json::Map::new();
    // The push sources' notices are described by each source (its connector folder).
    for source in crate::config::PUSH_SOURCES {
        for (event, schema) in source.notices() {
            events.insert(event.to_owned(), s(schema));
        }
    }
    for (event, schema) in [
        ("nbrs.status", schemars::schema_for!(FollowStatusNotice)),
        (
            "exchange.dossier",
            schemars::schema_for!(ExchangeDossierNotice),
        ),
        (
            "exchange.status",
            schemars::schema_for!(ExchangeStatusNotice),
        ),
    ] {
        events.insert(event.to_owned(), s(schema));
    }
    serde_json::json!({
        "envelope": s(schemars::schema_for!(Envelope)),
        "events": events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/schemas/notices.json` is what the types generate (run with
    /// `LIENTHONG_WRITE_SCHEMAS=1` to write it after changing a notice).
    #[test]
    fn the_documented_notice_schemas_are_the_generated_ones() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schemas/notices.json");
        let generated = serde_json::to_string_pretty(&schemas()).expect("json") + "\n";
        if std::env::var_os("LIENTHONG_WRITE_SCHEMAS").is_some() {
            std::fs::write(path, &generated).expect("write");
        }
        let documented = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            documented == generated,
            "docs/schemas/notices.json is not what the notice types generate: run LIENTHONG_WRITE_SCHEMAS=1 cargo test -p lienthong --lib the_documented_notice_schemas"
        );
    }
}
