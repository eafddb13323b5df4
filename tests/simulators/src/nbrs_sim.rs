//! The National Business Registration System as far as Lienthong sees it, behind a Bearer token
//! (`POST /token`):
//! - `POST /dangKyHoSo`: Lienthong's provisional submission profile; checks the registration
//!   (required fields, one main business line, capital shares adding up) and answers
//!   `{"Status": "1", "IN_JOURNAL_NO"}` (the same number again for the same `MA_HO_SO`), or
//!   `{"Status": "0", "Message"}` naming what is wrong;
//! - `GET /tinhTrangHoSo?in_journal_no=`: the registration's `PROCESS_STATUS`, which the test
//!   moves with [`NbrsSim::set_status`]; every poll is recorded with its time;
//! - `GET /chiTietDoanhNghiep?msdn=`: enterprises the simulator knows ([`KNOWN_ENTERPRISE`]).
//!
//! It can be switched down (503) to exercise retries.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::token_issuer::TokenIssuer;

/// An enterprise code (mã số doanh nghiệp) the simulator knows.
pub const KNOWN_ENTERPRISE: &str = "0700123456";

#[derive(Default)]
struct Inner {
    /// MA_HO_SO → (IN_JOURNAL_NO, registration as submitted).
    registrations: BTreeMap<String, (String, Value)>,
    /// IN_JOURNAL_NO → PROCESS_STATUS.
    statuses: HashMap<String, String>,
    /// IN_JOURNAL_NO → when each status request came.
    polls: HashMap<String, Vec<Instant>>,
    submissions: usize,
    /// Enterprise lookups asked for (`chiTietDoanhNghiep`).
    lookups: usize,
    down: bool,
}

/// A running NBRS simulator.
#[derive(Clone)]
pub struct NbrsSim {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Its token endpoint.
    pub tokens: TokenIssuer,
}

impl NbrsSim {
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
            .route("/dangKyHoSo", post(submit))
            .route("/tinhTrangHoSo", get(status))
            .route("/chiTietDoanhNghiep", get(enterprise))
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

