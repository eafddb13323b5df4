//! Intake → delivered to the DVCQG simulator with the right fields; status events become progress
//! entries in order; both transports; identical repeats and PUT refreshes.

use std::time::Duration;

use lienthong_tests::gateway_process::{
    Gateway, TestConfig, all_delivered, eventually, example, free_port,
};
use lienthong_tests::postgres::TestStore;
use lienthong_tests::{DvcqgSim, on_both_stores};
use serde_json::{Value, json};

on_both_stores!(
    session_transport_delivers_dossier_and_progress_in_order,
    lgsp_transport_delivers_dossier_and_progress_in_order,
    progress_backlog_goes_in_batches_of_at_most_ten,
    put_refreshes_the_dossier_on_the_portal,
    sigterm_stops_cleanly_and_work_resumes_after_restart,
);

fn expected_hoso() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mappings/tests/expected/dvcqg-hoso-business.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("expected file")).expect("json")
}

fn event(id: &str, status: &str, at: &str, note: &str) -> Value {
    json!({ "id": id, "at": at, "status": status, "note": note,
            "actor": { "name": "Nguyễn Văn Hùng", "title": "Chuyên viên", "unit": "Phòng Đăng ký kinh doanh" } })
}

async fn intake_and_progress(transport: &str, store: &TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TestConfig {
        store_url: store.url(),
        transport: transport.into(),
        ..TestConfig::default()
    };
    let gw = Gateway::start(dir.path(), &cfg.render(dir.path(), free_port(), &sim)).await;

    let dossier = example("dossier-business-registration.json");
    let code = dossier["code"].as_str().expect("code").to_owned();
    let (status, answer) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["code"], code);
    assert_eq!(answer["messages"][0]["destination"], "dvcqg");
    assert_eq!(answer["messages"][0]["state"], "pending");

    // The same body again: 200 with the original answer, nothing new queued.
    let (status, again) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(status, 200);
    assert_eq!(again, answer);

    assert!(
        eventually(Duration::from_secs(20), || sim.hoso(&code).is_some()).await,
        "{}",
        gw.log()
    );
    assert_eq!(sim.hoso(&code).expect("stored"), expected_hoso());

    let events = [
        event(
            "ev-1",
            "processing",
            "2026-11-28T14:30:00+07:00",
            "Chuyển phòng chuyên môn",
        ),
        event(
            "ev-2",
            "supplement_requested",
            "2026-11-29T09:00:00+07:00",
            "Yêu cầu bổ sung điều lệ",
        ),
        event(
            "ev-3",
            "processing",
            "2026-11-30T10:15:00+07:00",
            "Đã nhận bổ sung",
        ),
        event(
            "ev-4",
            "processed",
            "2026-12-01T16:00:00+07:00",
            "Đã cấp giấy chứng nhận",
        ),
        event(
            "ev-5",
            "returned",
            "2026-12-02T08:30:00+07:00",
            "Đã trả kết quả",
        ),
    ];
    for e in &events {
        let (status, a) = gw.post(&format!("/v1/dossiers/{code}/events"), e).await;
        assert_eq!(status, 202, "{a}");
    }
    let all = gw
        .wait_deliveries(Duration::from_secs(20), "everything delivered", |d| {
            all_delivered(d) && d.len() == 6
        })
        .await;
    assert_eq!(all.len(), 6);
    let progress = sim.progress(&code);
    let states: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["TrangThai"].as_str())
        .collect();
    assert_eq!(states, ["4", "5", "4", "9", "10"]);
    let notes: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["NoiDungXuLy"].as_str())
        .collect();
    assert_eq!(notes[1], "Yêu cầu bổ sung điều lệ");
    assert_eq!(progress[0]["ThoiDiemXuLy"], "20261128143000");
    assert_eq!(progress[0]["NguoiXuLy"], "Nguyễn Văn Hùng");
    assert_eq!(progress[0]["MaHoSo"], code.as_str());

    // Tracking shows the events and the delivered messages.
    let (status, view) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "returned");
    assert_eq!(view["events"].as_array().map(Vec::len), Some(5));
    assert!(
        view["deliveries"]
            .as_array()
            .expect("list")
            .iter()
            .all(|d| d["state"] == "delivered")
    );

    // Nothing may follow "returned".
    let (status, p) = gw
        .post(
            &format!("/v1/dossiers/{code}/events"),
            &event("ev-6", "processing", "2026-12-03T08:00:00+07:00", "x"),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "status");
}

