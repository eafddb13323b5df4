//! A simulator of the National Public Service Portal (DVCQG), both transports of the format notes:
//!
//! - session: `POST /api/auth` → `{error_code, session}`; `POST /api/service` with
//!   `{session, madonvi, service, …}` and a `dstcode` header; services `TraCuuHoSo`,
//!   `DongBoHoSoMC`, `CapNhatTienDoHoSoMC`;
//! - LGSP: `POST /lgsp/token` (OAuth2 client credentials), `POST /lgsp/hoso/create`,
//!   `/lgsp/hoso/update`, `/lgsp/tiendo` with JSON arrays and a Bearer token.
//!
//! It keeps what it receives (dossiers, progress entries in arrival order, every call) and can
//! be told to fail: N failures then success, every Nth call, down for good, 503 with
//! Retry-After, slow answers, connections dropped mid-answer, "already exists", expired
//! sessions, invalid-data rejections.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lienthong_certs::httpsig::VerifyingKey;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    /// Session transport user.
    pub username: String,
    /// Session transport password.
    pub password: String,
    /// Expected `madonvi`.
    pub madonvi: String,
    /// Expected `dstcode` header.
    pub dstcode: String,
    /// LGSP client id.
    pub client_id: String,
    /// LGSP client secret.
    pub client_secret: String,
    /// Lifetime of LGSP tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// How the LGSP side authenticates its callers (format notes, `lgsp-access.md`).
    pub lgsp_access: LgspAccess,
}

/// How an LGSP authenticates its callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LgspAccess {
    /// Variant C: client credentials, Bearer token.
    ClientCredentials,
    /// Variant A: `lgspaccesstoken` (base64 of the JSON of these five values, in the order
    /// AccessKey, SecretKey, AppName, PartnerCode, PartnerCodeCus) on the token request (a form
    /// with `grant_type=client_credentials`) and on every call, beside the Bearer token.
    AccessToken([String; 5]),
    /// Variant B: `GET /lgsp/token/{user_id}` with `lgspaccesstoken` and
    /// `X-Authentication-Token: platform_key` → `{"data":{"token"}}`; calls carry
    /// `lgspaccesstoken` and `X-Authentication-Token: <token>`.
    PlatformToken {
        /// The five values.
        values: [String; 5],
        /// The platform's static key.
        platform_key: String,
        /// The user id in the token path.
        user_id: String,
    },
}

/// The five values the simulator's platform issued, in order.
pub fn lgsp_values() -> [String; 5] {
    [
        "AK-NINHBINH-01".into(),
        "SK-bi-mat-9f3e".into(),
        "LIENTHONG".into(),
        "PARTNER-H37".into(),
        "000.02.01.H37".into(),
    ]
}

/// Whether `headers` carry an `lgspaccesstoken` whose decoded JSON holds exactly `values`
/// (a wrong `SecretKey` inside the base64 is refused).
fn lgspaccesstoken_ok(headers: &HeaderMap, values: &[String; 5]) -> bool {
    use base64::Engine;
    let Some(raw) = headers.get("lgspaccesstoken").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(raw) else {
        return false;
    };
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    [
        "AccessKey",
        "SecretKey",
        "AppName",
        "PartnerCode",
        "PartnerCodeCus",
    ]
    .iter()
    .zip(values)
    .all(|(k, v)| o.get(*k).and_then(Value::as_str) == Some(v.as_str()))
        && o.len() == 5
}

impl Default for SimCredentials {
    fn default() -> Self {
        Self {
            username: "lienthong".into(),
            password: "mat-khau-thu-nghiem".into(),
            madonvi: "000.00.00.H37".into(),
            dstcode: "DVCQG".into(),
            client_id: "lienthong-ninhbinh".into(),
            client_secret: "bi-mat-thu-nghiem".into(),
            token_lifetime_secs: 3600,
            lgsp_access: LgspAccess::ClientCredentials,
        }
    }
}

