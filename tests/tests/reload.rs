//! A reload says what it did (issue 29, part 1), through the real binary: a change of
//! `attachments.allowed_urls` is applied at once (intake takes the newly allowed files without a
//! restart), and a change the running gateway cannot take is named in `needs_restart` instead of
//! being claimed.

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{
    EXAMPLE_ATTACHMENTS, Gateway, TestConfig, example, free_port,
};
use serde_json::Value;

async fn reload(gw: &Gateway) -> Value {
    let r = gw
        .admin(gw.http.post(format!("{}/v1/admin/reload", gw.base_url)))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test]
async fn a_reload_applies_allowed_urls_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = DvcqgSim::start().await.expect("sim");
    let full = TestConfig::default().render(dir.path(), free_port(), &sim);
    let narrow = full.replace(
        EXAMPLE_ATTACHMENTS,
        "\n[attachments]\nallowed_urls = [\"https://kho.ninhbinh.example.vn/files/\"]\n",
    );
    assert_ne!(narrow, full);
    let gw = Gateway::start(dir.path(), &narrow).await;
    let mut dossier = example("dossier-business-registration.json");
    dossier["code"] = Value::String("000.02.01.H37-261207-1001".into());

    // The example's files are elsewhere: refused, and the answer names the key to change.
    let (st, problem) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(st, 422, "{problem}");
    assert_eq!(
        problem["config_key"], "attachments.allowed_urls",
        "{problem}"
    );

    // The operator allows the document store and reloads: applied, nothing to restart.
    std::fs::write(&gw.config_path, &full).expect("write");
    let answer = reload(&gw).await;
    assert_eq!(answer["reloaded"], true, "{answer}");
    assert_eq!(answer["needs_restart"], serde_json::json!([]), "{answer}");
    let (st, body) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(st, 202, "taken without a restart: {body}");

    // What the running gateway cannot take over is named, not claimed.
    let later =
        format!("{full}\n[retention]\ndelivered = \"10d\"\n\n[deadlines]\ndue_soon = \"3d\"\n")
            .replace("poll_interval = \"50ms\"", "poll_interval = \"60ms\"");
    std::fs::write(&gw.config_path, &later).expect("write");
    let answer = reload(&gw).await;
    let named: Vec<&str> = answer["needs_restart"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(named, ["dispatcher", "retention", "deadlines"], "{answer}");
    assert!(gw.log().contains("take effect at the next restart"));
}