async fn session_transport_delivers_dossier_and_progress_in_order(store: TestStore) {
    intake_and_progress("session", &store).await;
    store.finish().await;
}

async fn lgsp_transport_delivers_dossier_and_progress_in_order(store: TestStore) {
    intake_and_progress("lgsp", &store).await;
    store.finish().await;
}

async fn progress_backlog_goes_in_batches_of_at_most_ten(store: TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
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
    // The portal is down while 25 events queue up behind the dossier.
    sim.update_faults(|f| f.down = true);
    let dossier = example("dossier-civil-status-interlevel.json");
    let mut dossier = dossier;
    dossier["routing"] = Value::Null;
    let code = dossier["code"].as_str().expect("code").to_owned();
    assert_eq!(gw.post("/v1/dossiers", &dossier).await.0, 202);
    for i in 0..25 {
        let e = event(
            &format!("ev-{i:02}"),
            "processing",
            "2026-11-28T14:30:00+07:00",
            &format!("Bước {i:02}"),
        );
        assert_eq!(
            gw.post(&format!("/v1/dossiers/{code}/events"), &e).await.0,
            202
        );
    }
    sim.update_faults(|f| f.down = false);
    gw.wait_deliveries(Duration::from_secs(30), "all delivered", |d| {
        all_delivered(d) && d.len() == 26
    })
    .await;
    let notes: Vec<String> = sim
        .progress(&code)
        .iter()
        .filter_map(|p| p["NoiDungXuLy"].as_str().map(str::to_owned))
        .collect();
    let expected: Vec<String> = (0..25).map(|i| format!("Bước {i:02}")).collect();
    assert_eq!(notes, expected, "in order, each once");
    let sizes = sim.progress_batch_sizes();
    assert!(sizes.iter().all(|&n| n <= 10), "{sizes:?}");
    assert!(sizes.len() < 25, "the backlog was batched: {sizes:?}");
    store.finish().await;
}

async fn put_refreshes_the_dossier_on_the_portal(store: TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
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
    let mut dossier = example("dossier-investment.json");
    let code = dossier["code"].as_str().expect("code").to_owned();
    assert_eq!(gw.post("/v1/dossiers", &dossier).await.0, 202);
    dossier["due_at"] = json!("2026-12-19T17:00:00+07:00");
    let (status, a) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(
        status, 409,
        "a changed body under the same code is a conflict: {a}"
    );
    let r = gw
        .center(gw.http.put(format!("{}/v1/dossiers/{code}", gw.base_url)))
        .json(&dossier)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 202);
    gw.wait_deliveries(Duration::from_secs(20), "refresh delivered", |d| {
        all_delivered(d) && d.len() == 2
    })
    .await;
    assert_eq!(
        sim.hoso(&code).expect("stored")["NgayHenTra"],
        "20261219170000"
    );
    assert_eq!(sim.syncs(&code), 2);
    let (_, view) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(view["version"], 2);
    store.finish().await;
}

async fn sigterm_stops_cleanly_and_work_resumes_after_restart(store: TestStore) {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig {
        store_url: store.url(),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let mut gw = Gateway::start(dir.path(), &config).await;
    sim.update_faults(|f| f.latency = Duration::from_millis(300));
    for i in 0..10 {
        let mut d = example("dossier-business-registration.json");
        d["code"] = json!(format!("000.02.01.H37-261128-{:04}", 200 + i));
        assert_eq!(gw.post("/v1/dossiers", &d).await.0, 202);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        gw.terminate().await,
        Some(0),
        "exit 0 on SIGTERM:\n{}",
        gw.log()
    );
    assert!(gw.log().contains("lienthong stopped"), "{}", gw.log());
    sim.update_faults(|f| f.latency = Duration::ZERO);
    let gw = Gateway::start(dir.path(), &config).await;
    gw.wait_deliveries(
        Duration::from_secs(20),
        "all delivered after restart",
        |d| all_delivered(d) && d.len() == 10,
    )
    .await;
    assert_eq!(sim.dossier_codes().len(), 10);
    store.finish().await;
}
