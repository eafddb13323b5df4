//! Intake and tracking: `POST /v1/dossiers`, `PUT /v1/dossiers/{code}`,
//! `POST /v1/dossiers/{code}/events`, `GET /v1/dossiers/{code}`, `GET /v1/schema/dossier`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lienthong_connectors::{DossierOp, IntakeCheck, MessageBody, MessageKind};
use lienthong_mappings::{
    Dossier, DossierContext, ProgressInput, RenderError, StatusEvent, ValidationErrors,
};
use serde_json::{Value, json};

use super::body::read_json;
use lienthong_certs::sha256_hex;

use super::problem::Problem;
use super::{AppState, internal, store_unavailable};
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

/// The destinations among `destinations` that take messages of `kind` (NBRS takes dossiers,
/// not status events).
fn taking(st: &AppState, destinations: &[String], kind: MessageKind) -> Vec<String> {
    destinations
        .iter()
        .filter(|n| {
            st.destinations
                .get(*n)
                .is_none_or(|d| d.connector().takes(kind))
        })
        .cloned()
        .collect()
}

/// Renders a message body for each destination; the first failure is the answer.
fn check_all(st: &AppState, destinations: &[String], body: &MessageBody) -> Result<(), Problem> {
    for name in destinations {
        let Some(d) = st.destinations.get(name) else {
            return Err(internal(format!(
                "destination `{name}` is routed to but not configured"
            )));
        };
        d.connector()
            .check(body)
            .map_err(|e| not_renderable(name, &e))?;
    }
    Ok(())
}

/// Each destination's own check at intake (NBRS: the enterprise an amendment names exists);
/// a refusal is a 422 naming the destination and the field, a check that could not be made is
/// logged and the dossier taken.
async fn verify_all(
    st: &AppState,
    destinations: &[String],
    body: &MessageBody,
) -> Result<(), Problem> {
    for name in destinations {
        let Some(d) = st.destinations.get(name) else {
            continue;
        };
        match d.connector().verify_at_intake(body).await {
            IntakeCheck::Passed => {}
            IntakeCheck::Refused { field, message } => {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "refused-by-destination",
                    "A destination refuses the dossier",
                    format!("{name}: {field}: {message}"),
                )
                .with("destination", name.as_str())
                .with("field", field));
            }
            IntakeCheck::Skipped(reason) => tracing::warn!(
                destination = name,
                dossier = body.dossier_code(),
                reason,
                "intake check skipped: the dossier is taken without it"
            ),
        }
    }
    Ok(())
}

fn messages(destinations: &[String], kind: MessageKind, body: &str) -> Vec<NewMessage> {
    destinations
        .iter()
        .map(|d| NewMessage {
            id: uuid::Uuid::now_v7().to_string(),
            destination: d.clone(),
            kind,
            body: body.into(),
        })
        .collect()
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
        crate::telemetry::intake(kind, outcome.label());
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

/// Where an existing dossier goes and what its messages need to know of it.
struct Existing {
    /// The configured destinations it was routed to.
    destinations: Vec<String>,
    /// For a dossier another center sent, the DocumentId it came in.
    response_for: Option<String>,
    /// The stored dossier's context for progress reports.
    context: Option<Box<DossierContext>>,
}

/// What the store knows of an existing dossier (404 when it does not exist).
async fn existing(st: &AppState, code: &str) -> Result<Existing, Problem> {
    let record = st
        .store
        .dossier(code)
        .await
        .map_err(|e| store_unavailable(&e))?
        .ok_or_else(|| Problem::not_found("no such dossier"))?;
    let destinations = record
        .destinations
        .into_iter()
        .filter(|d| st.destinations.contains_key(d))
        .collect();
    // Stored dossiers were validated at intake; one that no longer parses (an older model)
    // still gets its events, without the context.
    let context = serde_json::from_str::<Dossier>(&record.body)
        .ok()
        .map(|d| Box::new(DossierContext::of(&d)));
    Ok(Existing {
        destinations,
        response_for: record.origin.map(|(_, document)| document),
        context,
    })
}

/// Every file a dossier names must lie in the center's document store (`[attachments]
/// allowed_urls`): a dossier must not be able to make the gateway fetch any URL (SSRF).
fn check_file_urls(st: &AppState, dossier: &Dossier) -> Result<(), Problem> {
    for (i, d) in dossier.documents.iter().enumerate() {
        if let Err(why) = st.files.check_url(&d.url) {
            let field = format!("documents[{i}].url");
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "file-url-not-allowed",
                "A file URL is not allowed",
                format!("{field}: {why}"),
            )
            .with("field", field));
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
    facts: crate::deadlines::DossierFacts,
}

/// Checks that the dossier renders for every destination (and passes their own checks) and
/// builds what the store needs.
async fn prepare(
    st: &AppState,
    dossier: Dossier,
    op: DossierOp,
    destinations: &[String],
) -> Result<Prepared, Problem> {
    check_file_urls(st, &dossier)?;
    let stored = serde_json::to_string(&dossier).map_err(|e| internal(e.to_string()))?;
    let sha256 = sha256_hex(stored.as_bytes());
    let code = dossier.code.clone();
    let status = dossier.status.as_str().to_owned();
    let facts = crate::deadlines::DossierFacts::of(&dossier);
    let message = MessageBody::Dossier {
        op,
        dossier: Box::new(dossier),
    };
    check_all(st, destinations, &message)?;
    verify_all(st, destinations, &message).await?;
    let message_json = serde_json::to_string(&message).map_err(|e| internal(e.to_string()))?;
    let messages = messages(destinations, MessageKind::Dossier, &message_json);
    let answer = json!({ "code": code, "messages": message_list(&messages) }).to_string();
    Ok(Prepared {
        code,
        stored,
        sha256,
        status,
        answer,
        messages,
        facts,
    })
}

/// `POST /v1/dossiers`.
async fn post_dossier_inner(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let value = read_json(&headers, body, st.max_body).await?;
    let dossier = Dossier::from_json(value).map_err(|e| invalid(&e))?;
    let destinations = st.router.route(&dossier).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-destination",
            "Unknown destination",
            e.to_string(),
        )
        .with("field", e.path.as_str())
    })?;
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
    let Existing {
        destinations,
        response_for,
        context,
    } = existing(&st, &code).await?;
    let destinations = taking(&st, &destinations, MessageKind::Progress);
    let stored = serde_json::to_string(&event).map_err(|e| internal(e.to_string()))?;
    let sha256 = sha256_hex(stored.as_bytes());
    let event_id = event.id.clone();
    let status = event.status;
    let facts = crate::deadlines::EventFacts::of(&event);
    let message = MessageBody::Progress(ProgressInput {
        dossier: context,
        response_for,
        dossier_code: code.clone(),
        event,
    });
    check_all(&st, &destinations, &message)?;
    let message_json = serde_json::to_string(&message).map_err(|e| internal(e.to_string()))?;
    let msgs = messages(&destinations, MessageKind::Progress, &message_json);
    let answer = json!({ "dossier_code": code, "event_id": event_id, "status": status.as_str(), "messages": message_list(&msgs) }).to_string();
    let outcome = st
        .store
        .intake_event(EventIntake {
            dossier_code: code.clone(),
            event_id: event_id.clone(),
            status,
            body: stored,
            sha256,
            answer,
            messages: msgs,
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
        crate::telemetry::intake(kind, outcome);
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
