//! Running the real `lienthong` binary from tests: configuration, start, readiness, kill -9,
//! SIGTERM, and small HTTP helpers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::DvcqgSim;

/// The `lienthong` binary: `LIENTHONG_BIN`, else next to the test executable's profile directory
/// (`target/<profile>/lienthong`, built by `scripts/test`).
///
/// Panics when it does not exist, saying how to build it.
pub fn lienthong_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LIENTHONG_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // Beside a tool of target/<profile>/, or one level up from a test in target/<profile>/deps.
    let beside = exe.with_file_name("lienthong");
    if beside.exists() {
        return beside;
    }
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let bin = profile_dir.join("lienthong");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p lienthong` (scripts/test does)",
        bin.display()
    );
    bin
}

/// Panics unless the `lienthong` binary was built with the `test-hooks` feature (its
/// `--version` says so), which the crash tests' fault injection needs.
pub fn assert_test_hooks() {
    let out = std::process::Command::new(lienthong_bin())
        .arg("--version")
        .output()
        .expect("lienthong --version");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains("(test hooks)"),
        "{} was built without the test hooks (`{}`): build it with `cargo build --workspace --bins --features lienthong/test-hooks` (scripts/test does)",
        lienthong_bin().display(),
        version.trim()
    );
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `lienthong ARGS…` to completion: (success, stdout, stderr).
///
/// Panics when the binary cannot be started.
pub fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(lienthong_bin())
        .args(args)
        .env_remove("LIENTHONG_BIN")
        .output()
        .expect("run lienthong");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A free loopback port for a gateway child process, which binds it a moment later.
///
/// Taken below the kernel's ephemeral range (Linux: from 32768), so the simulators and clients
/// of tests running beside this one, which bind port 0, cannot be handed the same port in
/// between (a port released by `bind(0)` was seen taken by a simulator before the gateway bound
/// it). Ports handed out are remembered, so two tests of this process never get the same one.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    // Start where this process's id points, so concurrent test processes rarely meet.
    let span = 12_000u32;
    let start = std::process::id() % span;
    for i in 0..span {
        let port = u16::try_from(20_000 + (start + i * 7) % span).expect("below 32768");
        let mut g = given.lock().unwrap_or_else(|p| p.into_inner());
        if g.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            g.insert(port);
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

/// The `[attachments]` section for the example dossiers: their files lie in these document
/// stores (never fetched by the tests that use it; a test that fetches files starts a
/// [`crate::file_server::FileServer`] and uses its own section). Added to a configuration that
/// has none, since an empty allowlist refuses every dossier that names a file.
pub const EXAMPLE_ATTACHMENTS: &str = r#"
[attachments]
allowed_urls = ["https://motcua.ninhbinh.gov.vn/files/", "https://motcua.example.vn/files/", "https://motcua.ninhbinh.example.vn/files/", "https://phuly.example.vn/files/"]
"#;

/// Settings of a test gateway's configuration.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// `session` or `lgsp`.
    pub transport: String,
    /// `[destinations.dvcqg.retry]` body.
    pub retry: String,
    /// `[destinations.dvcqg.circuit_breaker]` body.
    pub breaker: String,
    /// Extra keys of `[destinations.dvcqg]`.
    pub dvcqg_extra: String,
    /// Extra keys of `[server]`.
    pub server_extra: String,
    /// `concurrency` of the destination.
    pub concurrency: usize,
    /// `store.url` (default: a SQLite file in the test's directory).
    pub store_url: Option<String>,
    /// Extra keys of `[store]`.
    pub store_extra: String,
    /// Extra keys of `[dispatcher]`.
    pub dispatcher_extra: String,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            transport: "session".into(),
            retry: "initial = \"100ms\"\nmultiplier = 2.0\nmax_delay = \"1s\"\nmax_attempts = 100\nmax_age = \"1h\"\n".into(),
            breaker: "failures = 50\ncool_down = \"500ms\"\nmax_cool_down = \"1s\"\n".into(),
            dvcqg_extra: String::new(),
            server_extra: String::new(),
            concurrency: 8,
            store_url: None,
            store_extra: String::new(),
            dispatcher_extra: String::new(),
        }
    }
}

impl TestConfig {
    /// The TOML text for a store in `dir`, listening on `port`, delivering to `sim`.
    pub fn render(&self, dir: &Path, port: u16, sim: &DvcqgSim) -> String {
        let c = sim.credentials();
        let base = sim.base_url();
        // A store outside the test's directory (PostgreSQL): the generated tokens' copies still
        // go to the test's directory, not to the machine's /var/lib/lienthong.
        let state_dir = if self.store_url.is_some() && !self.server_extra.contains("state_dir") {
            format!("state_dir = \"{}\"\n", dir.display())
        } else {
            String::new()
        };
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "5s"
{state_dir}{server_extra}

[store]
url = "{store_url}"
{store_extra}

[center]
agency_code = "000.02.01.H37"
agency_name = "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình"

[dispatcher]
poll_interval = "50ms"
{dispatcher_extra}

[log]
level = "info"

[destinations.dvcqg]
kind = "dvcqg"
transport = "{transport}"
base_url = "{base}"
username = "{user}"
password = "{pass}"
madonvi = "{madonvi}"
dstcode = "{dstcode}"
token_url = "{base}/lgsp/token"
client_id = "{client_id}"
client_secret = "{client_secret}"
create_url = "{base}/lgsp/hoso/create"
update_url = "{base}/lgsp/hoso/update"
progress_url = "{base}/lgsp/tiendo"
timeout = "3s"
concurrency = {concurrency}
{dvcqg_extra}

[destinations.dvcqg.retry]
{retry}

[destinations.dvcqg.circuit_breaker]
{breaker}

[[routes]]
procedure_prefix = ""
destinations = ["dvcqg"]
{attachments}"#,
            server_extra = self.server_extra,
            store_url = self
                .store_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", dir.join("lienthong.db").display())),
            store_extra = self.store_extra,
            attachments = EXAMPLE_ATTACHMENTS,
            dispatcher_extra = self.dispatcher_extra,
            transport = self.transport,
            user = c.username,
            pass = c.password,
            madonvi = c.madonvi,
            dstcode = c.dstcode,
            client_id = c.client_id,
            client_secret = c.client_secret,
            concurrency = self.concurrency,
            dvcqg_extra = self.dvcqg_extra,
            retry = self.retry,
            breaker = self.breaker,
        )
    }
}

/// A running `lienthong serve` child process.
pub struct Gateway {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The configuration file.
    pub config_path: PathBuf,
    /// Where its stderr goes.
    pub log_path: PathBuf,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The admin token in force (configured, or generated at the first start), when there is
    /// one: [`Gateway::get`] and the other helpers send it on admin paths.
    pub admin_token: Option<String>,
    /// The center's token in force, sent on the center's API (`/v1/dossiers…`, `/v1/stats`,
    /// `/v1/schema`).
    pub center_token: Option<String>,
}

/// The token in force for `role` (`admin`, `center`) of the gateway configured by `config`, as
/// `lienthong tokens show` prints it; `None` when that API has none.
pub fn token_of(config: &Path, role: &str) -> Option<String> {
    let config = config.to_str()?;
    let (ok, out, _) = run_cli(&["tokens", "show", role, "--config", config]);
    ok.then(|| out.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Whether `path` belongs to the center's API (the center's token), rather than the admin API.
pub fn is_center_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    ["/v1/dossiers", "/v1/stats", "/v1/schema"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

impl Gateway {
    /// Writes `config` to `dir/lienthong.toml` and starts `lienthong serve` on it, waiting until
    /// `/readyz` answers.
    ///
    /// Panics if it does not become ready within 30 s (printing its log).
    pub async fn start(dir: &Path, config: &str) -> Self {
        Self::start_with_client(dir, config, "http", reqwest::Client::new(), &[]).await
    }

    /// Like [`Gateway::start`] for a gateway serving HTTPS: `client` must trust its certificate
    /// (and present a client certificate if `/readyz` needs one); `base_url` is
    /// `https://localhost:PORT`.
    pub async fn start_tls(dir: &Path, config: &str, client: reqwest::Client) -> Self {
        Self::start_with_client(dir, config, "https", client, &[]).await
    }

    /// Like [`Gateway::start`] with extra environment variables (fault injection).
    ///
    /// Panics when a crash is asked of a binary built without the test hooks.
    pub async fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        if env
            .iter()
            .any(|(k, _)| *k == "LIENTHONG_TEST_CRASH_AFTER_COMMIT")
        {
            assert_test_hooks();
        }
        Self::start_with_client(dir, config, "http", reqwest::Client::new(), env).await
    }

    /// Like [`Gateway::start_tls`] with extra environment variables (fault injection).
    pub async fn start_tls_with_env(
        dir: &Path,
        config: &str,
        client: reqwest::Client,
        env: &[(&str, &str)],
    ) -> Self {
        if env
            .iter()
            .any(|(k, _)| *k == "LIENTHONG_TEST_CRASH_AFTER_COMMIT")
        {
            assert_test_hooks();
        }
        Self::start_with_client(dir, config, "https", client, env).await
    }

    async fn start_with_client(
        dir: &Path,
        config: &str,
        scheme: &str,
        http: reqwest::Client,
        env: &[(&str, &str)],
    ) -> Self {
        let config_path = dir.join("lienthong.toml");
        let config = if config.contains("[attachments]") {
            config.to_owned()
        } else {
            format!("{config}{EXAMPLE_ATTACHMENTS}")
        };
        let config = config.as_str();
        std::fs::write(&config_path, config).expect("write config");
        // A loopback listener, or every interface (reached here over loopback).
        let port = config
            .lines()
            .find_map(|l| {
                l.strip_prefix("listen = \"127.0.0.1:")
                    .or_else(|| l.strip_prefix("listen = \"0.0.0.0:"))
            })
            .and_then(|r| r.split('"').next()?.parse::<u16>().ok())
            .expect("config listens on 127.0.0.1:PORT or 0.0.0.0:PORT");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("gateway.log"))
            .expect("log file");
        let child = Command::new(lienthong_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("LIENTHONG_LOG", "info")
            // The harness's own variable, not a configuration override (LIENTHONG_<SECTION>).
            .env_remove("LIENTHONG_BIN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn lienthong");
        let host = if scheme == "https" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let mut gw = Self {
            child: Some(child),
            base_url: format!("{scheme}://{host}:{port}"),
            config_path,
            log_path: dir.join("gateway.log"),
            http,
            admin_token: None,
            center_token: None,
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = gw.http.get(format!("{}/readyz", gw.base_url)).send().await
                && r.status().is_success()
            {
                // Ready means the generated tokens are kept: read them as an operator would.
                gw.admin_token = token_of(&gw.config_path, "admin");
                gw.center_token = token_of(&gw.config_path, "center");
                return gw;
            }
            if let Some(c) = gw.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("lienthong exited during start-up ({status}):\n{}", gw.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "lienthong not ready in 30 s:\n{}",
                gw.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `r` with the admin token as its bearer token (when there is one).
    pub fn admin(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.admin_token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// `r` with the center's token as its bearer token (when there is one).
    pub fn center(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.center_token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// A plain-HTTP client that sends the center's token with every request (for load that goes
    /// only to the center's API).
    ///
    /// Panics when the client cannot be built.
    pub fn center_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .default_headers(self.center_headers())
            .build()
            .expect("client")
    }

    /// `Authorization: Bearer <center token>` (empty when there is none), for a client built
    /// with other settings.
    ///
    /// Panics when the token is not a header value (it is hex).
    pub fn center_headers(&self) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &self.center_token {
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .expect("a token is a header value");
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        headers
    }

    /// `r` to `path` with the token its API needs: the center's on the center's API, the admin
    /// token elsewhere.
    pub fn authorized(&self, path: &str, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if is_center_path(path) {
            self.center(r)
        } else {
            self.admin(r)
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends a signal (`HUP`, `TERM`…) to the process.
    pub fn signal(&self, name: &str) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{name}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Waits until the log contains `text` `count` times (panics after 20 s).
    pub async fn wait_for_log(&self, text: &str, count: usize) {
        let start = Instant::now();
        while self.log().matches(text).count() < count {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "log never showed {text:?} {count} times:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL (no shutdown at all) and waits for it.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.expect("kill -9");
        }
    }

    /// Waits (at most 10 s) for the process to exit by itself, e.g. after an injected crash.
    ///
    /// Panics if it is still running.
    pub async fn wait_exit(&mut self) {
        if let Some(mut c) = self.child.take() {
            let status = tokio::time::timeout(Duration::from_secs(10), c.wait()).await;
            assert!(status.is_ok(), "still running:\n{}", self.log());
        }
    }

    /// Sends SIGTERM and waits for the exit code.
    pub async fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let pid = c.id()?;
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let status = tokio::time::timeout(Duration::from_secs(30), c.wait())
            .await
            .ok()?
            .ok()?;
        status.code()
    }

    /// `POST path` with a JSON body; returns status and parsed body (Null when not JSON).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    /// `PUT path` with a JSON body; returns status and parsed body (Null when not JSON).
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .authorized(
                path,
                self.http
                    .request(method.clone(), format!("{}{path}", self.base_url)),
            )
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .authorized(path, self.http.get(format!("{}{path}", self.base_url)))
            .send()
            .await
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The Prometheus exposition text of `/metrics`.
    ///
    /// Panics when it cannot be read.
    pub async fn metrics(&self) -> String {
        self.admin(self.http.get(format!("{}/metrics", self.base_url)))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Every delivery (admin API).
    pub async fn deliveries(&self) -> Vec<Value> {
        let (_, v) = self.get("/v1/deliveries?limit=10000").await;
        v["deliveries"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `check` holds on the deliveries, polling; panics with the log after `limit`.
    pub async fn wait_deliveries(
        &self,
        limit: Duration,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let all = self.deliveries().await;
            if check(&all) {
                return all;
            }
            if start.elapsed() > limit {
                let states: Vec<String> = all
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {} {} {}",
                            d["dossier_code"], d["kind"], d["state"], d["last_error"]
                        )
                    })
                    .collect();
                panic!(
                    "timed out waiting for {what}; deliveries:\n{}\nlog:\n{}",
                    states.join("\n"),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// True when every delivery is delivered.
pub fn all_delivered(all: &[Value]) -> bool {
    !all.is_empty() && all.iter().all(|d| d["state"] == "delivered")
}

/// Polls `check` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// An example from the repository's `examples/` folder, built into the binary so that the demo
/// runs from anywhere.
///
/// Panics for a name that is not one of the examples.
pub fn example(name: &str) -> Value {
    let text = match name {
        "dossier-business-registration.json" => {
            include_str!("../../../examples/dossier-business-registration.json")
        }
        "dossier-civil-status-interlevel.json" => {
            include_str!("../../../examples/dossier-civil-status-interlevel.json")
        }
        "dossier-investment.json" => include_str!("../../../examples/dossier-investment.json"),
        "event-processing.json" => include_str!("../../../examples/event-processing.json"),
        other => panic!("{other} is not one of the examples"),
    };
    serde_json::from_str(text).expect("example JSON")
}
