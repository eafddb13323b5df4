//! The HTTP API (the README's "HTTP API" is the contract; `ARCHITECTURE.md` shows the path of a
//! request): intake and tracking of dossiers and status events, delivery administration, health.
//! Every error is an RFC 9457 problem ([`problem`]); every 2xx to a write is sent only after the
//! store committed it.

mod admin;
pub mod body;
mod callbacks;
pub mod console;
pub mod exchange;
pub mod guard;
mod health;
mod intake;
pub mod limits;
pub mod listener;
pub mod problem;
pub mod stats;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use lienthong_certs::Secret;
use serde_json::Value;

use crate::delivery::destinations::Destinations;
use crate::outbox::routing;
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
    /// Admin bearer token: configured, or generated at the first start ([`crate::auth::tokens`]).
    pub admin_token: Option<Secret>,
    /// Where the dossiers' files may be (`[attachments]`), checked at intake.
    pub files: Arc<crate::reload::Current<lienthong_connectors::files::FilePolicy>>,
    /// The viewer token (`server.viewer_token_file`): the read-only statistics screens.
    pub viewer_token: Option<Secret>,
    /// The names a request's `Host` may carry (lowercase, without port); empty: any.
    pub public_names: Vec<String>,
    /// Console cookies carry `Secure` (TLS listener, or an https `server.public_url`).
    pub secure_cookies: bool,
    /// How long a console sign-in lasts.
    pub console_session: std::time::Duration,
    /// Failed console sign-ins per client address.
    pub sign_ins: crate::http::limits::SignInLimiter,
    /// The center's bearer token (`server.center_token_file`, or generated at the first start).
    pub center_token: Option<Secret>,
    /// `server.allow_unauthenticated` (a lab: APIs without a credential are open to everyone).
    pub allow_unauthenticated: bool,
    /// JSON Schema of the canonical dossier.
    pub dossier_schema: Value,
    /// Certificates, trust stores and per-route authentication rules (reloadable).
    pub security: Arc<crate::trust::security::SecurityHandle>,
    /// Receiving from other centers.
    pub exchange: Arc<crate::inbound::exchange::ExchangeSettings>,
    /// Receiving pushes from the national systems.
    pub callbacks: Arc<crate::reload::Current<crate::inbound::callbacks::CallbackSettings>>,
    /// Configuration reload (SIGHUP and `POST /v1/admin/reload`).
    pub reloader: Arc<crate::reload::Reloader>,
    /// `[deadlines] due_soon`.
    pub due_soon: std::time::Duration,
    /// The console's CSRF token (random per process), carried by its forms.
    pub console_csrf: Secret,
    /// Whether the audit chain head is time-stamped (`[audit.tsa]`), so its lag is a metric.
    pub tsa_configured: bool,
}

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/v1/dossiers",
            post(intake::post_dossier).get(stats::list_dossiers),
        )
        .route("/v1/stats", get(stats::get_stats))
        .route(
            "/v1/dossiers/{code}",
            get(intake::get_dossier).put(intake::put_dossier),
        )
        .route("/v1/dossiers/{code}/events", post(intake::post_event))
        .route("/v1/schema/dossier", get(intake::dossier_schema))
        .route("/v1/schema/notices", get(intake::notice_schemas))
        .route("/v1/callbacks/{source}", post(callbacks::post_callback))
        .route(
            "/v1/callbacks/received/{dossier}",
            get(admin::callbacks_received),
        )
        .route("/v1/exchange", post(exchange::post_exchange))
        .route("/v1/exchange/received/{dossier}", get(admin::received))
        .route("/v1/deliveries", get(admin::list))
        .route("/v1/deliveries/{id}/attempts", get(admin::attempts))
        .route("/v1/deliveries/{id}/replay", post(admin::replay))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::http::console::routes(state.clone()))
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// Whether requests to `path` hold their bodies under a memory budget of their own instead of
/// `server.max_body_memory`: edXML documents (`POST /v1/exchange`, `exchange.memory_budget`,
/// which counts their parsing and verification too, per sender certificate).
pub fn has_own_budget(path: &str) -> bool {
    path == "/v1/exchange"
}

/// 503 for a store failure: the cause is logged under an error id the problem carries.
fn store_unavailable(e: &crate::store::StoreError) -> Problem {
    Problem::unavailable(e)
}

/// 500 for a failure of ours: the cause is logged under an error id the problem carries.
fn internal(cause: impl std::fmt::Display) -> Problem {
    Problem::internal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        &cause,
    )
}
