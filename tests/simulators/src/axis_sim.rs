//! The national document-exchange axis (trục liên thông, "VDXP"), the receiving side of the
//! profile its Java client SDK speaks (format notes, `vdxp-axis.md`), written from the notes and
//! strict about what it accepts:
//! - every call carries `systemid` and `timestamp` (`ddMMyyyy'T'HHmmss+SSSS`, Vietnamese time,
//!   within 5 minutes of this clock), each parameter again as `XroadVnpt-{name}`, the JSON
//!   `XroadVnpt-sign-header` of those copies, `XroadVnpt-sign-header-key` naming them, and
//!   `XroadVnpt-hash-header` = hex HMAC-SHA256 under the system's secret **over the exact bytes
//!   of the sign-header received**; every signed value must be the one sent; `XroadVnpt-version`
//!   is `3.0.201608`;
//! - `sendEdoc`: `multipart/form-data` with a part `file_doc`, `hash-file` the SHA-256 of that
//!   part (the SDK's unpadded hex, or padded), `from` the calling system's own agency, `to` the
//!   JSON text of a code or of a list of codes, `messagetype` `edoc` or `status`;
//! - answers as the SDK reads them: `{"status","ErrorCode","ErrorDesc",…}`, `ErrorCode` `"0"` on
//!   success and a refusal **with HTTP 200** (`"status":"FAIL"`), 503 only while down.
//!
//! This module verifies on its own (it does not use the gateway's signing code), so the two
//! implementations check each other. Tests register systems ([`AxisSim::register`]), put
//! documents in a mailbox ([`AxisSim::inject`]), see each document's mark and how often it was
//! fetched, read the refusals, switch the axis down and count listings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

/// Where a document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// Waiting to be taken.
    Pending,
    /// Taken.
    Done,
    /// Refused by the receiver.
    Failed,
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
    /// `edoc` or `status`.
    pub message_type: String,
    /// The edXML document.
    pub xml: String,
    /// Its mark.
    pub mark: Mark,
    /// How many times it was fetched.
    pub fetches: usize,
    /// How many times it was marked (a second mark is a receiver's mistake).
    pub marks: usize,
}

/// A member system: its secret and the agency it sends as.
#[derive(Debug, Clone)]
struct System {
    secret: String,
    agency: String,
}

#[derive(Default)]
struct Inner {
    systems: HashMap<String, System>,
    docs: Vec<AxisDoc>,
    down: bool,
    listings: Vec<(String, Instant)>,
    refusals: Vec<String>,
}

/// A running axis.
#[derive(Clone)]
pub struct AxisSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// The SDK's answer envelope.
fn ok(extra: Value) -> Response {
    let mut body = json!({"status": "OK", "ErrorCode": "0", "ErrorDesc": "Thành công"});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    Json(body).into_response()
}

const VERSION: &str = "3.0.201608";
const PREFIX: &str = "XroadVnpt-";

impl AxisSim {
    /// Starts on an ephemeral loopback port, with no member system yet.
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
            .route("/getAgenciesList", post(agencies))
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

    /// Registers a member system: its id, shared secret and the agency code it sends as.
    pub fn register(&self, system_id: &str, secret: &str, agency: &str) {
        self.lock().systems.insert(
            system_id.to_owned(),
            System {
                secret: secret.to_owned(),
                agency: agency.to_owned(),
            },
        );
    }

    /// Puts a document in `to`'s mailbox as if `from` had sent it; returns its id.
    pub fn inject(&self, from: &str, to: &str, xml: &str) -> String {
        self.store(from, to, "edoc", xml)
    }

