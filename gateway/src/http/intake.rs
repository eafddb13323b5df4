//! Intake and tracking: `POST /v1/dossiers`, `PUT /v1/dossiers/{code}`,
//! `POST /v1/dossiers/{code}/events`, `GET /v1/dossiers/{code}`, `GET /v1/schema/dossier`,
//! `GET /v1/schema/notices`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lienthong_mappings::{Dossier, RenderError, StatusEvent, ValidationErrors};

use super::body::read_json;

use super::problem::Problem;
use super::{AppState, internal, store_unavailable};
use crate::outbox::OutboxError;
use crate::outbox::intake::Intake;
use crate::store::IntakeOutcome;

fn invalid(e: &ValidationErrors) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-dossier",
        "The request has invalid fields",
        e.to_string(),
    )
    .with(
        "errors",
        serde_json::to_value(e.errors()).unwrap_or_default(),
    )
}

fn not_renderable(destination: &str, e: &RenderError) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not-renderable",
        "The dossier cannot be sent to one of its destinations",
        format!("{destination}: {e}"),
    )
    .with("destination", destination)
    .with("field", e.field())
    .with("target", e.target.as_str())
}

fn json_answer(status: StatusCode, body: String, location: Option<String>) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

/// The outbox's refusal as the center's answer: 422 naming the destination and the field,
/// except for a routing that names no configured destination (the gateway's own fault: 500).
fn outbox_problem(e: OutboxError) -> Problem {
    match e {
        OutboxError::NotRenderable { destination, error } => not_renderable(&destination, &error),
        OutboxError::Refused {
            destination,
            field,
            message,
        } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused-by-destination",
            "A destination refuses the dossier",
            format!("{destination}: {field}: {message}"),
        )
        .with("destination", destination)
        .with("field", field),
        OutboxError::FileNotAllowed { field, reason } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "file-url-not-allowed",
            "A file URL is not allowed",
            format!(
                "{field}: {reason} (the center's document store is configured by attachments.allowed_urls)"
            ),
        )
        .with("field", field)
        .with("config_key", "attachments.allowed_urls"),
        OutboxError::UnknownDossier(_) => Problem::not_found("no such dossier"),
        OutboxError::Store(e) => store_unavailable(&e),
        e @ (OutboxError::Unconfigured(_) | OutboxError::Encode(_)) => internal(e.to_string()),
    }
}

fn settle(
    kind: &'static str,
    outcome: IntakeOutcome,
    location: String,
) -> Result<Response, Problem> {
    if matches!(
        outcome,
        IntakeOutcome::Accepted(_) | IntakeOutcome::Repeat(_)
    ) {
        // Refusals are counted once, by `refused`.
        crate::monitoring::telemetry::intake(kind, outcome.label());
    }
    match outcome {
        IntakeOutcome::Accepted(a) => Ok(json_answer(StatusCode::ACCEPTED, a, Some(location))),
        IntakeOutcome::Repeat(a) => Ok(json_answer(StatusCode::OK, a, Some(location))),
        IntakeOutcome::Conflict(d) => Err(Problem::new(
            StatusCode::CONFLICT,
            "conflict",
            "Conflicts with what is stored",
            d,
        )),
        IntakeOutcome::NotFound => Err(Problem::not_found("no such dossier")),
        IntakeOutcome::InvalidTransition { from, to } => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-transition",
            "The status cannot follow the dossier's current status",
            format!("status: cannot go from {from} to {to}"),
        )
        .with("field", "status")),
    }
}

/// The outbox's intake over this gateway's store, destinations and file policy.
fn intake(st: &AppState) -> Intake<'_> {
    Intake::new(&st.store, &st.destinations, st.files.get())
}

