//! The national document-exchange axis (trục liên thông) as Lienthong's provisional profile
//! describes it (`connectors::peer::axis`): a mailbox per agency code, filled by `sendEdoc`
//! (header `to`), read by `getReceivedEdocList` and `getEdoc`, emptied by `updateStatus`
//! (`done` or `fail` with a description). The caller is the `from` header.
//!
//! Tests put documents in a mailbox directly ([`AxisSim::inject`]), see each document's mark and
//! how often it was fetched, switch the axis down (503) and count listings (to check backoff).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// Where a document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// Waiting to be taken.
    Pending,
    /// Taken.
    Done,
    /// Refused by the receiver, with its reason.
    Failed(String),
}

/// One document in the axis.
#[derive(Debug, Clone)]
pub struct AxisDoc {
    /// The axis's id.
    pub id: String,
    /// Sending agency.
    pub from: String,
    /// Receiving agency.
    pub to: String,
    /// The edXML document.
    pub xml: String,
    /// Its mark.
    pub mark: Mark,
    /// How many times it was fetched.
    pub fetches: usize,
    /// How many times it was marked (a second mark is a receiver's mistake).
    pub marks: usize,
}

#[derive(Default)]
struct Inner {
    docs: Vec<AxisDoc>,
    down: bool,
    listings: Vec<(String, Instant)>,
}

/// A running axis.
#[derive(Clone)]
pub struct AxisSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

fn fail(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({"status": "FAIL", "ErrorDesc": reason}))).into_response()
}

impl AxisSim {
    /// Starts on an ephemeral loopback port.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim = Self {
            addr: listener.local_addr()?,
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/sendEdoc", post(send))
            .route("/getReceivedEdocList", post(list))
            .route("/getEdoc", post(get))
            .route("/updateStatus", post(update))
            .with_state(sim.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT` (the operations are appended).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a document in `to`'s mailbox as if `from` had sent it; returns its id.
    pub fn inject(&self, from: &str, to: &str, xml: &str) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        self.lock().docs.push(AxisDoc {
            id: id.clone(),
            from: from.into(),
            to: to.into(),
            xml: xml.into(),
            mark: Mark::Pending,
            fetches: 0,
            marks: 0,
        });
        id
    }

    /// Every document, in the order sent.
    pub fn docs(&self) -> Vec<AxisDoc> {
        self.lock().docs.clone()
    }

    /// One document.
    pub fn doc(&self, id: &str) -> Option<AxisDoc> {
        self.lock().docs.iter().find(|d| d.id == id).cloned()
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// When `organ_id` listed its mailbox (answered or not).
    pub fn listings(&self, organ_id: &str) -> Vec<Instant> {
        self.lock()
            .listings
            .iter()
            .filter(|(o, _)| o == organ_id)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Waits until `check` holds (at most `limit`).
    pub async fn wait_for(&self, limit: Duration, check: impl Fn(&[AxisDoc]) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if check(&self.lock().docs) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        check(&self.lock().docs)
    }
}

fn caller(headers: &HeaderMap) -> Option<String> {
    headers
        .get("from")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

async fn send(State(sim): State<AxisSim>, headers: HeaderMap, body: Bytes) -> Response {
    if sim.lock().down {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "axis down");
    }
    let (Some(from), Some(to)) = (
        caller(&headers),
        headers.get("to").and_then(|v| v.to_str().ok()),
    ) else {
        return fail(StatusCode::BAD_REQUEST, "from and to headers are required");
    };
    let Ok(xml) = String::from_utf8(body.to_vec()) else {
        return fail(StatusCode::BAD_REQUEST, "not UTF-8");
    };
    let id = sim.inject(&from, to, &xml);
    Json(json!({"status": "OK", "docId": id})).into_response()
}

async fn list(State(sim): State<AxisSim>, headers: HeaderMap) -> Response {
    let Some(me) = caller(&headers) else {
        return fail(StatusCode::BAD_REQUEST, "from header required");
    };
    let mut inner = sim.lock();
    inner.listings.push((me.clone(), Instant::now()));
    if inner.down {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "axis down");
    }
    let data: Vec<Value> = inner
        .docs
        .iter()
        .filter(|d| d.to == me && d.mark == Mark::Pending)
        .map(|d| json!({"docId": d.id, "from": d.from}))
        .collect();
    Json(json!({"status": "OK", "data": data})).into_response()
}

fn doc_id(body: &Bytes) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("docId")?
        .as_str()
        .map(str::to_owned)
}

async fn get(State(sim): State<AxisSim>, headers: HeaderMap, body: Bytes) -> Response {
    let (Some(me), Some(id)) = (caller(&headers), doc_id(&body)) else {
        return fail(StatusCode::BAD_REQUEST, "from header and docId required");
    };
    let mut inner = sim.lock();
    if inner.down {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "axis down");
    }
    match inner.docs.iter_mut().find(|d| d.id == id && d.to == me) {
        Some(d) => {
            d.fetches += 1;
            (
                [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
                d.xml.clone(),
            )
                .into_response()
        }
        None => fail(StatusCode::NOT_FOUND, "no such document"),
    }
}

async fn update(State(sim): State<AxisSim>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(me) = caller(&headers) else {
        return fail(StatusCode::BAD_REQUEST, "from header required");
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, "JSON body required");
    };
    let id = v.get("docId").and_then(Value::as_str).unwrap_or_default();
    let mark = match v.get("status").and_then(Value::as_str) {
        Some("done") => Mark::Done,
        Some("fail") => Mark::Failed(
            v.get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => return fail(StatusCode::BAD_REQUEST, "status must be done or fail"),
    };
    let mut inner = sim.lock();
    if inner.down {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "axis down");
    }
    match inner.docs.iter_mut().find(|d| d.id == id && d.to == me) {
        Some(d) => {
            d.mark = mark;
            d.marks += 1;
            Json(json!({"status": "OK"})).into_response()
        }
        None => fail(StatusCode::NOT_FOUND, "no such document"),
    }
}
