//! EMC (national e-monitoring) through the real binary: every step of every dossier reported in
//! order, across an EMC outage; a refused report becomes a dead letter and its replay delivers it.

use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::emc_sim::EmcSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, all_delivered, example, free_port};
use serde_json::{Value, json};

/// A gateway routing every dossier to DVCQG and EMC.
async fn gateway(dir: &std::path::Path, dvcqg: &DvcqgSim, emc: &EmcSim) -> Gateway {
    let mut config = TestConfig::default().render(dir, free_port(), dvcqg);
    config = config.replace(
        "destinations = [\"dvcqg\"]",
        "destinations = [\"dvcqg\", \"emc\"]",
    );
    config.push_str(&emc.config_toml("emc", "H37"));
    config.push_str(
        "\n[destinations.emc.retry]\ninitial = \"100ms\"\nmax_delay = \"500ms\"\nmax_attempts = 100\nmax_age = \"1h\"\n",
    );
    Gateway::start(dir, &config).await
}

fn dossier(n: usize) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = json!(format!("000.02.01.H37-261130-{:04}", n));
    d
}

fn event(n: usize, status: &str) -> Value {
    json!({ "id": format!("ev-{n}-{status}"), "at": "2026-11-30T09:00:00+07:00", "status": status,
            "actor": { "name": "Lê Thị Hoa" }, "note": format!("{status} {n}") })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_every_dossier_reaches_emc_in_order_across_an_outage() {
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let emc = EmcSim::start().await.expect("emc");
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), &dvcqg, &emc).await;

    emc.set_down(true);
    let steps = ["processing", "processed", "returned"];
    for n in 1..=5 {
        let d = dossier(n);
        assert_eq!(gw.post("/v1/dossiers", &d).await.0, 202);
        for s in steps {
            let (st, body) = gw
                .post(
                    &format!("/v1/dossiers/{}/events", d["code"].as_str().expect("code")),
                    &event(n, s),
                )
                .await;
            assert_eq!(st, 202, "{body}");
        }
    }
    // EMC is down: its deliveries wait and retry while DVCQG's go through.
    gw.wait_deliveries(
        Duration::from_secs(30),
        "DVCQG delivered, EMC retrying",
        |all| {
            let (emc_d, other): (Vec<&Value>, Vec<&Value>) =
                all.iter().partition(|d| d["destination"] == "emc");
            emc_d.len() == 20
                && other.iter().all(|d| d["state"] == "delivered")
                && emc_d.iter().any(|d| d["state"] == "retry_wait")
        },
    )
    .await;
    assert!(emc.posts() > 0, "EMC was tried while down");
    emc.set_down(false);
    gw.wait_deliveries(Duration::from_secs(60), "everything delivered", |all| {
        all_delivered(all) && all.len() == 40
    })
    .await;

    for n in 1..=5 {
        let code = dossier(n)["code"].as_str().expect("code").to_owned();
        let reports = emc.reports_of(&code);
        let statuses: Vec<i64> = reports
            .iter()
            .map(|r| r["Status"].as_i64().expect("status"))
            .collect();
        // received (accepted at intake), processing, processed (still 2), result returned
        assert_eq!(statuses, vec![1, 2, 2, 3], "{code}: {reports:?}");
        let data: Vec<&str> = reports
            .iter()
            .map(|r| r["Data"].as_str().expect("data"))
            .collect();
        assert_eq!(
            data,
            [
                "Tiếp nhận hồ sơ",
                &format!("processing {n}"),
                &format!("processed {n}"),
                &format!("returned {n}")
            ]
        );
        for r in &reports {
            assert_eq!(r["SiteId"], "H37");
            assert_eq!(r["CodeTTHC"], "1.001612");
            assert_eq!(r["FormsPayments"], 1);
        }
    }
    assert_eq!(emc.reports().len(), 20, "each step reported once");
    // Steps that waited together went together.
    assert!(
        emc.batch_sizes().iter().any(|&n| n > 1),
        "batches: {:?}",
        emc.batch_sizes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_report_is_a_dead_letter_and_its_replay_delivers_it() {
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let emc = EmcSim::start().await.expect("emc");
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = gateway(dir.path(), &dvcqg, &emc).await;

    emc.set_refuse(true);
    let d = dossier(42);
    assert_eq!(gw.post("/v1/dossiers", &d).await.0, 202);
    let all = gw
        .wait_deliveries(Duration::from_secs(30), "EMC dead", |all| {
            all.iter()
                .any(|d| d["destination"] == "emc" && d["state"] == "dead")
        })
        .await;
    let dead = all
        .iter()
        .find(|d| d["destination"] == "emc")
        .expect("emc delivery");
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("không thuộc")),
        "EMC's reason kept: {dead}"
    );
    assert!(emc.reports().is_empty());

    emc.set_refuse(false);
    let id = dead["id"].as_str().expect("id");
    let (st, body) = gw
        .post(&format!("/v1/deliveries/{id}/replay"), &json!({}))
        .await;
    assert!(st == 200 || st == 202, "{st} {body}");
    gw.wait_deliveries(Duration::from_secs(30), "replayed", all_delivered)
        .await;
    assert_eq!(emc.reports().len(), 1);
    assert_eq!(emc.reports()[0]["Status"], 1);
}
