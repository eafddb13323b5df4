//! Liveness and readiness.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::problem::Problem;
use crate::auth::Caller;
use crate::delivery::breaker::CircuitState;
use crate::monitoring::telemetry;
use crate::store::DeliveryState;
use crate::store::now_ms;

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: the store answers and the destinations are built (mappings compiled).
///
/// Load balancers and orchestrators get the status only; the detail (destination names and
/// circuits, certificate subjects, stale CRLs, reload errors) is for administrators
/// ([`Caller::is_admin`]), since it maps the gateway's peers for whoever asks.
pub(super) async fn readyz(
    State(st): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
) -> Response {
    let admin = caller.is_some_and(|c| c.is_admin());
    if let Err(e) = st.store.ping().await {
        tracing::warn!(error = %e, "readiness: the store does not answer");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            if admin {
                format!("store: {e}")
            } else {
                "the store does not answer".to_owned()
            },
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
    // Certificates: an expired listener certificate makes the gateway not ready (clients
    // refuse it anyway); others are reported with their days left.
    let security = st.security.current();
    let now = time::OffsetDateTime::now_utc();
    let expiring: Vec<Value> = security
        .expiring(now)
        .into_iter()
        .map(|(c, left)| json!({ "name": c.name, "subject": c.info.subject, "days_left": left.div_euclid(86_400) }))
        .collect();
    if security
        .certificates
        .iter()
        .any(|c| c.name == "server.tls" && c.info.seconds_left(now) <= 0)
    {
        let p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the listener's TLS certificate has expired",
        );
        return if admin {
            p.with("certificates_expiring", expiring)
        } else {
            p
        }
        .into_response();
    }
    // A stale CRL does not stop the center's intake, but every certificate it covers is
    // refused (peers' exchange, client certificates): reported here for the operator.
    let stale_crls: Vec<Value> = security
        .stale_crls(now)
        .into_iter()
        .map(|(store, c)| {
            json!({
                "store": store,
                "issuer": c.issuer,
                "next_update": c.next_update.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            })
        })
        .collect();
    // A signing key on a token that is away does not stop intake (messages wait for it), but
    // nothing it signs goes out: "degraded", still 200, named for administrators.
    let keys = token_keys(&security).await;
    let status = if keys.iter().all(|k| k.available) {
        "ready"
    } else {
        "degraded"
    };
    if !admin {
        return axum::Json(json!({ "status": status })).into_response();
    }
    axum::Json(json!({
        "status": status,
        "store": "ok",
        "signing_keys": keys,
        "circuits": circuits,
        "certificates": security.certificates.len(),
        "certificates_expiring": expiring,
        "crls_stale": stale_crls,
        "last_reload": st.reloader.last(),
    }))
    .into_response()
}

/// The state of every key on a token, asked off the runtime (a PKCS#11 round trip each).
async fn token_keys(
    security: &Arc<crate::trust::security::Security>,
) -> Vec<crate::trust::security::TokenKeyStatus> {
    if security.token_keys.is_empty() {
        return Vec::new();
    }
    let security = Arc::clone(security);
    tokio::task::spawn_blocking(move || security.check_token_keys())
        .await
        .unwrap_or_default()
}

/// `GET /metrics`: Prometheus text format. Queue depths and the oldest undelivered age are read
/// from the store now; everything else was counted as it happened.
pub(super) async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    // Guarded like the admin API (http::guard, area Admin).
    let handle = telemetry::handle();
    match st.store.delivery_counts().await {
        Ok(counts) => {
            for name in st.destinations.keys() {
                for state in DeliveryState::ALL {
                    let n = counts
                        .iter()
                        .find(|c| &c.destination == name && c.state == state)
                        .map_or(0, |c| c.count);
                    telemetry::deliveries(name, state.as_str(), n);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read queue depths"),
    }
    if let Ok(oldest) = st.store.oldest_undelivered().await {
        let now = now_ms();
        for name in st.destinations.keys() {
            let age = oldest
                .iter()
                .find(|(d, _)| d == name)
                .map_or(0.0, |(_, at)| (now - at).max(0) as f64 / 1000.0);
            telemetry::oldest_undelivered(name, age);
        }
    }
    for (name, d) in &st.destinations {
        telemetry::circuit(name, d.breaker.state().level());
    }
    // Sets lienthong_signing_key_available.
    token_keys(&st.security.current()).await;
    match st.store.audit_status().await {
        Ok(a) => {
            let lag = st.tsa_configured.then(|| {
                let lag_ms = match (a.head_at, a.stamped_record_at) {
                    (Some(head), Some(stamped)) => head - stamped,
                    (Some(head), None) => now_ms() - head,
                    (None, _) => 0,
                };
                lag_ms.max(0) as f64 / 1000.0
            });
            telemetry::audit_chain(a.length, a.unlinked, lag);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the audit chain"),
    }
    let due_soon = i64::try_from(st.due_soon.as_millis()).unwrap_or(i64::MAX);
    match st
        .store
        .deadline_counts((i64::MIN, i64::MAX), now_ms(), due_soon)
        .await
    {
        Ok(groups) => {
            for line in crate::records::deadlines::Stats::from_groups(&groups).by_agency {
                for (state, n) in line.counts.states() {
                    telemetry::deadline(&line.code, state, n);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read deadlines"),
    }
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}
