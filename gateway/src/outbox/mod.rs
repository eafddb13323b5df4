//! The outbox step: what turns "a dossier", "a status event" or "a notice" into the messages
//! the store queues for its destinations (one [`NewMessage`] per destination that takes it).
//!
//! Every way in goes through here — the center's `POST`/`PUT /v1/dossiers` and events, a
//! national system's decision (NBRS follow-up, the investment system's result), a notice for
//! the center — so a message is built one way, with one failure rule:
//!
//! - **Rendered at intake, for every destination.** A message that does not render for one of
//!   its destinations stops the whole intake with [`OutboxError::NotRenderable`], naming the
//!   destination and the field, and nothing is stored. The center's request is refused (422)
//!   so it is fixed at the counter; an outside decision is logged and not recorded as an event
//!   (its notice still reaches the center, where a person sees it). A status never goes to some
//!   destinations and silently not to others.
//! - **The intake render is the proof of renderability, and what is stored is the canonical
//!   body.** The wire form is rendered again when the message is sent, because it depends on
//!   what holds at send time: a mapping file fixed by a reload applies to a replayed dead letter,
//!   progress entries are batched, edXML is signed with the send time. Keeping the rendered form
//!   would freeze a wrong mapping into every queued message. The second render costs about
//!   22 µs for DVCQG (`cargo bench -p lienthong-mappings --bench render`: 9 µs to the mapping's
//!   input, 13 µs to render), about 5% of the gateway's CPU per delivery (~450 µs, two portal
//!   calls; BENCHMARKS.md).
//! - **Serialised once, stored once.** The canonical dossier is serialised once; the message
//!   body embeds that same text (no second serialisation) and is shared by every destination's
//!   message (`Arc<str>`). The store keeps it once, in `message_bodies` by its SHA-256, and each
//!   destination's message names it: a dossier for N destinations is stored twice (the dossier,
//!   the message body), not N + 1 times.
//! - **Lookups after the repeat check.** A destination's own check that needs the network
//!   (NBRS: does the enterprise an amendment names exist?) runs only for a dossier that is not
//!   an exact repeat of what is stored ([`Outbox::needs_lookup`], [`Outbox::lookup`]): a repeated
//!   `POST` is answered from the store without calling anyone.

pub mod intake;
pub mod notices;
pub mod routing;

use std::sync::Arc;

use lienthong_certs::sha256_hex;
use lienthong_connectors::{DossierOp, IntakeCheck, MessageBody, MessageKind, Notice};
use lienthong_mappings::{Dossier, DossierContext, ProgressInput, RenderError, StatusEvent};
use serde_json::Value;

use crate::delivery::destinations::Destinations;
use crate::store::{DossierRecord, EventIntake, NewMessage, Store, StoreError};

/// Why the outbox could not build the messages; nothing is stored.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The routing names a destination the configuration does not have (a configuration
    /// mistake that check-config normally catches).
    #[error("destination `{0}` is routed to but not configured")]
    Unconfigured(String),
    /// The message does not render for a destination.
    #[error("{destination}: {error}")]
    NotRenderable {
        /// The destination's name.
        destination: String,
        /// What the mapping refused, with the field.
        error: RenderError,
    },
    /// A destination's own check refused the dossier (NBRS: no such enterprise).
    #[error("{destination}: {field}: {message}")]
    Refused {
        /// The destination's name.
        destination: String,
        /// The canonical field it refused.
        field: String,
        /// Why.
        message: String,
    },
    /// The canonical form cannot be serialised (not expected for validated input).
    #[error("cannot serialise the message: {0}")]
    Encode(#[from] serde_json::Error),
    /// A file the dossier names lies outside the center's document store
    /// (`attachments.allowed_urls`): the gateway must not be made to fetch any URL (SSRF).
    #[error("{field}: {reason}")]
    FileNotAllowed {
        /// The dossier's field, e.g. `documents[0].url`.
        field: String,
        /// Why the URL is not allowed.
        reason: lienthong_connectors::files::UrlRefused,
    },
    /// A decision names a dossier this center has not stored.
    #[error("dossier {0} is not stored")]
    UnknownDossier(String),
    /// The store cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The messages of one dossier or event, ready for the store.
#[derive(Debug)]
pub struct Outgoing {
    /// The canonical content as stored on the dossier or event (JSON).
    pub stored: String,
    /// SHA-256 of [`Self::stored`] (hex): what repeats are recognised by.
    pub sha256: String,
    /// One message per destination, sharing one body.
    pub messages: Vec<NewMessage>,
    /// The message body, for the destinations' own checks ([`Outbox::lookup`]).
    body: MessageBody,
}

/// What a status event is reported against: the stored dossier's destinations and context.
#[derive(Debug)]
pub struct EventTarget {
    /// The dossier code.
    pub code: String,
    /// The configured destinations the dossier was routed to.
    pub destinations: Vec<String>,
    /// For a dossier another center sent, the DocumentId it came in (an answer refers to it).
    pub response_for: Option<String>,
    /// The stored dossier's context for progress reports; `None` for a dossier stored under an
    /// older model that no longer parses (it still gets its events, without the context).
    pub context: Option<Box<DossierContext>>,
}

impl EventTarget {
    /// The target for dossier `code` as stored; `None` when no such dossier is stored.
    ///
    /// Destinations no longer configured are left out.
    ///
    /// Errors: the store cannot be read.
    pub async fn load(
        store: &Store,
        destinations: &Destinations,
        code: &str,
    ) -> Result<Option<Self>, StoreError> {
        Ok(store
            .dossier(code)
            .await?
            .map(|record| Self::of(destinations, code, record)))
    }

    fn of(destinations: &Destinations, code: &str, record: DossierRecord) -> Self {
        let context = serde_json::from_str::<Dossier>(&record.body)
            .ok()
            .map(|d| Box::new(DossierContext::of(&d)));
        Self {
            code: code.to_owned(),
            destinations: record
                .destinations
                .into_iter()
                .filter(|d| destinations.contains_key(d))
                .collect(),
            response_for: record.origin.map(|(_, document)| document),
            context,
        }
    }
}

/// Builds messages for the configured destinations.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    destinations: &'a Destinations,
}

