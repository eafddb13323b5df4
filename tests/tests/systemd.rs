//! The service manager's protocol, against the real binary: `NOTIFY_SOCKET` points at a test
//! datagram socket standing in for systemd, which records every notification. Checked: `READY=1`
//! once serving, `WATCHDOG=1` pings at the pace `WATCHDOG_USEC` asks, `RELOADING=1` with
//! `MONOTONIC_USEC` then `READY=1` around a SIGHUP reload (a valid config applied — new
//! credentials take effect —, a broken one refused while the old one keeps delivering),
//! readiness reporting the last reload, and `STOPPING=1` at SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{
    Gateway, TestConfig, all_delivered, eventually, example, free_port,
};
use serde_json::Value;

/// A stand-in for systemd's notification socket: every datagram received, with when.
struct NotifySocket {
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl NotifySocket {
    fn bind(path: &Path) -> Self {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        let received: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let sink = received.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().expect("lock").push((Instant::now(), text));
            }
        });
        Self { received }
    }

    fn messages(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }

    fn count(&self, line: &str) -> usize {
        self.messages()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }

    /// Instants of the messages holding `line`.
    fn times(&self, line: &str) -> Vec<Instant> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, m)| m.lines().any(|l| l == line))
            .map(|(t, _)| *t)
            .collect()
    }

    async fn wait(&self, line: &str, n: usize) {
        assert!(
            eventually(Duration::from_secs(20), || self.count(line) >= n).await,
            "never got {line:?} {n} times; got {:?}",
            self.messages()
        );
    }
}

fn dossier(code: &str) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = Value::String(code.into());
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_ready_watchdog_reload_and_stopping() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let good = TestConfig::default().render(dir.path(), port, &sim);
    let password = &sim.credentials().password;
    let wrong_password = good.replace(
        &format!("password = \"{password}\""),
        "password = \"not-the-password\"",
    );
    assert_ne!(wrong_password, good, "the config names the password");

    let socket_path = dir.path().join("notify.sock");
    let notify = NotifySocket::bind(&socket_path);
    // A 2 s watchdog: the dispatcher must ping at least every 1 s to be safe.
    let mut gw = Gateway::start_with_env(
        dir.path(),
        &wrong_password,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8 path")),
            ("WATCHDOG_USEC", "2000000"),
        ],
    )
    .await;
    notify.wait("READY=1", 1).await;
    let ready = notify
        .messages()
        .into_iter()
        .find(|m| m.lines().any(|l| l == "READY=1"))
        .expect("ready message");
    assert!(
        ready.lines().any(|l| l.starts_with("STATUS=")),
        "READY=1 carries a STATUS line: {ready:?}"
    );
    let (status, body) = gw.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["last_reload"].is_null(), "no reload yet: {body}");

    // Watchdog: pings keep coming, spaced well inside the 2 s interval.
    notify.wait("WATCHDOG=1", 6).await;
    let pings = notify.times("WATCHDOG=1");
    let widest = pings
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .expect("two pings");
    assert!(
        widest < Duration::from_millis(1500),
        "pings must come well within the watchdog interval, widest gap {widest:?}"
    );

    // The portal refuses the configured password: the dossier waits in retries.
    let (s, v) = gw.post("/v1/dossiers", &dossier("RELOAD-1")).await;
    assert_eq!(s, 202, "{v}");
    assert!(
        eventually(Duration::from_secs(10), || sim
            .calls()
            .iter()
            .any(|c| c.answer == "auth"))
        .await,
        "the wrong password is tried"
    );
    assert!(sim.hoso("RELOAD-1").is_none());

    // A valid new configuration with the right password: SIGHUP applies it.
    std::fs::write(&gw.config_path, &good).expect("write config");
    gw.signal("HUP");
    notify.wait("RELOADING=1", 1).await;
    notify.wait("READY=1", 2).await;
    let reloading = notify
        .messages()
        .into_iter()
        .find(|m| m.lines().any(|l| l == "RELOADING=1"))
        .expect("reloading message");
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .expect("RELOADING=1 carries MONOTONIC_USEC")
        .parse()
        .expect("a number of microseconds");
    assert!(usec > 0);
    gw.wait_for_log("configuration reloaded", 1).await;
    gw.wait_deliveries(
        Duration::from_secs(20),
        "delivered with the reloaded password",
        all_delivered,
    )
    .await;
    assert!(sim.hoso("RELOAD-1").is_some());
    // Not a terminal: the log is one JSON object per line, and the attempt's lines carry the
    // dossier code and the message id.
    let log = gw.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 5, "{log}");
    let attempt = lines
        .iter()
        .find(|l| l["span"]["dossier"] == "RELOAD-1")
        .unwrap_or_else(|| panic!("no delivery line of RELOAD-1:\n{log}"));
    assert!(attempt["span"]["message"].is_string(), "{attempt}");
    assert!(
        !log.contains("not-the-password") && !log.contains(password.as_str()),
        "no password in the log"
    );
    let (_, body) = gw.get("/readyz").await;
    assert_eq!(body["last_reload"]["outcome"], "applied", "{body}");

    // A broken configuration: refused with its reason, the old one keeps delivering.
    let broken = good.replace(
        "kind = \"dvcqg\"",
        "kind = \"dvcqg\"\nmappings_dir = \"/nonexistent/lienthong-mappings\"",
    );
    std::fs::write(&gw.config_path, &broken).expect("write config");
    gw.signal("HUP");
    notify.wait("RELOADING=1", 2).await;
    notify.wait("READY=1", 3).await;
    gw.wait_for_log("reload refused", 1).await;
    assert!(
        gw.log().contains("/nonexistent/lienthong-mappings"),
        "the reason names the bad path"
    );
    let (status, body) = gw.get("/readyz").await;
    assert_eq!(status, 200, "still ready on the old configuration: {body}");
    assert_eq!(body["last_reload"]["outcome"], "refused", "{body}");
    assert!(
        body["last_reload"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("mappings_dir")),
        "{body}"
    );
    let (s, v) = gw.post("/v1/dossiers", &dossier("RELOAD-2")).await;
    assert_eq!(s, 202, "{v}");
    gw.wait_deliveries(
        Duration::from_secs(20),
        "delivered on the old configuration",
        |all| all.len() == 2 && all_delivered(all),
    )
    .await;
    // The admin API reload gives the same refusal as a problem.
    let r = gw
        .admin(gw.http.post(format!("{}/v1/admin/reload", gw.base_url)))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 422);

    // Pings went on through both reloads.
    let before = notify.count("WATCHDOG=1");
    notify.wait("WATCHDOG=1", before + 2).await;

    // SIGTERM: STOPPING=1, then a clean exit.
    assert_eq!(gw.terminate().await, Some(0));
    assert!(notify.count("STOPPING=1") >= 1, "{:?}", notify.messages());
    let stopping = notify.times("STOPPING=1")[0];
    assert!(
        notify
            .times("WATCHDOG=1")
            .iter()
            .all(|t| *t <= stopping + Duration::from_secs(1)),
        "no pings long after STOPPING=1"
    );
}
