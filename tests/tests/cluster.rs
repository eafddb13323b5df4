//! Several instances sharing the work on one PostgreSQL database (issue 6): three `lienthong`
//! processes take 5,000 dossiers with their events from clients spread over them (as a load
//! balancer would), one is killed with SIGKILL mid-run, and the other two finish its leased work
//! once the leases run out. Checked at the portal simulator: every message delivered, each
//! dossier before its progress and the progress in event order, nothing delivered twice except
//! what the killed instance had in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use lienthong_tests::postgres::TestDatabase;
use serde_json::{Value, json};

const DOSSIERS: usize = 5000;
const EVENTS: usize = 2;
const CLIENTS: usize = 24;
const INSTANCES: usize = 3;

fn code(n: usize) -> String {
    format!("000.02.01.H37-261201-{n:05}")
}

fn dossier(n: usize) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = json!(code(n));
    d
}

fn event(n: usize, k: usize) -> Value {
    let status = ["processing", "processed"][k];
    json!({ "id": format!("ev-{n}-{k}"), "at": "2026-12-01T14:30:00+07:00", "status": status,
            "actor": { "name": "Nguyễn Văn Hùng" }, "note": format!("{n}/{k}") })
}

/// Posts `body` to the first instance, from `first`, that takes it (2xx); an instance that is
/// down or answers 5xx is skipped, as a load balancer would, until one takes it.
async fn post_somewhere(
    http: &reqwest::Client,
    bases: &[String],
    alive: &[AtomicBool],
    first: usize,
    path: &str,
    body: &Value,
) {
    for round in 0.. {
        for i in 0..bases.len() {
            let at = (first + i) % bases.len();
            if !alive[at].load(Ordering::SeqCst) {
                continue;
            }
            match http
                .post(format!("{}{path}", bases[at]))
                .json(body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return,
                Ok(r) if r.status().is_server_error() => {}
                Ok(r) => panic!("{path}: {} {:?}", r.status(), r.text().await),
                Err(_) => {}
            }
        }
        assert!(round < 200, "{path}: no instance took it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_work_and_finish_a_killed_ones_leases() {
    let db = TestDatabase::create().await;
    let sim = DvcqgSim::start().await.expect("sim");
    // A portal slow enough that the queue builds up and every instance has work in flight.
    sim.update_faults(|f| f.latency = Duration::from_millis(10));
    let dirs: Vec<tempfile::TempDir> = (0..INSTANCES)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let mut gateways = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let config = TestConfig {
            concurrency: 6,
            store_url: Some(db.url.clone()),
            store_extra: "max_connections = 8\n".into(),
            // Renewed every third while an attempt runs: a margin of seconds on a busy machine.
            dispatcher_extra: "lease = \"5s\"\n".into(),
            server_extra: format!("instance = \"node-{i}\"\n"),
            ..TestConfig::default()
        }
        .render(dir.path(), free_port(), &sim);
        gateways.push(Gateway::start(dir.path(), &config).await);
    }
    let bases: Arc<Vec<String>> = Arc::new(gateways.iter().map(|g| g.base_url.clone()).collect());
    let alive: Arc<Vec<AtomicBool>> =
        Arc::new((0..INSTANCES).map(|_| AtomicBool::new(true)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, bases, alive, next, acknowledged) = (
            http.clone(),
            bases.clone(),
            alive.clone(),
            next.clone(),
            acknowledged.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= DOSSIERS {
                    break;
                }
                let at = (n + c) % INSTANCES;
                post_somewhere(&http, &bases, &alive, at, "/v1/dossiers", &dossier(n)).await;
                for k in 0..EVENTS {
                    let path = format!("/v1/dossiers/{}/events", code(n));
                    post_somewhere(&http, &bases, &alive, at + k + 1, &path, &event(n, k)).await;
                }
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    // Mid-run, once node-0 holds leased work: kill it.
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let in_flight_of = |owner: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT dossier_code FROM deliveries WHERE state = 'in_flight' AND lease_owner = $1",
            )
            .bind(owner)
            .fetch_all(&pool)
            .await
            .expect("query")
        }
    };
    let mut waited = 0;
    while acknowledged.load(Ordering::SeqCst) < DOSSIERS / 3 {
        waited += 1;
        assert!(waited < 6000, "a third of the dossiers never got accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Slow the portal down so that what node-0 holds is still in flight when it is killed: with
    // 10 ms answers, an attempt seen in flight could finish between the query and the kill.
    sim.update_faults(|f| f.latency = Duration::from_millis(1500));
    tokio::time::sleep(Duration::from_millis(100)).await;
    while in_flight_of("node-0").await.is_empty() {
        waited += 1;
        assert!(waited < 6000, "node-0 never held work");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    alive[0].store(false, Ordering::SeqCst);
    gateways[0].kill9().await;
    let orphaned: BTreeSet<String> = in_flight_of("node-0").await.into_iter().collect();
    sim.update_faults(|f| f.latency = Duration::from_millis(10));
    assert!(!orphaned.is_empty(), "node-0 died holding leased work");
    let at_kill = acknowledged.load(Ordering::SeqCst);
    assert!(
        at_kill < DOSSIERS,
        "killed mid-run ({at_kill} acknowledged)"
    );

    for c in clients {
        c.await.expect("client");
    }
    assert_eq!(acknowledged.load(Ordering::SeqCst), DOSSIERS);
    eprintln!(
        "{DOSSIERS} dossiers with {EVENTS} events each accepted in {:?} (node-0 killed after {at_kill})",
        started.elapsed()
    );

    // The two survivors deliver everything, node-0's leased messages once its leases ran out.
    let total = i64::try_from(DOSSIERS * (1 + EVENTS)).expect("fits");
    let mut counts: Vec<(String, i64)> = Vec::new();
    for _ in 0..3000 {
        counts = sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("counts");
        if counts == [("delivered".to_owned(), total)] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        counts,
        [("delivered".to_owned(), total)],
        "every message delivered"
    );
    eprintln!("every message delivered after {:?}", started.elapsed());
    let orphans_left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE lease_owner = 'node-0'")
            .fetch_one(&pool)
            .await
            .expect("query");
    assert_eq!(orphans_left, 0, "node-0's leases were taken over");

    // At the portal: every dossier, its progress in event order; twice only across the kill.
    assert_eq!(sim.dossier_codes().len(), DOSSIERS);
    let mut twice = BTreeMap::new();
    for n in 0..DOSSIERS {
        let code = code(n);
        let firsts = sim.distinct_progress_notes(&code);
        let expected: Vec<String> = (0..EVENTS).map(|k| format!("{n}/{k}")).collect();
        assert_eq!(firsts, expected, "dossier {code}: progress in event order");
        let extra =
            sim.syncs(&code).saturating_sub(1) as usize + (sim.progress(&code).len() - EVENTS);
        if extra > 0 {
            twice.insert(code, extra);
        }
    }
    // A second copy is explained by the kill, or by a recorded retry (an attempt whose answer
    // was lost, e.g. a timeout on a busy machine: delivery is at least once). Anything else would
    // be two instances sending the same message.
    let retried: BTreeSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT d.dossier_code FROM attempts a JOIN deliveries d ON d.message_seq = a.message_seq
         WHERE a.decision = 'retry_wait'",
    )
    .fetch_all(&pool)
    .await
    .expect("retried")
    .into_iter()
    .collect();
    for code in twice.keys() {
        assert!(
            orphaned.contains(code) || retried.contains(code),
            "{code} delivered twice ({:?}) without a crash or a retry; lease warnings:\n{}",
            twice[code],
            gateways
                .iter()
                .flat_map(|g| g
                    .log()
                    .lines()
                    .filter(|l| l.contains("lease"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let rejected = sim
        .calls()
        .iter()
        .filter(|c| c.answer == "rejected")
        .count();
    assert_eq!(
        rejected, 0,
        "the portal never saw a progress before its dossier"
    );
    // Every instance delivered its share (the killed one before it died).
    for (i, g) in gateways.iter().enumerate().skip(1) {
        let text = g.metrics().await;
        let delivered: f64 = text
            .lines()
            .find(|l| {
                l.starts_with("lienthong_messages_total{") && l.contains("result=\"delivered\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(delivered > 0.0, "node-{i} delivered nothing:\n{text}");
    }
    for g in &mut gateways[1..] {
        assert_eq!(g.terminate().await, Some(0), "clean stop:\n{}", g.log());
    }
    pool.close().await;
    sim.stop().await;
    db.drop_database().await;
}

/// A destination down for everyone: each instance's circuit opens, and the cluster sends one
/// probe per cool-down between them (the probe is leased in the database), not one per instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_destination_is_probed_once_per_cool_down_across_the_cluster() {
    let db = TestDatabase::create().await;
    let sim = DvcqgSim::start().await.expect("sim");
    sim.update_faults(|f| f.down = true);
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut gateways = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let config = TestConfig {
            concurrency: 2,
            store_url: Some(db.url.clone()),
            breaker: "failures = 2\ncool_down = \"2s\"\nmax_cool_down = \"2s\"\n".into(),
            server_extra: format!("instance = \"node-{i}\"\n"),
            ..TestConfig::default()
        }
        .render(dir.path(), free_port(), &sim);
        gateways.push(Gateway::start(dir.path(), &config).await);
    }
    for n in 0..20 {
        let (status, body) = gateways[n % 2]
            .post("/v1/dossiers", &dossier(90_000 + n))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    for g in &gateways {
        g.wait_for_log("circuit opened", 1).await;
    }
    let injected = || {
        sim.calls()
            .iter()
            .filter(|c| c.answer == "injected")
            .count()
    };
    let before = injected();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let probes = injected() - before;
    // Four cool-downs: about four probes for the cluster (one per instance would be eight).
    assert!(
        (2..=6).contains(&probes),
        "{probes} probes in 8 s with a 2 s cool-down"
    );
    sim.update_faults(|f| f.down = false);
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let mut delivered = 0;
    for _ in 0..300 {
        delivered = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        if delivered == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        delivered, 20,
        "everything delivered once the portal is back"
    );
    for g in &mut gateways {
        assert_eq!(g.terminate().await, Some(0));
    }
    pool.close().await;
    sim.stop().await;
    db.drop_database().await;
}
