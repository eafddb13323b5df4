//! The national e-monitoring system (EMC) as far as Lienthong sees it: `POST /reports` takes a
//! JSON array of processing-step reports behind a Bearer token from `POST /token`.
//!
//! It checks each report as the format notes describe it (required fields, enums in range) and
//! answers `{"error_code": 0}`, or `{"error_code": 2, "message": ...}` naming the first bad field
//! (nothing of that call is kept). It can be switched down (503 + `Retry-After: 1`) and told to
//! refuse everything as invalid, to exercise retries and dead letters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::token_issuer::TokenIssuer;

/// Enum fields of a report and their allowed values.
const ENUMS: &[(&str, &[i64])] = &[
    ("Status", &[0, 1, 2, 3, 4]),
    ("FormsReception", &[1, 2]),
    ("FormsPayments", &[0, 1, 2]),
    ("Level", &[0, 1, 3, 4]),
    ("IsFromDVCQG", &[0, 1]),
    ("IsDVCBC", &[0, 1, 2]),
];
/// Text fields every report must carry.
const REQUIRED_TEXT: &[&str] = &[
    "CodeProfile",
    "SiteId",
    "CodeTTHC",
    "NameTTHC",
    "MaHoSo",
    "User",
];

#[derive(Default)]
struct Inner {
    reports: Vec<Value>,
    batch_sizes: Vec<usize>,
    posts: usize,
    down: bool,
    refuse: bool,
}

/// A running EMC simulator.
#[derive(Clone)]
pub struct EmcSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Its token endpoint.
    pub tokens: TokenIssuer,
}

impl EmcSim {
    /// Starts on an ephemeral loopback port.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim = Self {
            addr: listener.local_addr()?,
            inner: Arc::default(),
            tokens: TokenIssuer::default(),
        };
        let app = Router::new()
            .route("/token", post(token))
            .route("/reports", post(reports))
            .with_state(sim.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `[destinations.<name>]` table of an EMC destination for this simulator (with its
    /// `oauth` sub-table), to put in a gateway configuration.
    pub fn config_toml(&self, name: &str, site_id: &str) -> String {
        format!(
            "[destinations.{name}]\nkind = \"emc\"\nurl = \"{base}/reports\"\nsite_id = \"{site_id}\"\n[destinations.{name}.oauth]\n{oauth}",
            base = self.base_url(),
            oauth = TokenIssuer::config_toml(&format!("{}/token", self.base_url())),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Refuses every report as invalid data while `refuse`.
    pub fn set_refuse(&self, refuse: bool) {
        self.lock().refuse = refuse;
    }

    /// Every report accepted, in arrival order.
    pub fn reports(&self) -> Vec<Value> {
        self.lock().reports.clone()
    }

    /// The accepted reports of one dossier (`CodeProfile`).
    pub fn reports_of(&self, code: &str) -> Vec<Value> {
        self.lock()
            .reports
            .iter()
            .filter(|r| r["CodeProfile"] == code)
            .cloned()
            .collect()
    }

    /// Reports per accepted call.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.lock().batch_sizes.clone()
    }

    /// Every POST to `/reports` seen, refused ones included.
    pub fn posts(&self) -> usize {
        self.lock().posts
    }

    /// Waits until dossier `code` has at least `n` reports, or `within` passes.
    pub async fn wait_until_count(&self, code: &str, n: usize, within: Duration) -> bool {
        self.wait_for(within, |all| {
            all.iter().filter(|r| r["CodeProfile"] == code).count() >= n
        })
        .await
    }

    /// Waits until `pred` holds over the accepted reports, or `within` passes.
    pub async fn wait_for(&self, within: Duration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if pred(&self.lock().reports) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The first problem of a report, if any.
fn problem(report: &Value) -> Option<String> {
    for f in REQUIRED_TEXT {
        if report[*f].as_str().is_none_or(str::is_empty) {
            return Some(format!("Thiếu trường {f}"));
        }
    }
    for (f, allowed) in ENUMS {
        match report[*f].as_i64() {
            Some(v) if allowed.contains(&v) => {}
            _ => return Some(format!("Giá trị {f} không hợp lệ: {}", report[*f])),
        }
    }
    None
}

async fn token(State(sim): State<EmcSim>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    sim.tokens.issue(&form)
}

async fn reports(State(sim): State<EmcSim>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = sim.lock();
    inner.posts += 1;
    if inner.down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            "bảo trì",
        )
            .into_response();
    }
    if !sim.tokens.accepts(&headers) {
        return (StatusCode::UNAUTHORIZED, "invalid token").into_response();
    }
    let Ok(Value::Array(batch)) = serde_json::from_slice::<Value>(&body) else {
        return Json(json!({ "error_code": 2, "message": "Dữ liệu phải là mảng JSON" }))
            .into_response();
    };
    if inner.refuse {
        return Json(json!({ "error_code": 3, "message": "Hồ sơ không thuộc đơn vị" }))
            .into_response();
    }
    if let Some(p) = batch.iter().find_map(problem) {
        return Json(json!({ "error_code": 2, "message": p })).into_response();
    }
    inner.batch_sizes.push(batch.len());
    inner.reports.extend(batch);
    Json(json!({ "error_code": 0, "message": "Thành công" })).into_response()
}
