//! Console sessions in the store, so that every instance sharing it knows them and a sign-out
//! ends a session everywhere. Only the SHA-256 of a session id is stored.

use tokio::sync::oneshot;

use super::op::Op;
use super::{Store, StoreError};

impl Store {
    /// Starts a session: `id_sha256` (hex SHA-256 of the random id the browser keeps) with
    /// `role` until `until_ms` (Unix ms).
    ///
    /// Errors: the store failed.
    pub async fn start_session(
        &self,
        id_sha256: &str,
        role: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(
            Op::SessionStart(id_sha256.to_owned(), role.to_owned(), until_ms, tx),
            rx,
        )
        .await
    }

    /// Ends a session.
    ///
    /// Errors: the store failed.
    pub async fn end_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::SessionEnd(id_sha256.to_owned(), tx), rx)
            .await
    }

    /// The role of a session that has not expired, `None` for an unknown or expired one.
    ///
    /// Errors: the store failed.
    pub async fn session_role(&self, id_sha256: &str) -> Result<Option<String>, StoreError> {
        on_backend!(self, session_role(id_sha256, super::now_ms()))
    }
}
