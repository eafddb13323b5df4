//! Storing what another center sent (liên thông): the received edXML as evidence, its effect on
//! the dossier, the notices for the center, and the answer — in one transaction, keyed by
//! `(sender, dedupe key)` so a resend gets the original answer and changes nothing.

use super::op::Op;
pub use super::writes::exchange::{ExchangeReceipt, ReceiptEffect, ReceiptOutcome};
use super::{Store, StoreError};
use tokio::sync::oneshot;

impl Store {
    /// Stores a message received from another center with its effect and notices (or
    /// recognises a resend).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn receive_exchange(&self, r: ExchangeReceipt) -> Result<ReceiptOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Receive(Box::new(r), tx), rx).await
    }
}