/// How an injected failure looks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// HTTP 500.
    ServerError,
    /// HTTP 503 with `Retry-After: secs`.
    Unavailable {
        /// Seconds in the Retry-After header.
        retry_after_secs: u64,
    },
    /// Headers sent, then the connection dropped mid-answer.
    Reset,
    /// The three above in turn.
    Rotate,
    /// HTTP 403: the platform does not allow this partner the service.
    Forbidden,
    /// HTTP 429 with `Retry-After: secs`.
    TooMany {
        /// Seconds in the Retry-After header.
        retry_after_secs: u64,
    },
}

/// What the simulator should do wrong.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Fail this many portal calls, then behave.
    pub fail_next: u32,
    /// Fail every Nth call that carries data (sync or progress; 2 = every second one). Lookups
    /// and logins are not counted, so that a delivery made of several calls cannot always land on
    /// the failing turn.
    pub fail_every: Option<u32>,
    /// Fail every portal call.
    pub down: bool,
    /// How failures look.
    pub kind: FailKind,
    /// Added to every answer.
    pub latency: Duration,
    /// Dossier codes whose sync is refused as invalid data (error_code 2).
    pub reject_codes: BTreeSet<String>,
    /// Answer expired sessions with `error_code: 401` in an HTTP 200 instead of HTTP 401.
    pub expired_as_error_code: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_next: 0,
            fail_every: None,
            down: false,
            kind: FailKind::ServerError,
            latency: Duration::ZERO,
            reject_codes: BTreeSet::new(),
            expired_as_error_code: false,
        }
    }
}

/// One call the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `login`, `token`, a service name, or `lgsp:create|update|progress`.
    pub service: String,
    /// What it answered: `ok`, `injected`, `rejected`, `exists`, `auth`.
    pub answer: String,
    /// Milliseconds since the simulator started.
    pub at_ms: u128,
}

#[derive(Default)]
struct Inner {
    sessions: HashSet<String>,
    tokens: HashSet<String>,
    hoso: BTreeMap<String, Value>,
    syncs: BTreeMap<String, u32>,
    progress: BTreeMap<String, Vec<Value>>,
    progress_calls: Vec<usize>,
    calls: Vec<Call>,
    portal_calls: u64,
    data_calls: u64,
    faults: Faults,
    next_id: u64,
}

struct Shared {
    creds: SimCredentials,
    inner: Mutex<Inner>,
    started: std::time::Instant,
    /// When set, every request must carry a valid RFC 9421 signature by this key.
    signature_key: Mutex<Option<VerifyingKey>>,
    base_url: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking handler must not take the simulator down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, inner: &mut Inner, service: &str, answer: &str) {
        inner.calls.push(Call {
            service: service.to_owned(),
            answer: answer.to_owned(),
            at_ms: self.started.elapsed().as_millis(),
        });
    }

    /// Decides whether this portal call fails, and how.
    fn injected(&self, service: &str) -> Option<FailKind> {
        let mut inner = self.lock();
        inner.portal_calls += 1;
        let carries_data = matches!(service, "DongBoHoSoMC" | "CapNhatTienDoHoSoMC")
            || service.starts_with("lgsp:");
        if carries_data {
            inner.data_calls += 1;
        }
        let n = inner.portal_calls;
        let d = inner.data_calls;
        let f = &mut inner.faults;
        let fail = if f.down {
            true
        } else if f.fail_next > 0 {
            f.fail_next -= 1;
            true
        } else {
            carries_data
                && f.fail_every
                    .is_some_and(|every| every > 0 && d.is_multiple_of(u64::from(every)))
        };
        if !fail {
            return None;
        }
        let kind = match f.kind {
            FailKind::Rotate => match (n + d) % 3 {
                0 => FailKind::ServerError,
                1 => FailKind::Reset,
                _ => FailKind::Unavailable {
                    retry_after_secs: 1,
                },
            },
            k => k,
        };
        self.record(&mut inner, service, "injected");
        Some(kind)
    }
}

