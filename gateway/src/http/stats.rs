//! Deadline statistics (hạn giải quyết) for the center's screens: `GET /v1/stats` and
//! `GET /v1/dossiers?overdue=true`. Part of the center's API (`http::guard`): the center's
//! credentials, or an administrator's (they are reads).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::problem::Problem;
use super::{AppState, store_unavailable};
use crate::records::deadlines::{Stats, ms};

/// Query of `GET /v1/stats`.
#[derive(Debug, Deserialize)]
pub(super) struct StatsQuery {
    /// Period start (RFC 3339, inclusive) over the dossiers' received time; default: the beginning.
    from: Option<String>,
    /// Period end (RFC 3339, exclusive); default: no end.
    to: Option<String>,
    /// The moment the states are computed at (RFC 3339); default: now.
    as_of: Option<String>,
    /// "Due soon" window (`2d`, `36h`); default: `[deadlines] due_soon`.
    due_soon: Option<String>,
}

fn bad(field: &str, detail: String) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "Invalid query parameter",
        format!("{field}: {detail}"),
    )
    .with("field", field)
}

fn instant(field: &str, v: Option<&str>, default: i64) -> Result<i64, Problem> {
    match v {
        None => Ok(default),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map(ms).map_err(|e| {
            bad(
                field,
                format!("expected an RFC 3339 time such as 2026-12-01T00:00:00+07:00 ({e})"),
            )
        }),
    }
}

/// The statistics of a period as of a moment.
///
/// Errors: a bad parameter (400) or the store (503).
pub async fn compute(
    st: &AppState,
    period: (i64, i64),
    as_of: i64,
    due_soon_ms: i64,
) -> Result<Stats, Problem> {
    let groups = st
        .store
        .deadline_counts(period, as_of, due_soon_ms)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(Stats::from_groups(&groups))
}

/// `GET /v1/stats`.
pub(super) async fn get_stats(
    State(st): State<Arc<AppState>>,
    Query(q): Query<StatsQuery>,
) -> Response {
    let run = async {
        let now = ms(OffsetDateTime::now_utc());
        let from = instant("from", q.from.as_deref(), i64::MIN)?;
        let to = instant("to", q.to.as_deref(), i64::MAX)?;
        let as_of = instant("as_of", q.as_of.as_deref(), now)?;
        let due_soon = match &q.due_soon {
            Some(s) => humantime::parse_duration(s).map_err(|e| bad("due_soon", e.to_string()))?,
            None => st.due_soon,
        };
        let due_soon_ms = i64::try_from(due_soon.as_millis()).unwrap_or(i64::MAX);
        let stats = compute(&st, (from, to), as_of, due_soon_ms).await?;
        Ok::<_, Problem>(axum::Json(json!({
            "period": {
                "from": q.from,
                "to": q.to,
            },
            "as_of": crate::store::ms_to_rfc3339(as_of),
            "due_soon": humantime::format_duration(due_soon).to_string(),
            "totals": stats.totals,
            "by_agency": stats.by_agency,
            "by_procedure": stats.by_procedure,
            "by_field": stats.by_field,
        })))
    };
    match run.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}

/// Query of `GET /v1/dossiers`.
#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    /// Must be `true`: the listing is of overdue dossiers.
    overdue: Option<bool>,
    /// The moment "overdue" is judged at (RFC 3339); default: now.
    as_of: Option<String>,
    /// At most this many (default 500).
    limit: Option<i64>,
}

/// `GET /v1/dossiers?overdue=true`: dossiers past due and not returned, longest overdue first.
pub(super) async fn list_dossiers(
    State(st): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Response {
    let run = async {
        if q.overdue != Some(true) {
            return Err(bad(
                "overdue",
                "only the overdue listing is offered: add overdue=true (a dossier is read with GET /v1/dossiers/{code})".into(),
            ));
        }
        let as_of = instant("as_of", q.as_of.as_deref(), ms(OffsetDateTime::now_utc()))?;
        let limit = q.limit.unwrap_or(500).clamp(1, 100_000);
        let list = st
            .store
            .overdue(as_of, limit)
            .await
            .map_err(|e| store_unavailable(&e))?;
        Ok(axum::Json(json!({
            "as_of": crate::store::ms_to_rfc3339(as_of),
            "count": list.len(),
            "dossiers": list,
        })))
    };
    match run.await {
        Ok(r) => r.into_response(),
        Err(p) => p.into_response(),
    }
}
