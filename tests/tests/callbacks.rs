//! Pushes from the national systems at `POST /v1/callbacks/{source}`, through the real binary:
//! verified (payment hash, DVCQG SecurityKey, replay window), stored once, forwarded to the
//! center's webhook, answered in each pusher's format only after the commit.

use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::center_sim::CenterSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, free_port};
use lienthong_tests::pushers::{
    DVCQG_KEY, PAYMENT_SECRET, payment_confirmation, payment_mac, portal_dossier, tax_notice,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

const DOSSIER: &str = "000.02.01.H37-261130-0001";

fn config(dir: &std::path::Path, port: u16, dvcqg: &DvcqgSim, center: &CenterSim) -> String {
    let mut c = TestConfig::default().render(dir, port, dvcqg);
    c.push_str(&format!(
        r#"
[destinations.center]
kind = "webhook"
url = "{url}"
timeout = "3s"
[destinations.center.retry]
initial = "100ms"
max_delay = "500ms"
max_attempts = 100
max_age = "1h"

[callbacks]
forward_to = ["center"]
[callbacks.dvcqg]
secret = "{DVCQG_KEY}"
[callbacks.payment]
secret = "{PAYMENT_SECRET}"
"#,
        url = center.url()
    ));
    c
}

/// Posts raw bytes; returns status, content type and JSON body.
async fn push(gw: &Gateway, source: &str, body: Vec<u8>) -> (u16, String, Value) {
    let r = gw
        .http
        .post(format!("{}/v1/callbacks/{source}", gw.base_url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.json().await.unwrap_or(Value::Null))
}

async fn push_json(gw: &Gateway, source: &str, body: &Value) -> (u16, Value) {
    let (s, _, v) = push(gw, source, body.to_string().into_bytes()).await;
    (s, v)
}

async fn received(gw: &Gateway, code: &str) -> Vec<Value> {
    let (st, v) = gw.get(&format!("/v1/callbacks/received/{code}")).await;
    assert_eq!(st, 200, "{v}");
    v["received"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_verified_stored_once_and_forwarded_to_the_center() {
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let center = CenterSim::start().await.expect("center");
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config(dir.path(), free_port(), &dvcqg, &center),
    )
    .await;
    let now = OffsetDateTime::now_utc();

    // Refused, each in the pusher's own format, nothing stored.
    let forged = payment_confirmation(DOSSIER, "GD-1", 50000, "00", now, "khoa-khac");
    let (st, v) = push_json(&gw, "payment", &forged).await;
    assert_eq!((st, v["MaLoi"].as_str()), (401, Some("01")), "{v}");
    let mut changed = payment_confirmation(DOSSIER, "GD-1", 50000, "00", now, PAYMENT_SECRET);
    changed["SoTien"] = json!(5_000_000);
    let (st, v) = push_json(&gw, "payment", &changed).await;
    assert_eq!(
        (st, v["MaLoi"].as_str()),
        (401, Some("01")),
        "amount changed after hashing: {v}"
    );
    let old = payment_confirmation(
        DOSSIER,
        "GD-OLD",
        50000,
        "00",
        now - time::Duration::days(8),
        PAYMENT_SECRET,
    );
    let (st, v) = push_json(&gw, "payment", &old).await;
    assert_eq!(
        (st, v["MaLoi"].as_str()),
        (401, Some("04")),
        "replay of an old push: {v}"
    );
    // Not JSON: no MaXacThuc can be read, so not authenticated (the key comes first).
    let (st, ct, v) = push(&gw, "payment", b"{\"MaLoi\": ".to_vec()).await;
    assert_eq!((st, v["MaLoi"].as_str()), (401, Some("01")), "{v}");
    assert!(ct.starts_with("application/json"), "{ct}");
    // Authenticated (its MaXacThuc covers the field as empty) but malformed: 400, named.
    let mut no_tx = payment_confirmation(DOSSIER, "GD-2", 1, "00", now, PAYMENT_SECRET);
    no_tx.as_object_mut().expect("object").remove("MaGiaoDich");
    no_tx["MaXacThuc"] = json!(payment_mac(&no_tx, PAYMENT_SECRET));
    let (st, v) = push_json(&gw, "payment", &no_tx).await;
    assert_eq!(st, 400);
    assert!(
        v["MoTaLoi"]
            .as_str()
            .is_some_and(|m| m.contains("MaGiaoDich")),
        "{v}"
    );
    let (st, v) = push_json(&gw, "dvcqg", &tax_notice(DOSSIER, now, "sai-khoa")).await;
    assert_eq!((st, v["error_code"].as_i64()), (401, Some(2)), "{v}");
    let stale = tax_notice(DOSSIER, now - time::Duration::days(30), DVCQG_KEY);
    let (st, v) = push_json(&gw, "dvcqg", &stale).await;
    assert_eq!((st, v["error_code"].as_i64()), (401, Some(3)), "{v}");
    let (st, v) = gw.post("/v1/callbacks/bank", &json!({})).await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(v["type"], "urn:lienthong:problem:not-found");
    assert!(
        received(&gw, DOSSIER).await.is_empty(),
        "nothing refused is stored"
    );

    // Taken: a payment, a failed payment, a tax notice, a dossier filed on the portal.
    let paid = payment_confirmation(DOSSIER, "GD-100", 50000, "00", now, PAYMENT_SECRET);
    let (st, v) = push_json(&gw, "payment", &paid).await;
    assert_eq!(
        (st, v.clone()),
        (200, json!({ "MaLoi": "00", "MoTaLoi": "Thành công" }))
    );
    let (st, again) = push_json(&gw, "payment", &paid).await;
    assert_eq!((st, again), (200, v), "a repeat gets the original answer");
    let failed = payment_confirmation(DOSSIER, "GD-101", 50000, "51", now, PAYMENT_SECRET);
    assert_eq!(push_json(&gw, "payment", &failed).await.0, 200);
    let (st, v) = push_json(&gw, "dvcqg", &tax_notice(DOSSIER, now, DVCQG_KEY)).await;
    assert_eq!((st, v["error_code"].as_i64()), (200, Some(0)), "{v}");
    let file: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let portal_code = "G22.99.37-261130-0007";
    let (st, v) = push_json(&gw, "dvcqg", &portal_dossier(portal_code, &file, DVCQG_KEY)).await;
    assert_eq!((st, v["error_code"].as_i64()), (200, Some(0)), "{v}");

    assert!(
        center
            .wait_for(Duration::from_secs(20), |n| n.len() == 4)
            .await,
        "{}",
        gw.log()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notices = center.notices();
    let events: Vec<&str> = notices.iter().map(|n| n.event.as_str()).collect();
    assert_eq!(notices.len(), 4, "each push told once: {events:?}");
    for e in [
        "payment.confirmed",
        "payment.failed",
        "dvcqg.tax_notice",
        "dvcqg.dossier",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
    let confirmed = notices
        .iter()
        .find(|n| n.event == "payment.confirmed")
        .expect("confirmed");
    assert_eq!(confirmed.dossier_code, DOSSIER);
    assert_eq!(confirmed.data["MaGiaoDich"], "GD-100");
    assert_eq!(confirmed.data["SoTien"], "50000");
    let filed = notices
        .iter()
        .find(|n| n.event == "dvcqg.dossier")
        .expect("dossier");
    assert_eq!(filed.dossier_code, portal_code);
    use base64::Engine;
    let got = base64::engine::general_purpose::STANDARD
        .decode(
            filed.data["data"]["TaiLieuNop"][0]["NoiDungTep"]
                .as_str()
                .expect("file"),
        )
        .expect("base64");
    assert_eq!(
        lienthong_certs::sha256_hex(&got),
        lienthong_certs::sha256_hex(&file),
        "the file survives byte for byte"
    );

    // What is kept: three pushes about the dossier, without DVCQG's key.
    let kept = received(&gw, DOSSIER).await;
    let kinds: Vec<&str> = kept
        .iter()
        .map(|r| r["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["payment.confirmed", "payment.failed", "dvcqg.tax_notice"]
    );
    assert!(
        !kept.iter().any(|r| r.to_string().contains(DVCQG_KEY)),
        "the shared key is not stored"
    );
    let (_, metrics) = {
        let r = gw
            .admin(gw.http.get(format!("{}/metrics", gw.base_url)))
            .send()
            .await
            .expect("metrics");
        (r.status(), r.text().await.expect("text"))
    };
    assert!(
        metrics.contains(
            "lienthong_callbacks_received_total{source=\"payment\",outcome=\"refused\"} 5"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "lienthong_callbacks_received_total{source=\"payment\",outcome=\"duplicate\"} 1"
        ),
        "{metrics}"
    );
    // The confirmation's MAC is what the platform computed (sanity of the test helper).
    assert_eq!(paid["MaXacThuc"], json!(payment_mac(&paid, PAYMENT_SECRET)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_acknowledged_only_after_commit_and_survives_a_crash() {
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let center = CenterSim::start().await.expect("center");
    center.set_down(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let text = config(dir.path(), port, &dvcqg, &center);
    let paid = payment_confirmation(
        DOSSIER,
        "GD-CRASH",
        50000,
        "00",
        OffsetDateTime::now_utc(),
        PAYMENT_SECRET,
    );

    // The process dies right after the commit, before answering: the platform sees no answer.
    let mut gw = Gateway::start_with_env(
        dir.path(),
        &text,
        &[("LIENTHONG_TEST_CRASH_AFTER_COMMIT", "callback")],
    )
    .await;
    let r = gw
        .http
        .post(format!("{}/v1/callbacks/payment", gw.base_url))
        .json(&paid)
        .send()
        .await;
    assert!(
        r.is_err() || !r.as_ref().is_ok_and(|r| r.status().is_success()),
        "no success answer from a process that died: {r:?}"
    );
    gw.wait_exit().await;

    // Restarted: the push is there, and the platform's retry gets the original answer.
    let gw = Gateway::start(dir.path(), &text).await;
    let kept = received(&gw, DOSSIER).await;
    assert_eq!(kept.len(), 1, "committed before the crash: {kept:?}");
    assert_eq!(kept[0]["body"]["MaGiaoDich"], "GD-CRASH");
    let (st, v) = push_json(&gw, "payment", &paid).await;
    assert_eq!((st, v["MaLoi"].as_str()), (200, Some("00")));
    assert_eq!(received(&gw, DOSSIER).await.len(), 1, "deduplicated");

    // The center was down all along: the notice waited in the outbox, and arrives once.
    center.set_down(false);
    assert!(
        center
            .wait_for(Duration::from_secs(20), |n| !n.is_empty())
            .await,
        "{}",
        gw.log()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(center.notices().len(), 1);
    assert_eq!(center.notices()[0].event, "payment.confirmed");
}

/// A repeat is a repeat only when its content is the same (issue 26, part 5). The payment
/// platform's transaction that failed first and was paid later reaches the center as paid; a
/// failure after a confirmed payment is kept and flagged, never forwarded (a payment is never
/// un-paid). The key is checked before the body is judged: a wrong key on a malformed body is a
/// 401, and the reason for a refused key is logged readably.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_is_a_repeat_only_with_the_same_content_and_the_key_comes_first() {
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let center = CenterSim::start().await.expect("center");
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &config(dir.path(), free_port(), &dvcqg, &center),
    )
    .await;
    let now = OffsetDateTime::now_utc();
    let code = "000.02.01.H37-261207-0901";

    let failed = payment_confirmation(code, "GD-900", 50000, "51", now, PAYMENT_SECRET);
    let (st, v) = push_json(&gw, "payment", &failed).await;
    assert_eq!((st, v["MaLoi"].as_str()), (200, Some("00")), "{v}");
    let paid = payment_confirmation(code, "GD-900", 50000, "00", now, PAYMENT_SECRET);
    let (st, v) = push_json(&gw, "payment", &paid).await;
    assert_eq!((st, v["MaLoi"].as_str()), (200, Some("00")), "{v}");
    // Each resent: a repeat, forwarded once.
    assert_eq!(push_json(&gw, "payment", &failed).await.0, 200);
    assert_eq!(push_json(&gw, "payment", &paid).await.0, 200);
    assert!(
        center
            .wait_for(Duration::from_secs(20), |n| {
                n.iter()
                    .any(|n| n.event == "payment.confirmed" && n.dossier_code == code)
            })
            .await,
        "failed, then paid: the center never heard it was paid"
    );
    // Paid, then a failure: kept, flagged, not forwarded.
    let late = payment_confirmation(code, "GD-900", 50000, "99", now, PAYMENT_SECRET);
    let (st, v) = push_json(&gw, "payment", &late).await;
    assert_eq!((st, v["MaLoi"].as_str()), (200, Some("00")), "{v}");
    gw.wait_for_log("it contradicts a payment already confirmed", 1)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let told: Vec<String> = center
        .notices()
        .iter()
        .filter(|n| n.dossier_code == code)
        .map(|n| n.event.clone())
        .collect();
    assert_eq!(told, ["payment.failed", "payment.confirmed"], "{told:?}");
    let kept: Vec<Value> = received(&gw, code).await;
    let events: Vec<&str> = kept.iter().filter_map(|k| k["event"].as_str()).collect();
    assert_eq!(
        events,
        ["payment.failed", "payment.confirmed", "payment.conflict"]
    );
    assert!(
        gw.metrics().await.contains(
            "lienthong_callbacks_received_total{source=\"payment\",outcome=\"flagged\"} 1"
        )
    );

    // The key before the body: a wrong or missing key on a malformed push is a 401.
    for body in [
        json!({ "SecurityKey": "sai-khoa", "Service": "KhongCo" }),
        json!({ "Service": "ThongBaoThue" }),
    ] {
        let (st, v) = push_json(&gw, "dvcqg", &body).await;
        assert_eq!(
            (st, v["error_code"].as_i64()),
            (401, Some(2)),
            "{body}: {v}"
        );
    }
    let (st, v) = push(&gw, "dvcqg", b"not json".to_vec()).await.into_pair();
    assert_eq!((st, v["error_code"].as_i64()), (401, Some(2)), "{v}");
    // The refusal's reason is readable in the log (not masked as if it were the key).
    gw.wait_for_log("SecurityKey is missing", 1).await;
}

trait Pair {
    fn into_pair(self) -> (u16, Value);
}

impl Pair for (u16, String, Value) {
    fn into_pair(self) -> (u16, Value) {
        (self.0, self.2)
    }
}