/// The stored text of [`MessageBody::Dossier`] around the dossier's canonical text, without
/// serialising the dossier again (a unit test holds it equal to serde's own).
fn dossier_message(op: DossierOp, stored: &str) -> String {
    let op = match op {
        DossierOp::Create => "create",
        DossierOp::Update => "update",
    };
    let mut text = String::with_capacity(stored.len() + 48);
    text.push_str(r#"{"type":"dossier","op":""#);
    text.push_str(op);
    text.push_str(r#"","dossier":"#);
    text.push_str(stored);
    text.push('}');
    text
}

impl<'a> Outbox<'a> {
    /// An outbox over `destinations`.
    pub fn new(destinations: &'a Destinations) -> Self {
        Self { destinations }
    }

    /// The messages that create (`op` = create) or refresh a dossier on each of `routed`.
    ///
    /// Errors: a routed destination is not configured, the dossier does not render for one of
    /// them.
    pub fn dossier(
        &self,
        op: DossierOp,
        dossier: Dossier,
        routed: &[String],
    ) -> Result<Outgoing, OutboxError> {
        let stored = serde_json::to_string(&dossier)?;
        let body = MessageBody::Dossier {
            op,
            dossier: Box::new(dossier),
        };
        self.render_all(routed, &body)?;
        let json = dossier_message(op, &stored);
        Ok(Outgoing {
            sha256: sha256_hex(stored.as_bytes()),
            messages: messages(routed, MessageKind::Dossier, json.into()),
            stored,
            body,
        })
    }

    /// The progress messages of status event `event` on `target`'s dossier, for its
    /// destinations that take status events, except `decided_by` (the system whose decision the
    /// event is, which is never told its own decision).
    ///
    /// Errors: the event does not render for one of those destinations.
    pub fn event(
        &self,
        target: EventTarget,
        event: StatusEvent,
        decided_by: Option<&str>,
    ) -> Result<Outgoing, OutboxError> {
        let stored = serde_json::to_string(&event)?;
        let to: Vec<String> = target
            .destinations
            .into_iter()
            .filter(|d| Some(d.as_str()) != decided_by)
            .filter(|d| {
                self.destinations
                    .get(d)
                    .is_some_and(|d| d.connector().takes(MessageKind::Progress))
            })
            .collect();
        let body = MessageBody::Progress(ProgressInput {
            dossier: target.context,
            response_for: target.response_for,
            dossier_code: target.code,
            event,
        });
        self.render_all(&to, &body)?;
        let json: Arc<str> = serde_json::to_string(&body)?.into();
        Ok(Outgoing {
            sha256: sha256_hex(stored.as_bytes()),
            messages: messages(&to, MessageKind::Progress, json),
            stored,
            body,
        })
    }

    /// One notice message per webhook of `forward_to`, sharing one body (it can carry files).
    ///
    /// Errors: the data cannot be serialised (not expected for JSON values).
    pub fn notice(
        forward_to: &[String],
        event: &str,
        dossier_code: &str,
        data: Value,
    ) -> Result<Vec<NewMessage>, OutboxError> {
        let body: Arc<str> = serde_json::to_string(&MessageBody::Notice(Notice {
            event: event.to_owned(),
            dossier_code: dossier_code.to_owned(),
            data,
        }))?
        .into();
        Ok(messages(forward_to, MessageKind::Notice, body))
    }

    /// Whether a destination of `outgoing` checks the dossier with a call of its own
    /// ([`Self::lookup`]); when none does, the caller need not ask the store about repeats.
    pub fn needs_lookup(&self, outgoing: &Outgoing) -> bool {
        outgoing.messages.iter().any(|m| {
            self.destinations
                .get(&m.destination)
                .is_some_and(|d| d.connector().checks_at_intake())
        })
    }

    /// Each destination's own check of the dossier (NBRS: the enterprise an amendment names
    /// exists). Call it only for a dossier that is not an exact repeat of the stored one. A
    /// check that could not be made is logged and the dossier taken.
    ///
    /// Errors: a destination refuses ([`OutboxError::Refused`]).
    pub async fn lookup(&self, outgoing: &Outgoing) -> Result<(), OutboxError> {
        for m in &outgoing.messages {
            let Some(d) = self.destinations.get(&m.destination) else {
                continue;
            };
            match d.connector().verify_at_intake(&outgoing.body).await {
                IntakeCheck::Passed => {}
                IntakeCheck::Refused { field, message } => {
                    return Err(OutboxError::Refused {
                        destination: m.destination.clone(),
                        field,
                        message,
                    });
                }
                IntakeCheck::Skipped(reason) => tracing::warn!(
                    destination = m.destination,
                    dossier = outgoing.body.dossier_code(),
                    reason,
                    "intake check skipped: the dossier is taken without it"
                ),
            }
        }
        Ok(())
    }

    /// Renders `body` for each of `to`; the first failure is the answer.
    fn render_all(&self, to: &[String], body: &MessageBody) -> Result<(), OutboxError> {
        for name in to {
            let d = self
                .destinations
                .get(name)
                .ok_or_else(|| OutboxError::Unconfigured(name.clone()))?;
            d.connector()
                .check(body)
                .map_err(|error| OutboxError::NotRenderable {
                    destination: name.clone(),
                    error,
                })?;
        }
        Ok(())
    }
}

/// A national system's decision on dossier `code` (NBRS's registration status, the investment
/// system's result) as a status event ready for the store, with its progress messages for the
/// dossier's other destinations that take status events — never back to `decided_by`.
///
/// Errors: the dossier is not stored, the store cannot be read, the event does not render for
/// one of those destinations (the one failure rule: nothing is recorded).
pub async fn decision(
    store: &Store,
    destinations: &Destinations,
    code: &str,
    decided_by: &str,
    event: StatusEvent,
) -> Result<EventIntake, OutboxError> {
    let target = EventTarget::load(store, destinations, code)
        .await?
        .ok_or_else(|| OutboxError::UnknownDossier(code.to_owned()))?;
    let (event_id, status) = (event.id.clone(), event.status);
    let facts = crate::records::deadlines::EventFacts::of(&event);
    let out = Outbox::new(destinations).event(target, event, Some(decided_by))?;
    Ok(EventIntake {
        dossier_code: code.to_owned(),
        answer: serde_json::json!({
            "dossier_code": code, "event_id": event_id, "status": status.as_str()
        })
        .to_string(),
        event_id,
        status,
        body: out.stored,
        sha256: out.sha256,
        messages: out.messages,
        facts,
    })
}

/// One message per destination, sharing `body`.
fn messages(to: &[String], kind: MessageKind, body: Arc<str>) -> Vec<NewMessage> {
    to.iter()
        .map(|d| NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            destination: d.clone(),
            kind,
            body: body.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Dossier {
        let text = include_str!("../../../examples/dossier-business-registration.json");
        Dossier::from_json(serde_json::from_str(text).expect("json")).expect("valid example")
    }

    #[test]
    fn a_dossier_message_embeds_the_stored_text_and_reads_back_as_the_message_body() {
        let none = Destinations::new();
        for op in [DossierOp::Create, DossierOp::Update] {
            let out = Outbox::new(&none)
                .dossier(op, example(), &[])
                .expect("no destination to render for");
            assert!(out.messages.is_empty());
            let stored: Dossier = serde_json::from_str(&out.stored).expect("stored dossier");
            assert_eq!(stored, example());
            assert_eq!(out.sha256, sha256_hex(out.stored.as_bytes()));
            // The text a message carries is serde's own, and the dispatcher parses it back.
            let json = dossier_message(op, &out.stored);
            let back: MessageBody = serde_json::from_str(&json).expect("a message body");
            assert_eq!(back, out.body);
            assert_eq!(json, serde_json::to_string(&out.body).expect("json"));
        }
    }

    #[test]
    fn a_destination_that_is_not_configured_stops_the_intake() {
        let none = Destinations::new();
        let err = Outbox::new(&none)
            .dossier(DossierOp::Create, example(), &["dvcqg".to_owned()])
            .expect_err("dvcqg is not configured");
        assert!(matches!(err, OutboxError::Unconfigured(ref d) if d == "dvcqg"));
    }

    #[test]
    fn notices_share_one_body() {
        let to = ["center".to_owned(), "archive".to_owned()];
        let ms = Outbox::notice(&to, "nbrs.status", "H37.01", serde_json::json!({"a": 1}))
            .expect("notices");
        assert_eq!(ms.len(), 2);
        assert!(Arc::ptr_eq(&ms[0].body, &ms[1].body));
        assert_ne!(ms[0].id, ms[1].id);
        let back: MessageBody = serde_json::from_str(&ms[0].body).expect("a message body");
        assert_eq!(back.kind(), MessageKind::Notice);
        assert_eq!(back.dossier_code(), "H37.01");
    }
}
