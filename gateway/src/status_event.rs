//! Status events that come from outside the center: a national system's decision (NBRS's
//! registration status, the investment system's result). They are recorded on the dossier like
//! the center's own events, and their progress messages go to the dossier's other destinations
//! that take status events (DVCQG, EMC) — never back to the system that decided.

use std::sync::Arc;

use lienthong_certs::sha256_hex;
use lienthong_connectors::{MessageBody, MessageKind};
use lienthong_mappings::{Dossier, DossierContext, ProgressInput, StatusEvent};
use serde_json::json;

use crate::destinations::Destinations;
use crate::store::{EventIntake, NewMessage, Store};

/// The event `event` on dossier `code`, decided by destination `decided_by`, ready for the store.
///
/// Errors: the dossier is not stored, or the store cannot be read.
pub async fn from_outside(
    store: &Store,
    destinations: &Destinations,
    code: &str,
    decided_by: &str,
    event: StatusEvent,
) -> Result<EventIntake, String> {
    let record = store
        .dossier(code)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("dossier {code} is not stored"))?;
    let context = serde_json::from_str::<Dossier>(&record.body)
        .ok()
        .map(|d| Box::new(DossierContext::of(&d)));
    let stored = serde_json::to_string(&event).map_err(|e| e.to_string())?;
    let (event_id, status) = (event.id.clone(), event.status);
    let facts = crate::deadlines::EventFacts::of(&event);
    let body = MessageBody::Progress(ProgressInput {
        dossier_code: code.to_owned(),
        event,
        response_for: record.origin.map(|(_, d)| d),
        dossier: context,
    });
    let body_json: Arc<str> = serde_json::to_string(&body)
        .map_err(|e| e.to_string())?
        .into();
    let messages: Vec<NewMessage> = record
        .destinations
        .iter()
        .filter(|d| *d != decided_by)
        .filter_map(|d| destinations.get(d))
        .filter(|d| d.connector().takes(MessageKind::Progress))
        .filter(|d| match d.connector().check(&body) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(destination = d.name, dossier = code, error = %e, "cannot report the status there");
                false
            }
        })
        .map(|d| NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            destination: d.name.clone(),
            kind: MessageKind::Progress,
            body: body_json.clone(),
        })
        .collect();
    Ok(EventIntake {
        dossier_code: code.to_owned(),
        sha256: sha256_hex(stored.as_bytes()),
        answer: json!({ "dossier_code": code, "event_id": event_id, "status": status.as_str() })
            .to_string(),
        event_id,
        status,
        body: stored,
        messages,
        facts,
    })
}
