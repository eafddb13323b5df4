//! Crash safety: the binary is killed with SIGKILL while 500 dossiers with events are being
//! submitted and delivered to a slow portal; restarted on the same store, it delivers every
//! accepted dossier and event, keeping per-dossier order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use serde_json::{Value, json};

const DOSSIERS: usize = 500;
const EVENTS: usize = 2;
const CLIENTS: usize = 16;

fn dossier(n: usize) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = json!(format!("000.02.01.H37-261128-{:04}", n));
    d
}

fn event(n: usize, k: usize) -> Value {
    let status = ["processing", "processed"][k];
    json!({ "id": format!("ev-{n}-{k}"), "at": "2026-11-28T14:30:00+07:00", "status": status,
            "actor": { "name": "Nguyễn Văn Hùng" }, "note": format!("{n}/{k}") })
}

/// What the client knows was accepted (answered 2xx).
#[derive(Default)]
struct Accepted {
    dossiers: Vec<usize>,
    events: BTreeMap<usize, usize>,
}

/// Submits dossier `n` and its events; stops at the first failure (the gateway died).
/// Returns how far it got: None = dossier not acknowledged, Some(k) = dossier and k events.
async fn submit(
    http: &reqwest::Client,
    base: &str,
    n: usize,
    from: Option<usize>,
) -> Option<usize> {
    if from.is_none() {
        let r = http
            .post(format!("{base}/v1/dossiers"))
            .json(&dossier(n))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
    }
    let code = dossier(n)["code"].as_str().unwrap_or_default().to_owned();
    let mut done = from.unwrap_or(0);
    for k in done..EVENTS {
        let r = http
            .post(format!("{base}/v1/dossiers/{code}/events"))
            .json(&event(n, k))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => done = k + 1,
            _ => break,
        }
    }
    Some(done)
}

async fn submit_all(
    http: reqwest::Client,
    base: String,
    todo: Vec<(usize, Option<usize>)>,
    acked: Arc<AtomicUsize>,
) -> Accepted {
    let todo = Arc::new(std::sync::Mutex::new(todo));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (http, base, todo, acked) = (http.clone(), base.clone(), todo.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Accepted::default();
            loop {
                let Some((n, from)) = todo.lock().expect("lock").pop() else {
                    break;
                };
                if let Some(k) = submit(&http, &base, n, from).await {
                    mine.dossiers.push(n);
                    mine.events.insert(n, k);
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }
            mine
        }));
    }
    let mut all = Accepted::default();
    for t in tasks {
        let a = t.await.expect("client task");
        all.dossiers.extend(a.dossiers);
        all.events.extend(a.events);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_way_loses_nothing_and_keeps_order() {
    let sim = DvcqgSim::start().await.expect("sim");
    sim.update_faults(|f| f.latency = Duration::from_millis(15));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig {
        concurrency: 4,
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let mut gw = Gateway::start(dir.path(), &config).await;

    // Kill the process once 200 dossiers were acknowledged, while clients are still submitting.
    let acked = Arc::new(AtomicUsize::new(0));
    let todo: Vec<(usize, Option<usize>)> = (0..DOSSIERS).rev().map(|n| (n, None)).collect();
    let killer = {
        let acked = acked.clone();
        async move {
            while acked.load(Ordering::SeqCst) < 200 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let submitting = submit_all(gw.center_client(), gw.base_url.clone(), todo, acked.clone());
    tokio::pin!(submitting);
    let first = tokio::select! {
        a = &mut submitting => a,
        () = killer => {
            gw.kill9().await;
            submitting.await
        }
    };
    let before_kill_delivered = sim.dossier_codes().len();
    assert!(
        first.dossiers.len() >= 200 && first.dossiers.len() < DOSSIERS,
        "killed mid-way: {} acknowledged",
        first.dossiers.len()
    );
    assert!(
        before_kill_delivered < first.dossiers.len(),
        "some accepted dossiers were still queued at the kill"
    );

    // Restart on the same store; the center resubmits what it did not get an answer for.
    let gw = Gateway::start(dir.path(), &config).await;
    let mut todo = Vec::new();
    for n in 0..DOSSIERS {
        match first.events.get(&n) {
            None => todo.push((n, None)),
            Some(&k) if k < EVENTS => todo.push((n, Some(k))),
            Some(_) => {}
        }
    }
    let second = submit_all(
        gw.center_client(),
        gw.base_url.clone(),
        todo,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    let mut events: BTreeMap<usize, usize> = first.events.clone();
    for (n, k) in second.events {
        events.insert(n, k);
    }
    assert_eq!(events.len(), DOSSIERS, "every dossier acknowledged");
    assert!(
        events.values().all(|&k| k == EVENTS),
        "every event acknowledged"
    );

    let total = DOSSIERS * (1 + EVENTS);
    gw.wait_deliveries(Duration::from_secs(120), "every message delivered", |d| {
        d.len() == total && d.iter().all(|x| x["state"] == "delivered")
    })
    .await;

    // Everything reached the portal, each dossier before its progress, in event order.
    assert_eq!(sim.dossier_codes().len(), DOSSIERS);
    for n in 0..DOSSIERS {
        let code = dossier(n)["code"].as_str().expect("code").to_owned();
        let firsts = sim.distinct_progress_notes(&code);
        let expected: Vec<String> = (0..EVENTS).map(|k| format!("{n}/{k}")).collect();
        assert_eq!(firsts, expected, "dossier {code}");
    }
    let rejected = sim
        .calls()
        .iter()
        .filter(|c| c.answer == "rejected")
        .count();
    assert_eq!(
        rejected, 0,
        "no progress entry ever reached the portal before its dossier"
    );
}
