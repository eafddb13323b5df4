//! Intake and tracking: `POST /v1/dossiers`, `PUT /v1/dossiers/{code}`,
//! `POST /v1/dossiers/{code}/events`, `GET /v1/dossiers/{code}`, `GET /v1/schema/dossier`,
//! `GET /v1/schema/notices`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lienthong_connectors::DossierOp;
use lienthong_mappings::{Dossier, RenderError, StatusEvent, ValidationErrors};
use serde_json::{Value, json};

use super::body::read_json;

use super::problem::Problem;
use super::{AppState, internal, store_unavailable};
use crate::outbox::{EventTarget, Outbox, OutboxError};
use crate::store::{EventIntake, IntakeOutcome, NewDossier, NewMessage, ReplaceDossier};

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
        OutboxError::UnknownDossier(_) => Problem::not_found("no such dossier"),
        OutboxError::Store(e) => store_unavailable(&e),
        e @ (OutboxError::Unconfigured(_) | OutboxError::Encode(_)) => internal(e.to_string()),
    }
}

fn message_list(ms: &[NewMessage]) -> Value {
    Value::Array(
        ms.iter()
            .map(|m| json!({ "id": m.id, "destination": m.destination, "kind": m.kind.as_str(), "state": "pending" }))
            .collect(),
    )
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

/// The stored dossier `code` as a status event's target (404 when it does not exist).
async fn existing(st: &AppState, code: &str) -> Result<EventTarget, Problem> {
    EventTarget::load(&st.store, &st.destinations, code)
        .await
        .map_err(|e| store_unavailable(&e))?
        .ok_or_else(|| Problem::not_found("no such dossier"))
}

/// Every file a dossier names must lie in the center's document store (`[attachments]
/// allowed_urls`): a dossier must not be able to make the gateway fetch any URL (SSRF).
fn check_file_urls(st: &AppState, dossier: &Dossier) -> Result<(), Problem> {
    let files = st.files.get();
    for (i, d) in dossier.documents.iter().enumerate() {
        if let Err(why) = files.check_url(&d.url) {
            let field = format!("documents[{i}].url");
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "file-url-not-allowed",
                "A file URL is not allowed",
                format!(
                    "{field}: {why} (the center's document store is configured by attachments.allowed_urls)"
                ),
            )
            .with("field", field)
            .with("config_key", "attachments.allowed_urls"));
        }
    }
    Ok(())
}

/// A dossier ready for the store: normalised body, its digest, and one message per destination.
struct Prepared {
    code: String,
    stored: String,
    sha256: String,
    status: String,
    answer: String,
    messages: Vec<NewMessage>,
    facts: crate::records::deadlines::DossierFacts,
}

/// Builds what the store needs through the outbox (which renders the dossier for every
/// destination), then runs the destinations' own lookups unless the dossier is an exact repeat
/// of the stored one (answered from the store without calling anyone).
async fn prepare(
    st: &AppState,
    dossier: Dossier,
    op: DossierOp,
    destinations: &[String],
) -> Result<Prepared, Problem> {
    check_file_urls(st, &dossier)?;
    let code = dossier.code.clone();
    let status = dossier.status.as_str().to_owned();
    let facts = crate::records::deadlines::DossierFacts::of(&dossier);
    let outbox = Outbox::new(&st.destinations);
    let out = outbox
        .dossier(op, dossier, destinations)
        .map_err(outbox_problem)?;
    if outbox.needs_lookup(&out) && !is_repeat(st, &code, &out.stored).await? {
        outbox.lookup(&out).await.map_err(outbox_problem)?;
    }
    let answer = json!({ "code": code, "messages": message_list(&out.messages) }).to_string();
    Ok(Prepared {
        code,
        stored: out.stored,
        sha256: out.sha256,
        status,
        answer,
        messages: out.messages,
        facts,
    })
}

/// Whether dossier `code` is stored exactly as `stored` (the store's own repeat check decides in
/// the intake transaction; this read only spares a repeat the destinations' lookups).
async fn is_repeat(st: &AppState, code: &str, stored: &str) -> Result<bool, Problem> {
    Ok(st
        .store
        .dossier(code)
        .await
        .map_err(|e| store_unavailable(&e))?
        .is_some_and(|r| r.body == stored))
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
    let p = prepare(&st, dossier, DossierOp::Create, &destinations).await?;
    let outcome = st
        .store
        .intake_dossier(NewDossier {
            code: p.code.clone(),
            body: p.stored,
            sha256: p.sha256,
            status: p.status,
            destinations,
            answer: p.answer,
            messages: p.messages,
            facts: p.facts,
        })
        .await
        .map_err(|e| store_unavailable(&e))?;
    tracing::info!(
        dossier = p.code,
        outcome = outcome.label(),
        "dossier intake"
    );
    settle("dossier", outcome, format!("/v1/dossiers/{}", p.code))
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
    let destinations = existing(&st, &code).await?.destinations;
    let p = prepare(&st, dossier, DossierOp::Update, &destinations).await?;
    let outcome = st
        .store
        .replace_dossier(ReplaceDossier {
            code: p.code,
            body: p.stored,
            sha256: p.sha256,
            status: p.status,
            answer: p.answer,
            messages: p.messages,
            facts: p.facts,
        })
        .await
        .map_err(|e| store_unavailable(&e))?;
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
    let target = existing(&st, &code).await?;
    let event_id = event.id.clone();
    let status = event.status;
    let facts = crate::records::deadlines::EventFacts::of(&event);
    let out = Outbox::new(&st.destinations)
        .event(target, event, None)
        .map_err(outbox_problem)?;
    let answer = json!({ "dossier_code": code, "event_id": event_id, "status": status.as_str(), "messages": message_list(&out.messages) }).to_string();
    let outcome = st
        .store
        .intake_event(EventIntake {
            dossier_code: code.clone(),
            event_id: event_id.clone(),
            status,
            body: out.stored,
            sha256: out.sha256,
            answer,
            messages: out.messages,
            facts,
        })
        .await
        .map_err(|e| store_unavailable(&e))?;
    tracing::info!(
        dossier = code,
        event = event_id,
        status = status.as_str(),
        "status event intake"
    );
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
