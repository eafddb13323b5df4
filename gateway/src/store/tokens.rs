//! Bearer tokens generated at the first start ([`crate::auth::tokens`]), kept in the store so that every
//! instance sharing it accepts the same one.

use tokio::sync::oneshot;

use super::op::Op;
use super::{Store, StoreError};

impl Store {
    /// The generated token of `role` (`admin`, `center`): the one already kept, or `candidate`,
    /// kept now. Committed before it returns, so a token handed to an operator survives a crash.
    ///
    /// Errors: the store failed.
    pub async fn ensure_generated_token(
        &self,
        role: &str,
        candidate: &str,
    ) -> Result<String, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            Op::TokenEnsure(role.to_owned(), candidate.to_owned(), tx),
            rx,
        )
        .await
    }

    /// The generated token of `role`, `None` when no instance has generated one yet.
    ///
    /// Errors: the store failed.
    pub async fn generated_token(&self, role: &str) -> Result<Option<String>, StoreError> {
        on_backend!(self, generated_token(role))
    }
}
