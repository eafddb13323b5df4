//! What the center hands in: new dossiers, new data for a dossier, status events — each with the
//! messages (the outbox) it queues for its destinations, stored in one transaction.

use super::op::Op;
pub use super::writes::intake::{
    EventIntake, IntakeOutcome, NewDossier, NewMessage, ReplaceDossier,
};
use super::{Store, StoreError};
use tokio::sync::oneshot;

impl Store {
    /// Stores a new dossier and its messages (or recognises a repeat).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn intake_dossier(&self, d: NewDossier) -> Result<IntakeOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::NewDossier(d, tx), rx).await
    }

    /// Replaces a dossier's data and queues a refresh to its destinations.
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn replace_dossier(&self, d: ReplaceDossier) -> Result<IntakeOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::ReplaceDossier(d, tx), rx).await
    }

    /// Stores a status event and its progress messages (or recognises a repeat).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn intake_event(&self, e: EventIntake) -> Result<IntakeOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Event(e, tx), rx).await
    }
}
