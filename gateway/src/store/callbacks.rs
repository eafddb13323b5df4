//! Storing a push from a national system: the push as received, its dedupe record with the
//! answer, and the notices for the center — in one transaction, so the pusher is answered only
//! once all of it is durable and a repeat gets the original answer.

use super::op::Op;
pub use super::writes::callbacks::{CallbackOutcome, CallbackReceipt, OnChange};
use super::{Store, StoreError};
use tokio::sync::oneshot;

impl Store {
    /// Stores a verified push from a national system with its notices, or answers the original
    /// answer for a repeat (same source and dedupe key).
    ///
    /// Errors: the store failed; nothing was stored.
    pub async fn receive_callback(
        &self,
        r: CallbackReceipt,
    ) -> Result<CallbackOutcome, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::Callback(Box::new(r), tx), rx).await
    }
}
