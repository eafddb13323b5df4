//! The center's intake, owned by the outbox: one call per request — a new dossier, a refreshed
//! one, a status event — does the whole domain part of it and answers a domain outcome that the
//! HTTP handler turns into a response:
//!
//! 1. the messages for each destination, rendered as proof they can be sent ([`Outbox`]);
//! 2. for a dossier, the destinations' own lookups (NBRS: the enterprise exists), skipped for an
//!    exact repeat of what is stored (answered from the store without calling anyone);
//! 3. the receipt the center gets (the dossier code and its messages), stored with the dossier
//!    so that a repeat is answered with the original receipt;
//! 4. the store's write, which decides accepted, repeat or conflict in its transaction and
//!    returns only after the commit.

use std::sync::Arc;

use lienthong_connectors::DossierOp;
use lienthong_connectors::files::FilePolicy;
use lienthong_mappings::{Dossier, StatusEvent};
use serde_json::{Value, json};

use super::{EventTarget, Outbox, OutboxError, Outgoing};
use crate::delivery::destinations::Destinations;
use crate::records::deadlines::{DossierFacts, EventFacts};
use crate::store::{EventIntake, IntakeOutcome, NewDossier, NewMessage, ReplaceDossier, Store};

/// The center's intake over a store and the configured destinations.
pub struct Intake<'a> {
    store: &'a Store,
    destinations: &'a Destinations,
    files: Arc<FilePolicy>,
}

/// A dossier's messages, receipt and facts, ready for the store.
struct Prepared {
    code: String,
    status: String,
    receipt: String,
    facts: DossierFacts,
    out: Outgoing,
}

impl<'a> Intake<'a> {
    /// Intake over `store` for `destinations`, with the files a dossier may name limited by
    /// `files` (`[attachments]`).
    pub fn new(store: &'a Store, destinations: &'a Destinations, files: Arc<FilePolicy>) -> Self {
        Self {
            store,
            destinations,
            files,
        }
    }

    /// A new dossier (`POST /v1/dossiers`), routed to `routed`.
    ///
    /// Errors: a file it names is not allowed, it does not render for one of its destinations, a destination's lookup refuses
    /// it, a routed destination is not configured, the store cannot be read or written.
    pub async fn new_dossier(
        &self,
        dossier: Dossier,
        routed: Vec<String>,
    ) -> Result<IntakeOutcome, OutboxError> {
        let p = self.prepare(dossier, DossierOp::Create, &routed).await?;
        let outcome = self
            .store
            .intake_dossier(NewDossier {
                code: p.code.clone(),
                body: p.out.stored,
                sha256: p.out.sha256,
                status: p.status,
                destinations: routed,
                answer: p.receipt,
                messages: p.out.messages,
                facts: p.facts,
            })
            .await?;
        tracing::info!(
            dossier = p.code,
            outcome = outcome.label(),
            "dossier intake"
        );
        Ok(outcome)
    }

    /// A stored dossier's new content (`PUT /v1/dossiers/{code}`), to the destinations it was
    /// routed to.
    ///
    /// Errors: as for [`Intake::new_dossier`], and no dossier `dossier.code` is stored.
    pub async fn refresh(&self, dossier: Dossier) -> Result<IntakeOutcome, OutboxError> {
        let routed = self.target(&dossier.code).await?.destinations;
        let p = self.prepare(dossier, DossierOp::Update, &routed).await?;
        Ok(self
            .store
            .replace_dossier(ReplaceDossier {
                code: p.code,
                body: p.out.stored,
                sha256: p.out.sha256,
                status: p.status,
                answer: p.receipt,
                messages: p.out.messages,
                facts: p.facts,
            })
            .await?)
    }

    /// A status event on stored dossier `code` (`POST /v1/dossiers/{code}/events`).
    ///
    /// Errors: no dossier `code` is stored, the event does not render for one of the dossier's
    /// destinations that take events, the store cannot be read or written.
    pub async fn event(
        &self,
        code: &str,
        event: StatusEvent,
    ) -> Result<IntakeOutcome, OutboxError> {
        let target = self.target(code).await?;
        let event_id = event.id.clone();
        let status = event.status;
        let facts = EventFacts::of(&event);
        let out = Outbox::new(self.destinations).event(target, event, None)?;
        let receipt = json!({
            "dossier_code": code, "event_id": event_id, "status": status.as_str(),
            "messages": message_list(&out.messages)
        })
        .to_string();
        let outcome = self
            .store
            .intake_event(EventIntake {
                dossier_code: code.to_owned(),
                event_id: event_id.clone(),
                status,
                body: out.stored,
                sha256: out.sha256,
                answer: receipt,
                messages: out.messages,
                facts,
            })
            .await?;
        tracing::info!(
            dossier = code,
            event = event_id,
            status = status.as_str(),
            "status event intake"
        );
        Ok(outcome)
    }

    /// The stored dossier `code` as a target.
    async fn target(&self, code: &str) -> Result<EventTarget, OutboxError> {
        EventTarget::load(self.store, self.destinations, code)
            .await?
            .ok_or_else(|| OutboxError::UnknownDossier(code.to_owned()))
    }

    /// The dossier's messages (rendered for every destination), then the destinations' own
    /// lookups unless the dossier is an exact repeat of the stored one.
    async fn prepare(
        &self,
        dossier: Dossier,
        op: DossierOp,
        routed: &[String],
    ) -> Result<Prepared, OutboxError> {
        self.check_file_urls(&dossier)?;
        let code = dossier.code.clone();
        let status = dossier.status.as_str().to_owned();
        let facts = DossierFacts::of(&dossier);
        let outbox = Outbox::new(self.destinations);
        let out = outbox.dossier(op, dossier, routed)?;
        if outbox.needs_lookup(&out) && !self.is_repeat(&code, &out.stored).await? {
            outbox.lookup(&out).await?;
        }
        let receipt = json!({ "code": code, "messages": message_list(&out.messages) }).to_string();
        Ok(Prepared {
            code,
            status,
            receipt,
            facts,
            out,
        })
    }

    /// Every file a dossier names must lie in the center's document store.
    fn check_file_urls(&self, dossier: &Dossier) -> Result<(), OutboxError> {
        for (i, d) in dossier.documents.iter().enumerate() {
            if let Err(reason) = self.files.check_url(&d.url) {
                return Err(OutboxError::FileNotAllowed {
                    field: format!("documents[{i}].url"),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Whether dossier `code` is stored exactly as `stored` (the store's own repeat check
    /// decides in the intake transaction; this read only spares a repeat the lookups).
    async fn is_repeat(&self, code: &str, stored: &str) -> Result<bool, OutboxError> {
        Ok(self
            .store
            .dossier(code)
            .await?
            .is_some_and(|r| r.body == stored))
    }
}

/// The messages as the receipt lists them.
fn message_list(ms: &[NewMessage]) -> Value {
    Value::Array(
        ms.iter()
            .map(|m| json!({ "id": m.id, "destination": m.destination, "kind": m.kind.as_str(), "state": "pending" }))
            .collect(),
    )
}
