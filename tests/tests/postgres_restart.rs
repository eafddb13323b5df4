//! The database restarted under load (issue 6): two `lienthong` instances share a PostgreSQL
//! server of the test's own while clients keep submitting dossiers. The server is restarted
//! (`pg_ctl restart`), then stopped for a while and started again: during the outage intake
//! answers 503 with Retry-After (nothing is said yes to that is not stored), readiness says the
//! store is down, and once the database is back the same processes, never restarted, take
//! intake again and deliver everything accepted before, during and after.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use lienthong_tests::postgres::PrivateServer;
use serde_json::{Value, json};

const DOSSIERS: usize = 400;

fn code(n: usize) -> String {
    format!("000.02.01.H37-261201-R{n:04}")
}

fn dossier(n: usize) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = json!(code(n));
    d
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    accepted: BTreeSet<usize>,
    unavailable: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_answers_503_while_the_database_is_down_and_work_resumes_without_a_restart() {
    let server = PrivateServer::start();
    let sim = DvcqgSim::start().await.expect("sim");
    sim.update_faults(|f| f.latency = Duration::from_millis(10));
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut gateways = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let config = TestConfig {
            concurrency: 4,
            store_url: Some(server.url()),
            store_extra: "acquire_timeout = \"1s\"\nstatement_timeout = \"5s\"\n".into(),
            dispatcher_extra: "lease = \"3s\"\n".into(),
            server_extra: format!("instance = \"node-{i}\"\n"),
            ..TestConfig::default()
        }
        .render(dir.path(), free_port(), &sim);
        gateways.push(Gateway::start(dir.path(), &config).await);
    }
    let pids: Vec<Option<u32>> = gateways.iter().map(Gateway::pid).collect();
    let bases: Arc<Vec<String>> = Arc::new(gateways.iter().map(|g| g.base_url.clone()).collect());

    // Clients submit every dossier until some instance takes it; a 503 must carry Retry-After.
    let next = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    // Both instances accept the center's token the first of them generated (kept in the store).
    assert_eq!(gateways[0].center_token, gateways[1].center_token);
    let http = reqwest::Client::builder()
        .default_headers(gateways[0].center_headers())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut clients = Vec::new();
    for c in 0..8 {
        let (http, bases, next, seen, stop) = (
            http.clone(),
            bases.clone(),
            next.clone(),
            seen.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= DOSSIERS {
                    break;
                }
                for attempt in 0.. {
                    assert!(
                        !stop.load(Ordering::SeqCst) || attempt < 600,
                        "dossier {n} never taken"
                    );
                    let base = &bases[(n + c + attempt) % bases.len()];
                    let r = http
                        .post(format!("{base}/v1/dossiers"))
                        .json(&dossier(n))
                        .send()
                        .await
                        .expect("the gateway answers while the database is down");
                    let status = r.status().as_u16();
                    if (200..300).contains(&status) {
                        seen.lock().expect("lock").accepted.insert(n);
                        break;
                    }
                    assert_eq!(status, 503, "dossier {n}: {:?}", r.text().await);
                    assert!(
                        r.headers().contains_key("retry-after"),
                        "503 without Retry-After"
                    );
                    seen.lock().expect("lock").unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // Keep the load spread over the whole run.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    // Mid-run: pg_ctl restart.
    while next.load(Ordering::SeqCst) < DOSSIERS / 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.pg_ctl("restart");

    // Then an outage long enough to be seen: stopped, intake and readiness say so, started.
    while next.load(Ordering::SeqCst) < DOSSIERS / 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.pg_ctl("stop");
    let probe = http
        .post(format!("{}/v1/dossiers", bases[0]))
        .json(&dossier(DOSSIERS + 1))
        .send()
        .await
        .expect("answered");
    assert_eq!(probe.status().as_u16(), 503);
    assert!(probe.headers().contains_key("retry-after"));
    assert_eq!(
        probe
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // The store's own words (driver, SQL, addresses) stay in the log, under the id the client
    // is given.
    let problem: serde_json::Value = probe.json().await.expect("problem JSON");
    let id = problem["error_id"]
        .as_str()
        .expect("an error id")
        .to_owned();
    let text = problem.to_string().to_lowercase();
    for internal in [
        "pool",
        "postgres",
        "connection",
        "127.0.0.1",
        "sqlx",
        "io error",
    ] {
        assert!(
            !text.contains(internal),
            "{internal:?} sent to the client: {problem}"
        );
    }
    assert!(
        gateways[0].log().contains(&id),
        "error id {id} is not in the log"
    );
    let ready = http
        .get(format!("{}/readyz", bases[1]))
        .send()
        .await
        .expect("answered");
    assert_eq!(ready.status().as_u16(), 503, "not ready without its store");
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.pg_ctl("start");

    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client");
    }
    let (accepted, unavailable) = {
        let s = seen.lock().expect("lock");
        (s.accepted.clone(), s.unavailable)
    };
    assert_eq!(accepted.len(), DOSSIERS, "every dossier taken in the end");
    assert!(
        unavailable > 0,
        "clients met the outage (503 + Retry-After)"
    );

    // Everything accepted is delivered, by the same processes.
    let mut delivered = 0;
    for _ in 0..600 {
        delivered = sim.dossier_codes().len();
        if delivered >= DOSSIERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, DOSSIERS, "every accepted dossier delivered");
    let codes: BTreeSet<String> = sim.dossier_codes().into_iter().collect();
    for n in &accepted {
        assert!(codes.contains(&code(*n)), "{} delivered", code(*n));
    }
    assert!(
        !codes.contains(&code(DOSSIERS + 1)),
        "the dossier answered 503 was not stored"
    );
    for (g, pid) in gateways.iter().zip(&pids) {
        assert_eq!(g.pid(), *pid, "never restarted");
        let (status, _) = g.get("/readyz").await;
        assert_eq!(status, 200, "ready again:\n{}", g.log());
    }
    for g in &mut gateways {
        assert_eq!(g.terminate().await, Some(0), "clean stop:\n{}", g.log());
    }
    sim.stop().await;
    drop(server);
}