/// `POST /v1/dossiers`.
async fn post_dossier_inner(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let value = read_json(&headers, body, st.max_body).await?;
    let dossier = Dossier::from_json(value).map_err(|e| invalid(&e))?;
    let destinations = st
        .router
        .route(&dossier)
        .map_err(|e| unknown_destination(&e))?;
    let code = dossier.code.clone();
    let outcome = intake(&st)
        .new_dossier(dossier, destinations)
        .await
        .map_err(outbox_problem)?;
    settle("dossier", outcome, format!("/v1/dossiers/{code}"))
}

/// `PUT /v1/dossiers/{code}`.
async fn put_dossier_inner(
    State(st): State<Arc<AppState>>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let value = read_json(&headers, body, st.max_body).await?;
    let dossier = Dossier::from_json(value).map_err(|e| invalid(&e))?;
    if dossier.code != code {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-dossier",
            "The request has invalid fields",
            "code: must match the URL",
        )
        .with("field", "code"));
    }
    let outcome = intake(&st).refresh(dossier).await.map_err(outbox_problem)?;
    settle("refresh", outcome, format!("/v1/dossiers/{code}"))
}

/// `POST /v1/dossiers/{code}/events`.
async fn post_event_inner(
    State(st): State<Arc<AppState>>,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let value = read_json(&headers, body, st.max_body).await?;
    let event = StatusEvent::from_json(value).map_err(|e| invalid(&e))?;
    let outcome = intake(&st)
        .event(&code, event)
        .await
        .map_err(outbox_problem)?;
    settle("event", outcome, format!("/v1/dossiers/{code}"))
}

/// `GET /v1/dossiers/{code}`.
pub(super) async fn get_dossier(
    State(st): State<Arc<AppState>>,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    match st
        .store
        .dossier_view(&code)
        .await
        .map_err(|e| store_unavailable(&e))?
    {
        Some(v) => Ok(axum::Json(v).into_response()),
        None => Err(Problem::not_found("no such dossier")),
    }
}

/// `GET /v1/schema/dossier`.
pub(super) async fn dossier_schema(State(st): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/schema+json")],
        axum::Json(st.dossier_schema.clone()),
    )
        .into_response()
}

/// `GET /v1/schema/notices`: the JSON Schemas of what the center's webhook receives (the
/// envelope, and the `data` of each event).
pub(super) async fn notice_schemas() -> Response {
    (
        [(header::CONTENT_TYPE, "application/schema+json")],
        axum::Json(crate::outbox::notices::schemas()),
    )
        .into_response()
}

/// A dossier's `routing` names a destination this gateway does not have: the field, and the
/// configuration key that would define it.
fn unknown_destination(e: &crate::outbox::routing::UnknownDestination) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-destination",
        "Unknown destination",
        format!(
            "{e}: this gateway has no [destinations.{}] (routing.destinations names configured destinations; without it the [[routes]] rules choose)",
            e.name
        ),
    )
    .with("field", e.path.as_str())
    .with("config_key", format!("destinations.{}", e.name))
}

/// Counts a refused request (any problem answer) under its kind and status.
fn refused(kind: &'static str, r: Result<Response, Problem>) -> Result<Response, Problem> {
    if let Err(p) = &r {
        let outcome = match p.status().as_u16() {
            400 => "refused_400",
            404 => "refused_404",
            409 => "refused_409",
            413 => "refused_413",
            415 => "refused_415",
            422 => "refused_422",
            503 => "refused_503",
            _ => "refused_other",
        };
        crate::monitoring::telemetry::intake(kind, outcome);
    }
    r
}

/// `POST /v1/dossiers`.
pub(super) async fn post_dossier(
    st: State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    refused("dossier", post_dossier_inner(st, headers, body).await)
}

/// `PUT /v1/dossiers/{code}`.
pub(super) async fn put_dossier(
    st: State<Arc<AppState>>,
    code: Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    refused("refresh", put_dossier_inner(st, code, headers, body).await)
}

/// `POST /v1/dossiers/{code}/events`.
pub(super) async fn post_event(
    st: State<Arc<AppState>>,
    code: Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    refused("event", post_event_inner(st, code, headers, body).await)
}
