//! Nonces of verified RFC 9421 request signatures, remembered in the store: a signed request is
//! accepted once, across restarts and across every instance sharing a PostgreSQL store.

use tokio::sync::oneshot;

use super::op::Op;
use super::{Store, StoreError};

impl Store {
    /// Records the nonce of a verified request signature until `until` (Unix seconds, the end
    /// of the signature's window); false when the same key already used it within its window
    /// (a replay), here or at any instance sharing the store.
    ///
    /// Errors: the store failed (the request cannot be checked: refuse it for now).
    pub async fn remember_nonce(
        &self,
        keyid: &str,
        nonce: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            Op::Nonce(
                keyid.to_owned(),
                nonce.to_owned(),
                until.saturating_mul(1000),
                tx,
            ),
            rx,
        )
        .await
    }
}
