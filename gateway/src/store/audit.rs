//! The audit log in the store: linking records into the chain, time-stamps, and reading them
//! back for `audit verify`, evidence bundles and metrics ([`crate::operations::audit`]).

use tokio::sync::oneshot;

use super::op::Op;
use super::{Store, StoreError};
use crate::records::audit::AuditRecord;

/// An RFC 3161 time-stamp token over the hash of record `seq`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditStamp {
    /// The record stamped (the chain head when it was stamped).
    pub seq: i64,
    /// Its hash (lower-case hex), which the token's message imprint covers.
    pub hash: String,
    /// The authority's URL.
    pub tsa: String,
    /// The DER `TimeStampToken` (CMS SignedData).
    #[serde(with = "base64_bytes")]
    pub token: Vec<u8>,
    /// When it was stored (Unix ms; absent before).
    #[serde(default)]
    pub stamped_at: i64,
}

/// Where the chain stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditStatus {
    /// Records linked (the head's seq; 0 when none).
    pub length: i64,
    /// The head's hash.
    pub head_hash: Option<String>,
    /// When the head was written (Unix ms).
    pub head_at: Option<i64>,
    /// Records written but not linked yet.
    pub unlinked: i64,
    /// The last time-stamped record, and when it was written (Unix ms).
    pub stamped_seq: Option<i64>,
    /// When the record last stamped was written (Unix ms).
    pub stamped_record_at: Option<i64>,
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

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
