//! The HTTP API (DESIGN.md "HTTP contract"): intake and tracking of dossiers and status events,
//! delivery administration, health. Every error is an RFC 9457 problem ([`problem`]); every 2xx
//! to a write is sent only after the store committed it.

mod admin;
pub use admin::STATES as ADMIN_STATES;
pub mod body;
mod health;
mod intake;
pub mod problem;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use lienthong_certs::Secret;
use serde_json::Value;

use crate::destinations::Destinations;
use crate::routing;
use crate::store::Store;
use problem::Problem;

/// What handlers share.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Destinations (their connectors check renderability at intake).
    pub destinations: Destinations,
    /// Routing table.
    pub router: routing::Router,
    /// Largest accepted body.
    pub max_body: u64,
    /// Admin bearer token; without it, the admin API answers loopback clients only.
    pub admin_token: Option<Secret>,
    /// JSON Schema of the canonical dossier.
    pub dossier_schema: Value,
}

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/dossiers", post(intake::post_dossier))
        .route(
            "/v1/dossiers/{code}",
            get(intake::get_dossier).put(intake::put_dossier),
        )
        .route("/v1/dossiers/{code}/events", post(intake::post_event))
        .route("/v1/schema/dossier", get(intake::dossier_schema))
        .route("/v1/deliveries", get(admin::list))
        .route("/v1/deliveries/{id}/attempts", get(admin::attempts))
        .route("/v1/deliveries/{id}/replay", post(admin::replay))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .with_state(state)
}

/// The service to serve, with the peer address available to handlers.
pub fn service(
    state: Arc<AppState>,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    router(state).into_make_service_with_connect_info::<SocketAddr>()
}

fn store_unavailable(e: &crate::store::StoreError) -> Problem {
    tracing::error!(error = %e, "store unavailable");
    Problem::unavailable(e.to_string())
}

fn internal(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        detail,
    )
}