    fn store(&self, from: &str, to: &str, message_type: &str, xml: &str) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        self.lock().docs.push(AxisDoc {
            id: id.clone(),
            from: from.into(),
            to: to.into(),
            message_type: message_type.into(),
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

    /// Every call refused so far, with its reason (for tests of what is refused).
    pub fn refusals(&self) -> Vec<String> {
        self.lock().refusals.clone()
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// When `agency` listed its mailbox (answered or not).
    pub fn listings(&self, agency: &str) -> Vec<Instant> {
        self.lock()
            .listings
            .iter()
            .filter(|(o, _)| o == agency)
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

    /// A refusal as the SDK reads it: HTTP 200, `"status":"FAIL"`, the reason recorded.
    fn refuse(&self, code: &str, reason: String) -> Response {
        self.lock().refusals.push(reason.clone());
        Json(json!({"status": "FAIL", "ErrorCode": code, "ErrorDesc": reason})).into_response()
    }

    /// The caller's verified parameters and agency, or why it is refused.
    fn check(&self, headers: &HeaderMap) -> Result<(HashMap<String, String>, String), String> {
        let text = |name: &str| -> Result<&str, String> {
            let mut all = headers.get_all(name).iter();
            match (all.next(), all.next()) {
                (Some(v), None) => v.to_str().map_err(|_| format!("{name} is not text")),
                (None, _) => Err(format!("missing header {name}")),
                (Some(_), Some(_)) => Err(format!("{name} sent twice")),
            }
        };
        let version = text(&format!("{PREFIX}version"))?;
        if version != VERSION {
            return Err(format!("unknown {PREFIX}version {version}"));
        }
        let sign_header = text(&format!("{PREFIX}sign-header"))?;
        let keys = text(&format!("{PREFIX}sign-header-key"))?;
        let hash = text(&format!("{PREFIX}hash-header"))?;
        let object: serde_json::Map<String, Value> = serde_json::from_str(sign_header)
            .map_err(|e| format!("{PREFIX}sign-header is not a JSON object: {e}"))?;
        let mut params = HashMap::new();
        for name in keys.split(';') {
            let value = object
                .get(&format!("{PREFIX}{name}"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{PREFIX}sign-header has no {PREFIX}{name}"))?;
            // The header itself and its copy must say what was signed.
            for sent_as in [name.to_owned(), format!("{PREFIX}{name}")] {
                if text(&sent_as)? != value {
                    return Err(format!("header {sent_as} is not its signed value"));
                }
            }
            params.insert(name.to_ascii_lowercase(), value.to_owned());
        }
        if params.len() != object.len() {
            return Err(format!(
                "{PREFIX}sign-header-key does not name every member"
            ));
        }
        let system_id = params.get("systemid").ok_or("systemid is not signed")?;
        let system = self
            .lock()
            .systems
            .get(system_id)
            .cloned()
            .ok_or_else(|| format!("unknown system {system_id}"))?;
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, system.secret.as_bytes());
        let expected = hex::encode(aws_lc_rs::hmac::sign(&key, sign_header.as_bytes()).as_ref());
        if expected != hash {
            return Err("XroadVnpt-hash-header does not match".into());
        }
        let stamp = params.get("timestamp").ok_or("timestamp is not signed")?;
        let at = parse_timestamp(stamp)
            .ok_or_else(|| format!("timestamp {stamp} is not ddMMyyyyTHHmmss+SSSS"))?;
        let skew = (at - time::OffsetDateTime::now_utc()).abs();
        if skew > time::Duration::minutes(5) {
            return Err(format!("timestamp {stamp} is {skew} from the axis's clock"));
        }
        Ok((params, system.agency))
    }
}

/// `ddMMyyyy'T'HHmmss+SSSS` in UTC+07:00.
fn parse_timestamp(v: &str) -> Option<time::OffsetDateTime> {
    if v.len() != 20 || &v[8..9] != "T" || &v[15..16] != "+" {
        return None;
    }
    let n = |a: usize, b: usize| v.get(a..b)?.parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        i32::try_from(n(4, 8)?).ok()?,
        time::Month::try_from(u8::try_from(n(2, 4)?).ok()?).ok()?,
        u8::try_from(n(0, 2)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms_milli(
        u8::try_from(n(9, 11)?).ok()?,
        u8::try_from(n(11, 13)?).ok()?,
        u8::try_from(n(13, 15)?).ok()?,
        u16::try_from(n(16, 20)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_offset(time::UtcOffset::from_hms(7, 0, 0).ok()?),
    )
}

/// The SHA-256 of `file` as hex, and as the SDK writes it (no zero padding per byte).
fn file_hashes(file: &[u8]) -> (String, String) {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, file);
    (
        hex::encode(d.as_ref()),
        d.as_ref().iter().map(|b| format!("{b:x}")).collect(),
    )
}

fn down(sim: &AxisSim) -> Option<Response> {
    sim.lock().down.then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "FAIL", "ErrorCode": "503", "ErrorDesc": "axis down"})),
        )
            .into_response()
    })
}

