//! Retention through the real binary: with short periods configured, delivered messages and
//! then the dossier itself disappear, a dead letter and its dossier stay, and the purges are
//! counted.

use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_delivered_work_is_purged_dead_letters_stay() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestConfig::default().render(dir.path(), free_port(), &sim);
    config.push_str(
        "\n[exchange]\nmax_age = \"1s\"\n\n[callbacks]\nmax_age = \"1s\"\n\n[retention]\ndelivered = \"1s\"\ndossiers = \"2s\"\ndedupe = \"2s\"\ninterval = \"200ms\"\nbatch = 1\n",
    );
    let gw = Gateway::start(dir.path(), &config).await;
    let mut kept = example("dossier-business-registration.json");
    kept["code"] = json!("000.02.01.H37-261130-9001");
    let mut purged = example("dossier-business-registration.json");
    purged["code"] = json!("000.02.01.H37-261130-9002");
    // The portal refuses the first one for good: a dead letter, which retention never touches.
    sim.update_faults(|f| {
        f.reject_codes.insert("000.02.01.H37-261130-9001".into());
    });
    for d in [&kept, &purged] {
        assert_eq!(gw.post("/v1/dossiers", d).await.0, 202);
    }
    let code = "000.02.01.H37-261130-9002";
    let (st, _) = gw
        .post(
            &format!("/v1/dossiers/{code}/events"),
            &json!({ "id": "e1", "at": "2026-11-30T09:00:00+07:00", "status": "processing",
                     "actor": { "name": "Lê Thị Hoa" } }),
        )
        .await;
    assert_eq!(st, 202);

    // Delivered, then purged: first the messages, then the dossier.
    let mut gone = false;
    for _ in 0..150 {
        let (st, _) = gw.get(&format!("/v1/dossiers/{code}")).await;
        if st == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the dossier was not purged:\n{}", gw.log());
    let deliveries = gw.deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["state"], "dead");
    let (st, view) = gw.get("/v1/dossiers/000.02.01.H37-261130-9001").await;
    assert_eq!(st, 200, "a dossier with a dead letter stays: {view}");

    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("lienthong_retention_purged_total{what=\"messages\"} 2"),
        "the dossier and its event, purged: {metrics}"
    );
    assert!(
        metrics.contains("lienthong_retention_purged_total{what=\"dossiers\"} 1"),
        "{metrics}"
    );
}
