//! Liveness and readiness.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::problem::Problem;
use crate::breaker::CircuitState;

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: the store answers and the destinations are built (mappings compiled).
pub(super) async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    if let Err(e) = st.store.ping().await {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            format!("store: {e}"),
        )
        .into_response();
    }
    let circuits: Map<String, Value> = st
        .destinations
        .iter()
        .map(|(name, d)| {
            let s = match d.breaker.state() {
                CircuitState::Closed => "closed",
                CircuitState::Open => "open",
                CircuitState::HalfOpen => "half_open",
            };
            (name.clone(), Value::from(s))
        })
        .collect();
    axum::Json(json!({ "status": "ready", "store": "ok", "circuits": circuits })).into_response()
}