async fn send(State(sim): State<AxisSim>, req: Request) -> Response {
    if let Some(r) = down(&sim) {
        return r;
    }
    let (params, agency) = match sim.check(req.headers()) {
        Ok(p) => p,
        Err(reason) => return sim.refuse("401", reason),
    };
    let Some(from) = params.get("from").cloned() else {
        return sim.refuse("400", "from is not signed".into());
    };
    if from != agency {
        return sim.refuse("403", format!("system sends as {agency}, not {from}"));
    }
    let Some(to) = params.get("to") else {
        return sim.refuse("400", "to is not signed".into());
    };
    let to: Vec<String> = match serde_json::from_str::<Value>(to) {
        Ok(Value::String(s)) => vec![s],
        Ok(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            return sim.refuse(
                "400",
                format!("to {to:?} is not the JSON text of a code or a list"),
            );
        }
    };
    let message_type = params.get("messagetype").cloned().unwrap_or_default();
    if !matches!(message_type.as_str(), "edoc" | "status") {
        return sim.refuse("400", format!("messagetype {message_type:?}"));
    }
    if params.get("servicetype").is_none_or(String::is_empty) {
        return sim.refuse("400", "servicetype is not signed".into());
    }
    let Some(declared) = params.get("hash-file").cloned() else {
        return sim.refuse("400", "hash-file is not signed".into());
    };
    let content_type = params.get("content-type").cloned().unwrap_or_default();
    if !content_type.starts_with("multipart/form-data") {
        return sim.refuse(
            "400",
            format!("Content-Type {content_type:?} is not multipart/form-data"),
        );
    }
    let mut multipart = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => return sim.refuse("400", format!("not multipart: {e}")),
    };
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                if field.name() == Some("file_doc") {
                    match field.bytes().await {
                        Ok(b) => file = Some(b),
                        Err(e) => return sim.refuse("400", format!("file_doc unreadable: {e}")),
                    }
                }
            }
            Ok(None) => break,
            Err(e) => return sim.refuse("400", format!("multipart: {e}")),
        }
    }
    let Some(file) = file else {
        return sim.refuse("400", "no part named file_doc".into());
    };
    let (padded, sdk) = file_hashes(&file);
    let declared = declared.to_ascii_lowercase();
    if declared != padded && declared != sdk {
        return sim.refuse(
            "400",
            format!("hash-file {declared} is not the file's ({sdk})"),
        );
    }
    let Ok(xml) = String::from_utf8(file.to_vec()) else {
        return sim.refuse("400", "file_doc is not UTF-8".into());
    };
    let mut first = None;
    for code in &to {
        let id = sim.store(&from, code, &message_type, &xml);
        first.get_or_insert(id);
    }
    ok(json!({"DocId": first.unwrap_or_default()}))
}

async fn list(State(sim): State<AxisSim>, headers: HeaderMap) -> Response {
    let (params, agency) = match sim.check(&headers) {
        Ok(p) => p,
        Err(reason) => return sim.refuse("401", reason),
    };
    sim.lock().listings.push((agency.clone(), Instant::now()));
    if let Some(r) = down(&sim) {
        return r;
    }
    let kind = params.get("messagetype").cloned();
    let data: Vec<Value> = sim
        .lock()
        .docs
        .iter()
        .filter(|d| d.to == agency && d.mark == Mark::Pending)
        .filter(|d| kind.as_ref().is_none_or(|k| *k == d.message_type))
        .map(|d| {
            json!({"docId": d.id, "from": d.from, "to": d.to, "messageType": d.message_type,
                   "serviceType": "eDoc", "status": "initial", "status_desc": "Chưa nhận"})
        })
        .collect();
    ok(json!({"data": data}))
}

async fn get(State(sim): State<AxisSim>, headers: HeaderMap) -> Response {
    let (params, agency) = match sim.check(&headers) {
        Ok(p) => p,
        Err(reason) => return sim.refuse("401", reason),
    };
    if let Some(r) = down(&sim) {
        return r;
    }
    let Some(id) = params.get("docid").cloned() else {
        return sim.refuse("400", "docId is not signed".into());
    };
    let found = {
        let mut inner = sim.lock();
        inner
            .docs
            .iter_mut()
            .find(|d| d.id == id && d.to == agency)
            .map(|d| {
                d.fetches += 1;
                d.xml.clone()
            })
    };
    match found {
        Some(xml) => ok(json!({"data": base64::engine::general_purpose::STANDARD.encode(xml)})),
        None => sim.refuse("404", format!("no document {id} for {agency}")),
    }
}

async fn update(State(sim): State<AxisSim>, headers: HeaderMap) -> Response {
    let (params, agency) = match sim.check(&headers) {
        Ok(p) => p,
        Err(reason) => return sim.refuse("401", reason),
    };
    if let Some(r) = down(&sim) {
        return r;
    }
    let id = params.get("docid").cloned().unwrap_or_default();
    let mark = match params.get("status").map(String::as_str) {
        Some("done") => Mark::Done,
        Some("fail") => Mark::Failed,
        other => return sim.refuse("400", format!("status {other:?} is not done or fail")),
    };
    let updated = {
        let mut inner = sim.lock();
        inner
            .docs
            .iter_mut()
            .find(|d| d.id == id && d.to == agency)
            .map(|d| {
                d.mark = mark;
                d.marks += 1;
            })
            .is_some()
    };
    if updated {
        ok(json!({}))
    } else {
        sim.refuse("404", format!("no document {id} for {agency}"))
    }
}

async fn agencies(State(sim): State<AxisSim>, headers: HeaderMap) -> Response {
    if let Err(reason) = sim.check(&headers) {
        return sim.refuse("401", reason);
    }
    let data: Vec<Value> = sim
        .lock()
        .systems
        .values()
        .map(|s| json!({"code": s.agency}))
        .collect();
    ok(json!({"data": data}))
}
