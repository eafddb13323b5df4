//! A flapping portal, a portal down for good (circuit breaker), permanent rejections (dead
//! letters) and their replay — against the real binary.

use std::time::Duration;

use lienthong_tests::gateway_process::{
    Gateway, TestConfig, all_delivered, example, free_port, lienthong_bin,
};
use lienthong_tests::postgres::TestStore;
use lienthong_tests::{DvcqgSim, FailKind, Faults, on_both_stores};
use serde_json::{Value, json};

on_both_stores!(
    flapping_portal_everything_delivered_with_delays_within_policy,
    portal_down_opens_the_circuit_then_everything_goes_out,
    permanent_rejection_is_dead_with_portal_message_and_replay_delivers_it,
);

fn dossier(n: usize) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = json!(format!("000.02.01.H37-261128-{:04}", 1000 + n));
    d
}

fn event(n: usize) -> Value {
    json!({ "id": format!("ev-{n}"), "at": "2026-11-28T14:30:00+07:00", "status": "processing",
            "actor": { "name": "Lê Thị Hoa" }, "note": format!("Bước {n}") })
}

async fn flapping_portal_everything_delivered_with_delays_within_policy(store: TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
    sim.set_faults(Faults {
        fail_every: Some(2),
        kind: FailKind::Rotate,
        ..Faults::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TestConfig {
        store_url: store.url(),
        retry: "initial = \"100ms\"\nmultiplier = 2.0\nmax_delay = \"800ms\"\nmax_attempts = 100\nmax_age = \"1h\"\n".into(),
        ..TestConfig::default()
    };
    let gw = Gateway::start(dir.path(), &cfg.render(dir.path(), free_port(), &sim)).await;
    for n in 0..20 {
        assert_eq!(gw.post("/v1/dossiers", &dossier(n)).await.0, 202);
        let code = dossier(n)["code"].as_str().expect("code").to_owned();
        assert_eq!(
            gw.post(&format!("/v1/dossiers/{code}/events"), &event(n))
                .await
                .0,
            202
        );
    }
    let all = gw
        .wait_deliveries(Duration::from_secs(60), "all delivered", |d| {
            all_delivered(d) && d.len() == 40
        })
        .await;
    let injected = sim
        .calls()
        .iter()
        .filter(|c| c.answer == "injected")
        .count();
    assert!(injected >= 10, "the simulator failed {injected} calls");
    let (mut retried, mut statuses) = (0, std::collections::BTreeSet::new());
    for d in &all {
        let (_, a) = gw
            .get(&format!(
                "/v1/deliveries/{}/attempts",
                d["id"].as_str().expect("id")
            ))
            .await;
        let attempts = a["attempts"].as_array().expect("attempts").clone();
        assert!(!attempts.is_empty());
        assert_eq!(attempts.last().expect("last")["outcome"], "delivered");
        if attempts.len() > 1 {
            retried += 1;
        }
        for (i, at) in attempts.iter().enumerate() {
            if at["outcome"] == "retry" {
                assert_eq!(at["decision"], "retry_wait");
                let delay = at["retry_delay_ms"].as_i64().expect("delay recorded");
                // full jitter under min(initial × 2^(n-1), max_delay); a 503's Retry-After (1 s) is a floor.
                let bound = (100_i64 << i.min(20)).min(800);
                assert!(
                    (0..=bound).contains(&delay) || (at["http_status"] == 503 && delay == 1000),
                    "attempt {}: delay {delay} > {bound}: {at}",
                    i + 1
                );
                assert!(at["error"].as_str().is_some_and(|e| !e.is_empty()));
                if let Some(s) = at["http_status"].as_i64() {
                    statuses.insert(s);
                }
            }
        }
    }
    assert!(retried > 0, "some deliveries needed a retry");
    assert!(
        statuses.contains(&500) && statuses.contains(&503),
        "{statuses:?}"
    );
    // Dossier first, then its progress, for every dossier.
    for n in 0..20 {
        let code = dossier(n)["code"].as_str().expect("code").to_owned();
        assert_eq!(sim.progress(&code).len(), 1, "{code}");
    }
    store.finish().await;
}

async fn portal_down_opens_the_circuit_then_everything_goes_out(store: TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
    sim.set_faults(Faults {
        down: true,
        kind: FailKind::ServerError,
        ..Faults::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TestConfig {
        store_url: store.url(),
        // Without the breaker, 10 deliveries retrying every ≤100 ms would make ~300 attempts in 3 s.
        retry: "initial = \"50ms\"\nmultiplier = 1.5\nmax_delay = \"100ms\"\nmax_attempts = 1000\nmax_age = \"1h\"\n".into(),
        breaker: "failures = 3\ncool_down = \"1s\"\nmax_cool_down = \"1s\"\n".into(),
        concurrency: 2,
        ..TestConfig::default()
    };
    let gw = Gateway::start(dir.path(), &cfg.render(dir.path(), free_port(), &sim)).await;
    for n in 0..10 {
        assert_eq!(gw.post("/v1/dossiers", &dossier(n)).await.0, 202);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, ready) = gw.get("/readyz").await;
    assert_eq!(ready["circuits"]["dvcqg"], "open", "{ready}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attempts: i64 = gw
        .deliveries()
        .await
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap_or(0))
        .sum();
    let calls = sim.calls().len();
    assert!(
        attempts <= 12,
        "the open circuit must stop attempts: {attempts} attempts"
    );
    assert!(calls <= 12, "{calls} calls reached the portal");
    assert!(gw.deliveries().await.iter().all(|d| d["state"] != "dead"));
    sim.set_faults(Faults::default());
    gw.wait_deliveries(
        Duration::from_secs(30),
        "all delivered once the portal is back",
        |d| all_delivered(d) && d.len() == 10,
    )
    .await;
    assert_eq!(sim.dossier_codes().len(), 10);
    let (_, ready) = gw.get("/readyz").await;
    assert_eq!(ready["circuits"]["dvcqg"], "closed");
    store.finish().await;
}

async fn permanent_rejection_is_dead_with_portal_message_and_replay_delivers_it(store: TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
    let refused = dossier(1)["code"].as_str().expect("code").to_owned();
    let refused_too = dossier(2)["code"].as_str().expect("code").to_owned();
    sim.update_faults(|f| {
        f.reject_codes.insert(refused.clone());
        f.reject_codes.insert(refused_too.clone());
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &TestConfig {
            store_url: store.url(),
            ..TestConfig::default()
        }
        .render(dir.path(), free_port(), &sim),
    )
    .await;
    for n in 0..3 {
        assert_eq!(gw.post("/v1/dossiers", &dossier(n)).await.0, 202);
    }
    // An event behind the refused dossier waits for it: order per dossier is kept.
    assert_eq!(
        gw.post(&format!("/v1/dossiers/{refused}/events"), &event(1))
            .await
            .0,
        202
    );
    let all = gw
        .wait_deliveries(Duration::from_secs(20), "two dead", |d| {
            d.iter().filter(|x| x["state"] == "dead").count() == 2
        })
        .await;
    let dead: Vec<&Value> = all.iter().filter(|d| d["state"] == "dead").collect();
    for d in &dead {
        assert_eq!(d["attempts"], 1, "invalid data is not retried");
        assert_eq!(d["portal_code"], "2");
        assert!(
            d["portal_message"]
                .as_str()
                .expect("message")
                .contains("không tồn tại"),
            "{d}"
        );
    }
    let metrics = gw.metrics().await;
    for line in [
        "lienthong_deliveries{destination=\"dvcqg\",state=\"dead\"} 2",
        "lienthong_deliveries{destination=\"dvcqg\",state=\"delivered\"} 1",
        "lienthong_deliveries{destination=\"dvcqg\",state=\"pending\"} 1",
        "lienthong_intake_total{kind=\"dossier\",outcome=\"accepted\"} 3",
        "lienthong_intake_total{kind=\"event\",outcome=\"accepted\"} 1",
        "lienthong_messages_total{destination=\"dvcqg\",result=\"dead\"} 2",
        "lienthong_circuit_state{destination=\"dvcqg\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("lienthong_delivery_attempt_seconds_bucket{destination=\"dvcqg\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("lienthong_oldest_undelivered_age_seconds{destination=\"dvcqg\"}"),
        "{metrics}"
    );
    let (_, listed) = gw.get("/v1/deliveries?state=dead").await;
    assert_eq!(listed["deliveries"].as_array().map(Vec::len), Some(2));
    let held: Vec<&Value> = all
        .iter()
        .filter(|d| d["dossier_code"] == refused.as_str() && d["kind"] == "progress")
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["state"], "pending");
    let dead_refused = dead
        .iter()
        .find(|d| d["dossier_code"] == refused.as_str())
        .expect("dead");
    assert_eq!(held[0]["held_by"], dead_refused["id"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sim.progress(&refused).is_empty(),
        "the progress entry must not overtake its dossier"
    );

    // The cause is fixed on the portal side; the operator replays one over HTTP, one with the CLI.
    sim.update_faults(|f| f.reject_codes.clear());
    let id = dead_refused["id"].as_str().expect("id");
    let (status, r) = gw
        .post(&format!("/v1/deliveries/{id}/replay"), &json!({}))
        .await;
    assert_eq!(status, 202, "{r}");
    let (status, _) = gw
        .post(&format!("/v1/deliveries/{id}/replay"), &json!({}))
        .await;
    assert!(
        status == 409 || status == 202,
        "replaying a live delivery is refused: {status}"
    );
    let other = dead
        .iter()
        .find(|d| d["dossier_code"] == refused_too.as_str())
        .expect("dead");
    let cli = tokio::process::Command::new(lienthong_bin())
        .args(["deliveries", "list", "--state", "dead", "--config"])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("cli");
    assert!(cli.status.success());
    let listing = String::from_utf8_lossy(&cli.stdout);
    assert!(
        listing.contains(other["id"].as_str().expect("id")),
        "{listing}"
    );
    let cli = tokio::process::Command::new(lienthong_bin())
        .args([
            "deliveries",
            "replay",
            other["id"].as_str().expect("id"),
            "--config",
        ])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("cli");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let missing = tokio::process::Command::new(lienthong_bin())
        .args(["deliveries", "replay", "no-such-id", "--config"])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("cli");
    assert!(!missing.status.success());

    gw.wait_deliveries(Duration::from_secs(20), "all delivered after replay", |d| {
        all_delivered(d) && d.len() == 4
    })
    .await;
    assert!(sim.hoso(&refused).is_some() && sim.hoso(&refused_too).is_some());
    assert_eq!(sim.progress(&refused).len(), 1);
    let (_, a) = gw.get(&format!("/v1/deliveries/{id}/attempts")).await;
    let outcomes: Vec<&str> = a["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|x| x["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["rejected", "delivered"]);
    store.finish().await;
}
