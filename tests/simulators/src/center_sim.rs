//! The center's one-stop software as far as Lienthong sees it: the webhook that receives
//! notices (`POST /notices`). It records every notice with its `Idempotency-Key`, counts
//! distinct ids (so a test can tell "delivered exactly once" from "delivered, then resent"),
//! can be switched down (503) and up, and can require RFC 9421 signatures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lienthong_certs::httpsig::VerifyingKey;
use serde_json::Value;

/// One notice received.
#[derive(Debug, Clone)]
pub struct Notice {
    /// `Idempotency-Key` (the Lienthong message id).
    pub id: String,
    /// `event`.
    pub event: String,
    /// `dossier_code`.
    pub dossier_code: String,
    /// `data`.
    pub data: Value,
    /// Whether the request carried a valid RFC 9421 signature (when a key is set).
    pub signed: bool,
}

#[derive(Default)]
struct Inner {
    notices: Vec<Notice>,
    posts: usize,
    down: bool,
    key: Option<VerifyingKey>,
}

/// A running center webhook.
#[derive(Clone)]
pub struct CenterSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl CenterSim {
    /// Starts on an ephemeral loopback port.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sim = Self { addr, inner };
        let app = Router::new()
            .route("/notices", post(receive))
            .with_state(sim.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT/notices`.
    pub fn url(&self) -> String {
        format!("http://{}/notices", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Requires a valid RFC 9421 signature by `key` (401 otherwise).
    pub fn require_signatures(&self, key: VerifyingKey) {
        self.lock().key = Some(key);
    }

    /// Every notice accepted, in arrival order (resends included).
    pub fn notices(&self) -> Vec<Notice> {
        self.lock().notices.clone()
    }

    /// Accepted notices per message id.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for n in &self.lock().notices {
            *out.entry(n.id.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Every POST seen, refused ones included.
    pub fn posts(&self) -> usize {
        self.lock().posts
    }

    /// Waits until `pred` holds over the notices, or `within` passes; returns whether it held.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&[Notice]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if pred(&self.lock().notices) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(sim): State<CenterSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = {
        let mut inner = sim.lock();
        inner.posts += 1;
        if inner.down {
            return (StatusCode::SERVICE_UNAVAILABLE, "bảo trì").into_response();
        }
        inner.key.clone()
    };
    let signed = match key {
        None => false,
        Some(key) => {
            let target = format!("http://{}{}", sim.addr, uri);
            if !crate::signatures::verified(method.as_str(), &target, &headers, &body, &key) {
                return (StatusCode::UNAUTHORIZED, "chữ ký không hợp lệ").into_response();
            }
            true
        }
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "JSON không hợp lệ").into_response();
    };
    let id = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if id.is_empty() || v["id"].as_str() != Some(id.as_str()) {
        return (StatusCode::BAD_REQUEST, "thiếu Idempotency-Key").into_response();
    }
    sim.lock().notices.push(Notice {
        id,
        event: v["event"].as_str().unwrap_or_default().to_owned(),
        dossier_code: v["dossier_code"].as_str().unwrap_or_default().to_owned(),
        data: v["data"].clone(),
        signed,
    });
    StatusCode::NO_CONTENT.into_response()
}