    /// The `[destinations.<name>]` table of an NBRS destination for this simulator, polling
    /// every `interval` at `rate` requests per second.
    pub fn config_toml(&self, name: &str, interval: &str, rate: f64) -> String {
        format!(
            "[destinations.{name}]\nkind = \"nbrs\"\nbase_url = \"{base}\"\nlookup_timeout = \"2s\"\ntimeout = \"3s\"\n[destinations.{name}.poll]\ninterval = \"{interval}\"\nrate = {rate}\n[destinations.{name}.oauth]\n{oauth}",
            base = self.base_url(),
            oauth = TokenIssuer::config_toml(&format!("{}/token", self.base_url())),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// The receipt number given to dossier `code`, once submitted.
    pub fn journal_no(&self, code: &str) -> Option<String> {
        self.lock().registrations.get(code).map(|(n, _)| n.clone())
    }

    /// The registration submitted for dossier `code`.
    pub fn registration(&self, code: &str) -> Option<Value> {
        self.lock().registrations.get(code).map(|(_, r)| r.clone())
    }

    /// Submissions taken (repeats included).
    pub fn submissions(&self) -> usize {
        self.lock().submissions
    }

    /// Enterprise lookups asked for (`GET /chiTietDoanhNghiep`), answered or not.
    pub fn lookups(&self) -> usize {
        self.lock().lookups
    }

    /// Moves registration `journal_no` to `process_status`.
    pub fn set_status(&self, journal_no: &str, process_status: &str) {
        self.lock()
            .statuses
            .insert(journal_no.to_owned(), process_status.to_owned());
    }

    /// When each status request for `journal_no` came.
    pub fn polls(&self, journal_no: &str) -> Vec<Instant> {
        self.lock()
            .polls
            .get(journal_no)
            .cloned()
            .unwrap_or_default()
    }

    /// Every status request, in arrival order.
    pub fn all_polls(&self) -> Vec<Instant> {
        let mut all: Vec<Instant> = self.lock().polls.values().flatten().copied().collect();
        all.sort();
        all
    }

    /// Waits until `pred` holds, or `within` passes.
    pub async fn wait_until(&self, within: Duration, pred: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if pred(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The first problem of a registration, if any.
fn problem(r: &Value) -> Option<String> {
    for f in ["MA_HO_SO", "TEN_DN", "LOAI_HINH_DN", "NGAY_NOP"] {
        if r[f].as_str().is_none_or(str::is_empty) {
            return Some(format!("Thiếu {f}"));
        }
    }
    if r["VON_DIEU_LE"].as_u64().is_none_or(|v| v == 0) {
        return Some("VON_DIEU_LE phải lớn hơn 0".into());
    }
    if r["TRU_SO"]["MA_TINH"].as_str().is_none() || r["TRU_SO"]["MA_XA"].as_str().is_none() {
        return Some("Thiếu mã đơn vị hành chính của trụ sở".into());
    }
    let lines = r["NGANH_NGHE"].as_array().cloned().unwrap_or_default();
    if lines.iter().filter(|l| l["LA_NGANH_CHINH"] == "Y").count() != 1 {
        return Some("Phải có đúng một ngành nghề kinh doanh chính".into());
    }
    if r["NGUOI_DAI_DIEN"].as_array().is_none_or(Vec::is_empty) {
        return Some("Thiếu người đại diện theo pháp luật".into());
    }
    let members = r["THANH_VIEN"].as_array().cloned().unwrap_or_default();
    if !members.is_empty() {
        let total: f64 = members
            .iter()
            .filter_map(|m| m["TY_LE_VON_GOP"].as_f64())
            .sum();
        if (total - 100.0).abs() > 0.01 {
            return Some(format!("Tổng tỷ lệ vốn góp {total}% khác 100%"));
        }
    }
    None
}

async fn token(State(sim): State<NbrsSim>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    sim.tokens.issue(&form)
}

/// The common gate: up, and a valid token.
fn gate(sim: &NbrsSim, headers: &HeaderMap) -> Option<Response> {
    if sim.lock().down {
        return Some((StatusCode::SERVICE_UNAVAILABLE, "bảo trì").into_response());
    }
    if !sim.tokens.accepts(headers) {
        return Some((StatusCode::UNAUTHORIZED, "invalid token").into_response());
    }
    None
}

async fn submit(State(sim): State<NbrsSim>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = gate(&sim, &headers) {
        return r;
    }
    let Ok(r) = serde_json::from_slice::<Value>(&body) else {
        return Json(json!({ "Status": "0", "Message": "Dữ liệu không phải JSON" }))
            .into_response();
    };
    if let Some(p) = problem(&r) {
        return Json(json!({ "Status": "0", "Message": p })).into_response();
    }
    let mut inner = sim.lock();
    inner.submissions += 1;
    let code = r["MA_HO_SO"].as_str().unwrap_or_default().to_owned();
    let next = inner.registrations.len() + 1;
    let journal = match inner.registrations.get_mut(&code) {
        Some((n, kept)) => {
            *kept = r;
            n.clone()
        }
        None => {
            let n = format!("NB-{next:06}");
            inner.registrations.insert(code, (n.clone(), r));
            inner.statuses.insert(n.clone(), "1".into());
            n
        }
    };
    Json(json!({ "Status": "1", "Message": "Đã tiếp nhận hồ sơ", "IN_JOURNAL_NO": journal }))
        .into_response()
}

async fn status(
    State(sim): State<NbrsSim>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(r) = gate(&sim, &headers) {
        return r;
    }
    let journal = q.get("in_journal_no").cloned().unwrap_or_default();
    let mut inner = sim.lock();
    inner
        .polls
        .entry(journal.clone())
        .or_default()
        .push(Instant::now());
    let Some(st) = inner.statuses.get(&journal).cloned() else {
        return Json(json!({ "Status": "0", "Message": "Không tìm thấy hồ sơ" })).into_response();
    };
    let name = inner
        .registrations
        .values()
        .find(|(n, _)| *n == journal)
        .map(|(_, r)| r["TEN_DN"].clone())
        .unwrap_or(Value::Null);
    let enterprise = if st == "4" || st == "6" {
        json!(format!("07{}", &journal[3..]))
    } else {
        Value::Null
    };
    Json(json!({
        "IN_JOURNAL_NO": journal, "DOCUMENT_TYPE": "DKTL", "NAME": name, "SITE_ID": "37",
        "ENTERPRISE_CODE": enterprise, "ENTERPRISE_GDT_CODE": enterprise,
        "RECEIPT_DATE": "30/11/2026", "PLAN_DATE": "03/12/2026", "PROCESS_STATUS": st,
    }))
    .into_response()
}

async fn enterprise(
    State(sim): State<NbrsSim>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    sim.lock().lookups += 1;
    if let Some(r) = gate(&sim, &headers) {
        return r;
    }
    if q.get("msdn").map(String::as_str) != Some(KNOWN_ENTERPRISE) {
        return Json(json!({ "Status": "0", "Message": "Không tìm thấy doanh nghiệp" }))
            .into_response();
    }
    Json(json!({
        "Status": "1", "Message": "",
        "MainInformation": {
            "ENTERPRISE_GDT_CODE": KNOWN_ENTERPRISE, "NAME": "CÔNG TY CỔ PHẦN GẠO NINH BÌNH",
            "ENTERPRISE_TYPE_NAME": "Công ty cổ phần", "FOUNDING_DATE": "12/05/2015",
            "ENTERPRISE_STATUS": "Đang hoạt động", "CAPITAL_AMOUNT": 15000000000u64,
        },
        "HOAdress": { "CityID": "37", "CityName": "Tỉnh Ninh Bình", "WardID": "13285" },
        "BusinessActivity": [{ "CODE": "4631", "NAME": "Bán buôn gạo", "IS_MAIN": "Y" }],
        "Member": [],
    }))
    .into_response()
}
