//! Deadlines (hạn giải quyết): each dossier's `due_at` against when its result was returned
//! (trả kết quả), or against now while it is in progress — the "on time, overdue, in progress"
//! the center's screens show.
//!
//! A dossier is, as of a moment `as_of`:
//! - `on_time` — returned on or before its due date (đúng hạn);
//! - `late` — returned after it (trễ hạn);
//! - `overdue` — not returned and past due (quá hạn);
//! - `due_soon` — not returned, due within the `due_soon` window (sắp đến hạn);
//! - `in_progress` — not returned and not yet close to due (đang giải quyết, trong hạn);
//! - `closed` — rejected, withdrawn or stopped without a result (no deadline applies);
//! - `no_due_date` — the center gave no due date.
//!
//! The store counts these with one grouped query ([`crate::store::Store::deadline_counts`]);
//! this module holds the facts written at intake and the shape of the statistics.

use std::collections::BTreeMap;

use lienthong_mappings::{Dossier, DossierStatus, StatusEvent};
use serde::Serialize;

/// What a dossier's deadline statistics are computed from, written at intake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DossierFacts {
    /// Due date (Unix ms).
    pub due_at: Option<i64>,
    /// When the center received it (Unix ms); the statistics' period is over this.
    pub received_at: i64,
    /// Receiving agency's code.
    pub agency_code: String,
    /// Procedure code (mã thủ tục).
    pub procedure_code: String,
    /// Field code (mã lĩnh vực).
    pub field_code: Option<String>,
}

/// Unix ms of a date-time.
pub fn ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl DossierFacts {
    /// The facts of a canonical dossier.
    pub fn of(d: &Dossier) -> Self {
        Self {
            due_at: d.due_at.map(ms),
            received_at: ms(d.received_at),
            agency_code: d.agency.code.clone(),
            procedure_code: d.procedure.code.clone(),
            field_code: d.procedure.field_code.clone(),
        }
    }
}

/// What a status event changes in a dossier's deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventFacts {
    /// A new due date (an extension after a supplement request).
    pub due_at: Option<i64>,
    /// When the result was returned, for a `returned` event.
    pub returned_at: Option<i64>,
}

impl EventFacts {
    /// The facts of a status event.
    pub fn of(e: &StatusEvent) -> Self {
        Self {
            due_at: e.due_at.map(ms),
            returned_at: (e.status == DossierStatus::Returned).then(|| ms(e.at)),
        }
    }
}

/// Counts of dossiers in each deadline state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Returned on or before the due date.
    pub on_time: i64,
    /// Returned after the due date.
    pub late: i64,
    /// Not returned, past due.
    pub overdue: i64,
    /// Not returned, due within the window.
    pub due_soon: i64,
    /// Not returned, not yet close to due.
    pub in_progress: i64,
    /// Closed without a result.
    pub closed: i64,
    /// No due date given.
    pub no_due_date: i64,
    /// All of the above.
    pub total: i64,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counts) {
        self.on_time += other.on_time;
        self.late += other.late;
        self.overdue += other.overdue;
        self.due_soon += other.due_soon;
        self.in_progress += other.in_progress;
        self.closed += other.closed;
        self.no_due_date += other.no_due_date;
        self.total += other.total;
    }

    /// `(state, count)` pairs in display order.
    pub fn states(&self) -> [(&'static str, i64); 7] {
        [
            ("on_time", self.on_time),
            ("late", self.late),
            ("overdue", self.overdue),
            ("due_soon", self.due_soon),
            ("in_progress", self.in_progress),
            ("closed", self.closed),
            ("no_due_date", self.no_due_date),
        ]
    }
}

/// Counts of one (agency, procedure, field) group, as the store returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCounts {
    /// Agency code.
    pub agency: String,
    /// Procedure code.
    pub procedure: String,
    /// Field code (`""` when none).
    pub field: String,
    /// Its counts.
    pub counts: Counts,
}

/// One line of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The agency, procedure or field code.
    pub code: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The statistics of a period: totals and breakdowns per agency, procedure and field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// All dossiers of the period.
    pub totals: Counts,
    /// Per receiving agency.
    pub by_agency: Vec<Line>,
    /// Per procedure.
    pub by_procedure: Vec<Line>,
    /// Per field.
    pub by_field: Vec<Line>,
}

impl Stats {
    /// Folds the store's groups into totals and the three breakdowns (each sorted by code).
    pub fn from_groups(groups: &[GroupCounts]) -> Self {
        let mut totals = Counts::default();
        let mut agency: BTreeMap<&str, Counts> = BTreeMap::new();
        let mut procedure: BTreeMap<&str, Counts> = BTreeMap::new();
        let mut field: BTreeMap<&str, Counts> = BTreeMap::new();
        for g in groups {
            totals.add(&g.counts);
            agency.entry(&g.agency).or_default().add(&g.counts);
            procedure.entry(&g.procedure).or_default().add(&g.counts);
            field.entry(&g.field).or_default().add(&g.counts);
        }
        let lines = |m: BTreeMap<&str, Counts>| {
            m.into_iter()
                .map(|(code, counts)| Line {
                    code: code.to_owned(),
                    counts,
                })
                .collect()
        };
        Self {
            totals,
            by_agency: lines(agency),
            by_procedure: lines(procedure),
            by_field: lines(field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(agency: &str, procedure: &str, on_time: i64, overdue: i64) -> GroupCounts {
        GroupCounts {
            agency: agency.into(),
            procedure: procedure.into(),
            field: "F".into(),
            counts: Counts {
                on_time,
                overdue,
                total: on_time + overdue,
                ..Counts::default()
            },
        }
    }

    #[test]
    fn groups_fold_into_totals_and_breakdowns() {
        let s = Stats::from_groups(&[
            group("A", "P1", 2, 1),
            group("A", "P2", 1, 0),
            group("B", "P1", 0, 3),
        ]);
        assert_eq!(
            (s.totals.on_time, s.totals.overdue, s.totals.total),
            (3, 4, 7)
        );
        assert_eq!(s.by_agency.len(), 2);
        assert_eq!(
            (s.by_agency[0].code.as_str(), s.by_agency[0].counts.total),
            ("A", 4)
        );
        assert_eq!(
            (
                s.by_procedure[0].code.as_str(),
                s.by_procedure[0].counts.overdue
            ),
            ("P1", 4)
        );
        assert_eq!(s.by_field[0].counts.total, 7);
    }
}
