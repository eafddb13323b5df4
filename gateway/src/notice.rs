//! Notices for the center: what comes back from outside (a dossier or status from another
//! center, a portal's push) is queued as one `notice` message per forwarding webhook, in the
//! same transaction that stores what came, so a center outage loses nothing.

use std::sync::Arc;

use lienthong_connectors::{MessageBody, MessageKind, Notice};
use serde_json::Value;

use crate::store::NewMessage;

/// One notice message per destination of `forward_to`, sharing one body (it can carry files).
///
/// Errors: the data cannot be serialized (not expected for JSON values).
pub fn for_center(
    forward_to: &[String],
    event: &str,
    dossier_code: &str,
    data: Value,
) -> Result<Vec<NewMessage>, serde_json::Error> {
    let body: Arc<str> = serde_json::to_string(&MessageBody::Notice(Notice {
        event: event.to_owned(),
        dossier_code: dossier_code.to_owned(),
        data,
    }))?
    .into();
    Ok(forward_to
        .iter()
        .map(|d| NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            destination: d.clone(),
            kind: MessageKind::Notice,
            body: body.clone(),
        })
        .collect())
}
