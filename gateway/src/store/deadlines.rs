//! Deadline statistics read from the store ([`crate::records::deadlines`]).

use super::{Store, StoreError};
use crate::records::deadlines::GroupCounts;

/// A dossier past its due date and not returned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OverdueDossier {
    /// Dossier code.
    pub code: String,
    /// Its status.
    pub status: String,
    /// Receiving agency.
    pub agency_code: Option<String>,
    /// Procedure.
    pub procedure_code: Option<String>,
    /// Field.
    pub field_code: Option<String>,
    /// When it was received (RFC 3339).
    pub received_at: Option<String>,
    /// When it was due (RFC 3339).
    pub due_at: String,
    /// Whole days past due.
    pub overdue_days: i64,
}

impl Store {
    /// Deadline counts per (agency, procedure, field) of the dossiers received in
    /// `[period.0, period.1)` (Unix ms), as of `as_of`, "due soon" meaning within `due_soon_ms`.
    ///
    /// Errors: the store failed.
    pub async fn deadline_counts(
        &self,
        period: (i64, i64),
        as_of: i64,
        due_soon_ms: i64,
    ) -> Result<Vec<GroupCounts>, StoreError> {
        on_backend!(self, deadline_counts(period, as_of, due_soon_ms))
    }

    /// Dossiers overdue as of `as_of`, the longest overdue first, at most `limit`.
    ///
    /// Errors: the store failed.
    pub async fn overdue(&self, as_of: i64, limit: i64) -> Result<Vec<OverdueDossier>, StoreError> {
        on_backend!(self, overdue(as_of, limit))
    }
}
