//! Delivery administration: list deliveries, see attempts, replay dead ones, reload. Every
//! route here is in the admin area, which `http::guard` authorizes (`auth::admin::authorize`) before the
//! handler runs.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::problem::Problem;
use super::{AppState, store_unavailable};
use crate::store::{DeliveryFilter, DeliveryState, ReplayOutcome};

/// Query of `GET /v1/deliveries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    destination: Option<String>,
    dossier: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/deliveries?state=&destination=&dossier=&limit=`.
pub(super) async fn list(
    State(st): State<Arc<AppState>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = q.map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query",
            e.body_text(),
        )
    })?;
    let state = match q.state.as_deref().map(DeliveryState::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "Invalid query",
                format!(
                    "state: expected one of {}",
                    DeliveryState::list(&DeliveryState::ALL)
                ),
            ));
        }
    };
    let filter = DeliveryFilter {
        state,
        destination: q.destination,
        dossier_code: q.dossier,
        limit: q.limit.unwrap_or(100).clamp(1, 10_000),
    };
    let items = st
        .store
        .deliveries(&filter)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(axum::Json(json!({ "deliveries": items })).into_response())
}

/// `GET /v1/deliveries/{id}/attempts`.
pub(super) async fn attempts(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let items = st
        .store
        .attempts(&id)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(axum::Json(json!({ "id": id, "attempts": items })).into_response())
}

/// `POST /v1/deliveries/{id}/replay`.
pub(super) async fn replay(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    match st
        .store
        .replay(&id)
        .await
        .map_err(|e| store_unavailable(&e))?
    {
        ReplayOutcome::Replayed => {
            tracing::info!(message = id, "delivery replayed by an operator");
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({ "id": id, "state": DeliveryState::Pending })),
            )
                .into_response())
        }
        ReplayOutcome::NotFound => Err(Problem::not_found("no such delivery")),
        ReplayOutcome::NotReplayable(state) => Err(Problem::new(
            StatusCode::CONFLICT,
            "not-replayable",
            "Only dead or cancelled deliveries can be replayed",
            format!("the delivery is {state}"),
        )),
    }
}

/// `POST /v1/admin/reload`: re-read the configuration, certificates, keys, CRLs, trust stores,
/// mappings and credentials (as SIGHUP does; [`crate::reload`]).
/// 200 with the certificates now in force; 422 with the reasons when the new material is
/// refused (the old one keeps running).
pub(super) async fn reload(State(st): State<Arc<AppState>>) -> Response {
    let reloader = st.reloader.clone();
    let result = tokio::task::spawn_blocking(move || reloader.reload_and_report()).await;
    match result {
        Ok(Ok(reloaded)) => {
            let sec = &reloaded.security;
            let now = time::OffsetDateTime::now_utc();
            let certs: Vec<_> = sec
                .certificates
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "subject": c.info.subject,
                        "serial": c.info.serial,
                        "days_left": c.info.seconds_left(now) / 86_400,
                    })
                })
                .collect();
            (
                StatusCode::OK,
                axum::Json(json!({
                    "reloaded": true,
                    "certificates": certs,
                    "destinations": reloaded.rewired,
                    "needs_restart": reloaded.needs_restart,
                })),
            )
                .into_response()
        }
        Ok(Err(reason)) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload-refused",
            "Reload refused",
            reason.to_string(),
        )
        .into_response(),
        Err(e) => super::internal(e.to_string()).into_response(),
    }
}

/// `GET /v1/exchange/received/{dossier}`: the edXML messages received about a dossier, as
/// received and signed, with the signed answers sent back (evidence for disputes).
pub(super) async fn received(
    State(st): State<Arc<AppState>>,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    let items = st
        .store
        .received(&code)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(axum::Json(json!({ "received": items })).into_response())
}

/// `GET /v1/callbacks/received/{dossier}`: pushes from the national systems about a dossier.
pub(super) async fn callbacks_received(
    State(st): State<Arc<AppState>>,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    let items = st
        .store
        .callbacks_received(&code)
        .await
        .map_err(|e| store_unavailable(&e))?;
    Ok(axum::Json(json!({ "received": items })).into_response())
}
