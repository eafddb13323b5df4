//! The ceiling of intake for `loadgen --compare`: a minimal HTTP server (axum, tokio's
//! multi-threaded runtime, like the gateway) that reads the body, parses it into the canonical
//! dossier exactly as the gateway's intake does (`Dossier::from_json`), and answers 202 — no
//! authentication, no store, no routing. What the gateway does beyond this is what it costs.
//!
//! `ceiling PORT` listens on 127.0.0.1:PORT until killed.

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::{get, post};

async fn intake(body: Bytes) -> StatusCode {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    match lienthong_mappings::Dossier::from_json(value) {
        Ok(_) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .context("usage: ceiling PORT")?
        .parse()
        .context("PORT")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app = Router::new()
        .route("/v1/dossiers", post(intake))
        .route("/readyz", get(|| async { "ready" }));
    axum::serve(listener, app).await?;
    Ok(())
}
