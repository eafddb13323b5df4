//! The audit log in the store: linking records into the chain, time-stamps, and reading them
//! back for `audit verify`, evidence bundles and metrics ([`crate::operations::audit`]).

use super::op::Op;
pub use super::writes::audit::{AuditStamp, AuditStatus};
use super::{Store, StoreError};
use crate::records::audit::AuditRecord;
use tokio::sync::oneshot;

impl Store {
    /// Links at most `limit` unlinked audit records into the chain; returns how many.
    ///
    /// Errors: the store failed.
    pub async fn link_audit(&self, limit: i64) -> Result<u64, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::LinkAudit(limit, tx), rx).await
    }

    /// Records a time-stamp of the chain (a second stamp of the same record is ignored).
    ///
    /// Errors: the store failed.
    pub async fn stamp_audit(&self, stamp: AuditStamp) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::StampAudit(Box::new(stamp), tx), rx).await
    }

    /// Linked records after `after_seq`, at most `limit`, in chain order.
    ///
    /// Errors: the store failed.
    pub async fn audit_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        on_backend!(self, audit_page(after_seq, limit))
    }

    /// The linked records of one dossier, in chain order.
    ///
    /// Errors: the store failed.
    pub async fn audit_of_dossier(&self, code: &str) -> Result<Vec<AuditRecord>, StoreError> {
        on_backend!(self, audit_of_dossier(code))
    }

    /// Length, head, unlinked backlog and last stamp of the chain.
    ///
    /// Errors: the store failed.
    pub async fn audit_status(&self) -> Result<AuditStatus, StoreError> {
        on_backend!(self, audit_status())
    }

    /// Time-stamps of records in `from..=to`, in seq order.
    ///
    /// Errors: the store failed.
    pub async fn audit_stamps(&self, from: i64, to: i64) -> Result<Vec<AuditStamp>, StoreError> {
        on_backend!(self, audit_stamps(from, to, i64::MAX))
    }

    /// The first time-stamp of a record at or after `seq`.
    ///
    /// Errors: the store failed.
    pub async fn audit_stamp_after(&self, seq: i64) -> Result<Option<AuditStamp>, StoreError> {
        let first: Result<Vec<AuditStamp>, StoreError> =
            on_backend!(self, audit_stamps(seq, i64::MAX, 1));
        Ok(first?.into_iter().next())
    }
}
