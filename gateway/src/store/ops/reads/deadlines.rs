//! Reads of the deadline statistics: counts by group and state, and the overdue dossiers
//! (`crate::records::deadlines`).

use sqlx::Row;

use super::super::Pool;
use crate::store::{StoreError, ms_to_rfc3339};

/// A dossier's deadline state as of `$1`, due soon within `$2` ms (see `crate::records::deadlines`).
macro_rules! deadline_state {
    () => {
        "CASE
            WHEN due_at IS NULL THEN 'no_due_date'
            WHEN returned_at IS NOT NULL AND returned_at <= $1
                THEN CASE WHEN returned_at <= due_at THEN 'on_time' ELSE 'late' END
            WHEN status IN ('rejected', 'withdrawn', 'stopped') THEN 'closed'
            WHEN due_at < $1 THEN 'overdue'
            WHEN due_at <= $1 + $2 THEN 'due_soon'
            ELSE 'in_progress'
         END"
    };
}

pub(in crate::store) async fn deadline_counts(
    pool: &Pool,
    period: (i64, i64),
    as_of: i64,
    due_soon_ms: i64,
) -> Result<Vec<crate::records::deadlines::GroupCounts>, StoreError> {
    let rows = sqlx::query(concat!(
        "SELECT COALESCE(agency_code, ''), COALESCE(procedure_code, ''), COALESCE(field_code, ''), ",
        deadline_state!(),
        " AS state, COUNT(*) FROM dossiers
         WHERE COALESCE(received_at, created_at) >= $3 AND COALESCE(received_at, created_at) < $4
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3"
    ))
    .bind(as_of)
    .bind(due_soon_ms)
    .bind(period.0)
    .bind(period.1)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<crate::records::deadlines::GroupCounts> = Vec::new();
    for r in &rows {
        let (agency, procedure, field): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let state: String = r.try_get(3)?;
        let n: i64 = r.try_get(4)?;
        let group = match out.last_mut() {
            Some(g) if g.agency == agency && g.procedure == procedure && g.field == field => g,
            _ => {
                out.push(crate::records::deadlines::GroupCounts {
                    agency,
                    procedure,
                    field,
                    counts: crate::records::deadlines::Counts::default(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        let c = &mut group.counts;
        match state.as_str() {
            "on_time" => c.on_time += n,
            "late" => c.late += n,
            "overdue" => c.overdue += n,
            "due_soon" => c.due_soon += n,
            "in_progress" => c.in_progress += n,
            "closed" => c.closed += n,
            _ => c.no_due_date += n,
        }
        c.total += n;
    }
    Ok(out)
}

pub(in crate::store) async fn overdue(
    pool: &Pool,
    as_of: i64,
    limit: i64,
) -> Result<Vec<crate::store::OverdueDossier>, StoreError> {
    let rows = sqlx::query(
        "SELECT code, status, agency_code, procedure_code, field_code, received_at, due_at FROM dossiers
         WHERE due_at < $1 AND (returned_at IS NULL OR returned_at > $1)
           AND status NOT IN ('rejected', 'withdrawn', 'stopped')
         ORDER BY due_at, code LIMIT $2",
    )
    .bind(as_of)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let due: i64 = r.try_get(6)?;
            Ok(crate::store::OverdueDossier {
                code: r.try_get(0)?,
                status: r.try_get(1)?,
                agency_code: r.try_get(2)?,
                procedure_code: r.try_get(3)?,
                field_code: r.try_get(4)?,
                received_at: r.try_get::<Option<i64>, _>(5)?.map(ms_to_rfc3339),
                due_at: ms_to_rfc3339(due),
                overdue_days: (as_of - due).div_euclid(86_400_000),
            })
        })
        .collect()
}