fn failure(kind: FailKind) -> Response {
    match kind {
        FailKind::ServerError | FailKind::Rotate => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Lỗi hệ thống").into_response()
        }
        FailKind::Forbidden => (
            StatusCode::FORBIDDEN,
            axum::Json(json!({ "error_code": "403", "message": "Đối tác không được phép sử dụng dịch vụ" })),
        )
            .into_response(),
        FailKind::TooMany { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "Vượt quá giới hạn",
        )
            .into_response(),
        FailKind::Unavailable { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            "Hệ thống đang bảo trì",
        )
            .into_response(),
        FailKind::Reset => {
            let stream = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

fn answer(code: i64, message: &str) -> Response {
    axum::Json(json!({ "error_code": code, "message": message })).into_response()
}

/// A running simulator.
pub struct DvcqgSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl DvcqgSim {
    /// Starts a simulator on an ephemeral loopback port with default credentials.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SimCredentials::default()).await
    }

    /// Starts a simulator with the given credentials.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start_with(creds: SimCredentials) -> std::io::Result<Self> {
        Self::start_inner(creds, None).await
    }

    /// Starts a simulator serving HTTPS with `tls` (which may require client certificates);
    /// its base URL is `https://localhost:PORT`.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start_tls(
        creds: SimCredentials,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        Self::start_inner(creds, Some(tls)).await
    }

    async fn start_inner(
        creds: SimCredentials,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let base_url = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let shared = Arc::new(Shared {
            creds,
            inner: Mutex::new(Inner::default()),
            started: std::time::Instant::now(),
            signature_key: Mutex::new(None),
            base_url,
        });
        let app = Router::new()
            .route("/api/auth", post(login))
            .route("/api/service", post(service))
            .route("/lgsp/token", post(token))
            .route("/lgsp/token/{user}", axum::routing::get(platform_token))
            .route("/lgsp/hoso/create", post(lgsp_create))
            .route("/lgsp/hoso/update", post(lgsp_update))
            .route("/lgsp/tiendo", post(lgsp_progress))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                check_signature,
            ))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = match tls {
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            }),
            Some(config) => tokio::spawn(serve_tls(listener, app, config, stopped)),
        };
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (or `https://localhost:PORT` when started with TLS).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The credentials it accepts.
    pub fn credentials(&self) -> &SimCredentials {
        &self.shared.creds
    }

    /// From now on, requests must be signed (RFC 9421 over `Content-Digest`) with this key;
    /// others get 401 and are recorded as `unsigned`.
    pub fn require_signatures(&self, key: VerifyingKey) {
        *self
            .shared
            .signature_key
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(key);
    }

    /// Replaces the fault plan.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    /// Changes the fault plan in place.
    pub fn update_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.shared.lock().faults);
    }

    /// Invalidates every session and token, as a portal restart would.
    pub fn expire_sessions(&self) {
        let mut inner = self.shared.lock();
        inner.sessions.clear();
        inner.tokens.clear();
    }

    /// The latest HoSo received for a dossier.
    pub fn hoso(&self, code: &str) -> Option<Value> {
        self.shared.lock().hoso.get(code).cloned()
    }

    /// All dossier codes received.
    pub fn dossier_codes(&self) -> Vec<String> {
        self.shared.lock().hoso.keys().cloned().collect()
    }

    /// How many times a dossier was synchronised (created or updated).
    pub fn syncs(&self, code: &str) -> u32 {
        self.shared.lock().syncs.get(code).copied().unwrap_or(0)
    }

    /// Waits until dossier `code` has at least `n` progress entries, or `within` passes.
    pub async fn wait_progress(&self, code: &str, n: usize, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.progress(code).len() >= n {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.progress(code).len() >= n
    }

    /// Progress entries of a dossier, in arrival order (duplicates included).
    pub fn progress(&self, code: &str) -> Vec<Value> {
        self.shared
            .lock()
            .progress
            .get(code)
            .cloned()
            .unwrap_or_default()
    }

    /// The notes (`NoiDungXuLy`) of a dossier's progress entries in the order each first
    /// arrived: a resent entry does not count again, so this is the order the portal saw.
    pub fn distinct_progress_notes(&self, code: &str) -> Vec<String> {
        let mut notes: Vec<String> = Vec::new();
        for p in self.progress(code) {
            if let Some(note) = p["NoiDungXuLy"].as_str()
                && !notes.iter().any(|n| n == note)
            {
                notes.push(note.to_owned());
            }
        }
        notes
    }

    /// Sizes of each accepted progress call, in order.
    pub fn progress_batch_sizes(&self) -> Vec<usize> {
        self.shared.lock().progress_calls.clone()
    }

    /// Every call answered, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// Stops the simulator and waits for it.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

impl Drop for DvcqgSim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn pause(shared: &Shared) {
    let latency = shared.lock().faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

async fn login(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    pause(&s).await;
    if let Some(kind) = s.injected("login") {
        return failure(kind);
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok =
        v["username"] == s.creds.username.as_str() && v["password"] == s.creds.password.as_str();
    let mut inner = s.lock();
    if !ok {
        s.record(&mut inner, "login", "auth");
        return answer(1, "Sai tên đăng nhập hoặc mật khẩu");
    }
    inner.next_id += 1;
    let session = format!("phien-{}-{}", inner.next_id, uuid::Uuid::now_v7().simple());
    inner.sessions.insert(session.clone());
    s.record(&mut inner, "login", "ok");
    axum::Json(json!({ "error_code": 0, "message": "Đăng nhập thành công", "session": session }))
        .into_response()
}

fn expired(s: &Shared, inner: &mut Inner, service: &str) -> Response {
    s.record(inner, service, "auth");
    if inner.faults.expired_as_error_code {
        answer(401, "Phiên làm việc đã hết hạn")
    } else {
        (StatusCode::UNAUTHORIZED, "session expired").into_response()
    }
}

/// Checks one HoSo the way the portal's validation would; `Err` is the refusal message.
fn check_hoso(h: &Value, rejected: &BTreeSet<String>) -> Result<String, String> {
    let code = h["MaHoSo"].as_str().unwrap_or_default().to_owned();
    for f in [
        "MaHoSo",
        "MaTTHC",
        "ChuHoSo",
        "TrangThaiHoSo",
        "NgayTiepNhan",
        "KenhThucHien",
    ] {
        if h.get(f).is_none_or(|v| v.is_null() || v == "") {
            return Err(format!("Dữ liệu không hợp lệ: thiếu {f}"));
        }
    }
    let date_ok = h["NgayTiepNhan"]
        .as_str()
        .is_some_and(|d| d.len() == 14 && d.bytes().all(|b| b.is_ascii_digit()));
    if !date_ok {
        return Err("Dữ liệu không hợp lệ: NgayTiepNhan phải có dạng yyyyMMddHHmmss".into());
    }
    if h["TrichYeuHoSo"]
        .as_str()
        .is_some_and(|t| t.chars().count() > 1000)
    {
        return Err("Dữ liệu không hợp lệ: TrichYeuHoSo quá 1000 ký tự".into());
    }
    if rejected.contains(&code) {
        return Err(format!(
            "Mã thủ tục {} không tồn tại trong Cơ sở dữ liệu quốc gia về TTHC",
            h["MaTTHC"].as_str().unwrap_or_default()
        ));
    }
    Ok(code)
}

/// Applies a sync of dossiers; `updating` false refuses existing dossiers.
fn sync(s: &Shared, inner: &mut Inner, service: &str, updating: bool, data: &[Value]) -> Response {
    for h in data {
        if let Err(msg) = check_hoso(h, &inner.faults.reject_codes) {
            s.record(inner, service, "rejected");
            return answer(2, &msg);
        }
        let code = h["MaHoSo"].as_str().unwrap_or_default();
        if !updating && inner.hoso.contains_key(code) {
            s.record(inner, service, "exists");
            return answer(-3, &format!("Hồ sơ {code} đã tồn tại trên hệ thống"));
        }
    }
    for h in data {
        let code = h["MaHoSo"].as_str().unwrap_or_default().to_owned();
        *inner.syncs.entry(code.clone()).or_default() += 1;
        inner.hoso.insert(code, h.clone());
    }
    s.record(inner, service, "ok");
    answer(0, "Đồng bộ thành công")
}

fn progress(s: &Shared, inner: &mut Inner, service: &str, data: &[Value]) -> Response {
    if data.is_empty() || data.len() > 10 {
        s.record(inner, service, "rejected");
        return answer(5, "Mỗi lần cập nhật từ 1 đến 10 bản ghi");
    }
    for e in data {
        let code = e["MaHoSo"].as_str().unwrap_or_default();
        if !inner.hoso.contains_key(code) {
            s.record(inner, service, "rejected");
            return answer(4, &format!("Hồ sơ {code} không tồn tại"));
        }
        if e.get("TrangThai").is_none_or(Value::is_null)
            || e.get("NguoiXuLy").is_none_or(Value::is_null)
        {
            s.record(inner, service, "rejected");
            return answer(2, "Dữ liệu không hợp lệ: thiếu TrangThai hoặc NguoiXuLy");
        }
    }
    for e in data {
        let code = e["MaHoSo"].as_str().unwrap_or_default().to_owned();
        // The portal shows the dossier at the status of its latest progress entry.
        if let Some(h) = inner.hoso.get_mut(&code) {
            h["TrangThaiHoSo"] = e["TrangThai"].clone();
        }
        inner.progress.entry(code).or_default().push(e.clone());
    }
    inner.progress_calls.push(data.len());
    s.record(inner, service, "ok");
    answer(0, "Cập nhật tiến độ thành công")
}

/// Checks `Content-Digest` and the RFC 9421 signature when signatures are required.
async fn check_signature(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let key = s
        .signature_key
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(key) = key else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let target = format!("{}{}", s.base_url, parts.uri);
    if !crate::signatures::verified(parts.method.as_str(), &target, &parts.headers, &bytes, &key) {
        let mut inner = s.lock();
        s.record(&mut inner, parts.uri.path(), "unsigned");
        return (StatusCode::UNAUTHORIZED, "chữ ký không hợp lệ").into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn service(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    pause(&s).await;
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return (StatusCode::BAD_REQUEST, "JSON không hợp lệ").into_response(),
    };
    let name = v["service"].as_str().unwrap_or_default().to_owned();
    if let Some(kind) = s.injected(&name) {
        return failure(kind);
    }
    let mut inner = s.lock();
    let session = v["session"].as_str().unwrap_or_default();
    if !inner.sessions.contains(session) {
        return expired(&s, &mut inner, &name);
    }
    if headers.get("dstcode").and_then(|h| h.to_str().ok()) != Some(s.creds.dstcode.as_str())
        || v["madonvi"] != s.creds.madonvi.as_str()
    {
        s.record(&mut inner, &name, "rejected");
        return answer(6, "Sai dstcode hoặc madonvi");
    }
    let data: Vec<Value> = v["data"].as_array().cloned().unwrap_or_default();
    match name.as_str() {
        "TraCuuHoSo" => {
            let code = v["mahoso"].as_str().unwrap_or_default();
            let result: Vec<Value> = inner.hoso.get(code).cloned().into_iter().collect();
            s.record(&mut inner, &name, "ok");
            axum::Json(json!({ "error_code": 0, "message": "OK", "result": result }))
                .into_response()
        }
        "DongBoHoSoMC" => {
            let updating = match v["isUpdating"].as_str() {
                Some("True") => true,
                Some("False") => false,
                _ => {
                    s.record(&mut inner, &name, "rejected");
                    return answer(2, "isUpdating phải là \"True\" hoặc \"False\"");
                }
            };
            sync(&s, &mut inner, &name, updating, &data)
        }
        "CapNhatTienDoHoSoMC" => progress(&s, &mut inner, &name, &data),
        other => {
            s.record(&mut inner, other, "rejected");
            answer(9, &format!("Dịch vụ {other} không được hỗ trợ"))
        }
    }
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    pause(&s).await;
    if let Some(kind) = s.injected("token") {
        return failure(kind);
    }
    let mut inner = s.lock();
    let grant = form.get("grant_type").map(String::as_str) == Some("client_credentials");
    let ok = match &s.creds.lgsp_access {
        LgspAccess::ClientCredentials => {
            grant
                && form.get("client_id") == Some(&s.creds.client_id)
                && form.get("client_secret") == Some(&s.creds.client_secret)
        }
        LgspAccess::AccessToken(values) => grant && lgspaccesstoken_ok(&headers, values),
        LgspAccess::PlatformToken { .. } => false,
    };
    if !ok {
        s.record(&mut inner, "token", "auth");
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let t = format!("tok-{}", uuid::Uuid::now_v7().simple());
    inner.tokens.insert(t.clone());
    s.record(&mut inner, "token", "ok");
    axum::Json(json!({ "access_token": t, "token_type": "Bearer", "expires_in": s.creds.token_lifetime_secs }))
        .into_response()
}

/// Variant B's token: `GET /lgsp/token/{user}` with `lgspaccesstoken` and the platform's key.
async fn platform_token(
    State(s): State<Arc<Shared>>,
    axum::extract::Path(user): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    pause(&s).await;
    if let Some(kind) = s.injected("token") {
        return failure(kind);
    }
    let mut inner = s.lock();
    let ok = match &s.creds.lgsp_access {
        LgspAccess::PlatformToken {
            values,
            platform_key,
            user_id,
        } => {
            lgspaccesstoken_ok(&headers, values)
                && headers
                    .get("x-authentication-token")
                    .and_then(|v| v.to_str().ok())
                    == Some(platform_key.as_str())
                && user == *user_id
        }
        _ => false,
    };
    if !ok {
        s.record(&mut inner, "token", "auth");
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "message": "Sai thông tin xác thực" })),
        )
            .into_response();
    }
    let t = format!("ptok-{}", uuid::Uuid::now_v7().simple());
    inner.tokens.insert(t.clone());
    s.record(&mut inner, "token", "ok");
    axum::Json(json!({ "data": { "token": t } })).into_response()
}

async fn lgsp(s: Arc<Shared>, op: &str, headers: HeaderMap, body: Bytes) -> Response {
    pause(&s).await;
    let service = format!("lgsp:{op}");
    if let Some(kind) = s.injected(&service) {
        return failure(kind);
    }
    let mut inner = s.lock();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let platform = headers
        .get("x-authentication-token")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let authorized = match &s.creds.lgsp_access {
        LgspAccess::ClientCredentials => inner.tokens.contains(bearer),
        LgspAccess::AccessToken(values) => {
            inner.tokens.contains(bearer) && lgspaccesstoken_ok(&headers, values)
        }
        LgspAccess::PlatformToken { values, .. } => {
            inner.tokens.contains(platform) && lgspaccesstoken_ok(&headers, values)
        }
    };
    if !authorized {
        s.record(&mut inner, &service, "auth");
        return (StatusCode::UNAUTHORIZED, "invalid token").into_response();
    }
    let Ok(Value::Array(data)) = serde_json::from_slice::<Value>(&body) else {
        s.record(&mut inner, &service, "rejected");
        return axum::Json(json!({ "error_code": "2", "message": "Dữ liệu phải là mảng JSON" }))
            .into_response();
    };
    match op {
        "create" => sync(&s, &mut inner, &service, false, &data),
        "update" => sync(&s, &mut inner, &service, true, &data),
        _ => progress(&s, &mut inner, &service, &data),
    }
}

async fn lgsp_create(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    lgsp(s, "create", headers, body).await
}

async fn lgsp_update(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    lgsp(s, "update", headers, body).await
}

async fn lgsp_progress(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    lgsp(s, "progress", headers, body).await
}

/// Accepts TLS connections (handshake failures are counted as `tls-refused` calls) and serves
/// the simulator's routes on each.
pub(crate) async fn serve_tls(
    listener: TcpListener,
    app: Router,
    config: Arc<rustls::ServerConfig>,
    mut stopped: oneshot::Receiver<()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let tcp = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
        });
    }
}
