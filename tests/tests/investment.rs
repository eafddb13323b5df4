//! The investment system through the real binary: an investment dossier is registered as signed
//! XML (verified by the simulator and by `xmlsec1`); the decision comes back as a signed push to
//! `/v1/callbacks/investment`, becomes a status event (sent on to DVCQG) and a notice to the
//! center; forged, tampered, stranger-signed and stale results are refused, and so are results
//! about a dossier unknown here or never delivered to the investment system; nothing stored.

use std::time::Duration;

use lienthong_certs::testpki::{Pki, xmlsec_available};
use lienthong_tests::DvcqgSim;
use lienthong_tests::center_sim::CenterSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use lienthong_tests::investment_sim::{InvestmentSim, SIGNER_CN};
use lienthong_tests::pushers::portal_time;
use lienthong_tests::two_level::xmlsec_verifies;
use serde_json::{Value, json};

async fn push(gw: &Gateway, xml: &str) -> (u16, Value) {
    let r = gw
        .http
        .post(format!("{}/v1/callbacks/investment", gw.base_url))
        .header("content-type", "application/xml")
        .body(xml.to_owned())
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_goes_signed_and_its_signed_result_comes_back_as_an_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let center_pki = Pki::new("Trung tam PVHCC Ninh Binh - Test CA");
    let center = center_pki.leaf("000.02.01.H37", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let (cert, key) = center.write(dir.path(), "center-signing");
    let center_ca = center_pki.write_ca(dir.path());
    let sim = InvestmentSim::start(&center_pki.ca_pem).await.expect("sim");
    let investment_ca = dir.path().join("investment-ca.pem");
    std::fs::write(&investment_ca, sim.ca_pem()).expect("write");
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let center_hook = CenterSim::start().await.expect("center");

    let mut config = TestConfig::default().render(dir.path(), free_port(), &dvcqg);
    config.push_str(&format!(
        r#"
[signing]
cert = "{cert}"
key = "{key}"

[trust.investment]
anchors = ["{investment_ca}"]

[destinations.investment]
kind = "investment"
url = "{url}"
timeout = "5s"

[destinations.center]
kind = "webhook"
url = "{hook}"

[callbacks]
forward_to = ["center"]
[callbacks.investment]
trust = "investment"
signers = ["{SIGNER_CN}"]

[[routes]]
field_code = "DTVN"
destinations = ["investment"]
"#,
        cert = cert.display(),
        key = key.display(),
        investment_ca = investment_ca.display(),
        url = sim.url(),
        hook = center_hook.url(),
    ));
    let gw = Gateway::start(dir.path(), &config).await;
    let d = example("dossier-investment.json");
    let code = d["code"].as_str().expect("code").to_owned();
    let (st, body) = gw.post("/v1/dossiers", &d).await;
    assert_eq!(st, 202, "{body}");
    assert!(
        sim.wait_registrations(1, Duration::from_secs(20)).await,
        "{}",
        gw.log()
    );
    let registration = &sim.registrations()[0];
    assert!(registration.contains(&format!("MaHoSo=\"{code}\"")));
    if xmlsec_available() {
        xmlsec_verifies(dir.path(), "registration.xml", registration, &[center_ca]);
    }

    // Refused, nothing stored: tampered, signed by a stranger, stale, not XML.
    let now = time::OffsetDateTime::now_utc();
    let result = sim.result(
        &code,
        Some(("7654321098", "GCN-2026-15")),
        &portal_time(now),
    );
    let tampered = result.replace("7654321098", "7654321099");
    let (st, v) = push(&gw, &tampered).await;
    assert_eq!((st, v["MaLoi"].as_str()), (401, Some("2")), "{v}");
    let stranger = InvestmentSim::start(&center_pki.ca_pem)
        .await
        .expect("other sim");
    let (st, v) = push(
        &gw,
        &stranger.result(&code, Some(("1", "GCN-X")), &portal_time(now)),
    )
    .await;
    assert_eq!(
        (st, v["MaLoi"].as_str()),
        (401, Some("2")),
        "another CA: {v}"
    );
    let old = sim.result(
        &code,
        Some(("7654321098", "GCN-2026-15")),
        &portal_time(now - time::Duration::days(30)),
    );
    let (st, v) = push(&gw, &old).await;
    assert_eq!((st, v["MaLoi"].as_str()), (401, Some("3")), "stale: {v}");
    let (st, v) = push(&gw, "<KetQuaDauTu").await;
    assert_eq!((st, v["MaLoi"].as_str()), (400, Some("1")), "{v}");
    let (st, kept) = gw.get(&format!("/v1/callbacks/received/{code}")).await;
    assert_eq!(st, 200);
    assert_eq!(kept["received"], json!([]), "nothing refused is kept");

    // A genuine decision moves only a dossier that was delivered to the investment system: not
    // an unknown one (404), not one that went only to DVCQG (409); nothing stored, the other
    // dossier's status unchanged.
    let unknown = sim.result(
        "000.02.01.H37-261128-9999",
        Some(("7654321098", "GCN-2026-15")),
        &portal_time(now),
    );
    let (st, v) = push(&gw, &unknown).await;
    assert_eq!((st, v["MaLoi"].as_str()), (404, Some("4")), "unknown: {v}");
    let other = example("dossier-business-registration.json");
    let other_code = other["code"].as_str().expect("code").to_owned();
    let (st, body) = gw.post("/v1/dossiers", &other).await;
    assert_eq!(st, 202, "{body}");
    let not_sent = sim.result(&other_code, None, &portal_time(now));
    let (st, v) = push(&gw, &not_sent).await;
    assert_eq!((st, v["MaLoi"].as_str()), (409, Some("5")), "not sent: {v}");
    let (_, view) = gw.get(&format!("/v1/dossiers/{other_code}")).await;
    assert_ne!(view["status"], "rejected", "{view}");
    for c in [&other_code, "000.02.01.H37-261128-9999"] {
        let (_, kept) = gw.get(&format!("/v1/callbacks/received/{c}")).await;
        assert_eq!(kept["received"], json!([]), "nothing kept for {c}");
    }
    // The registration itself is delivered (its audit record is what makes a decision apply).
    gw.wait_deliveries(
        Duration::from_secs(20),
        "the registration delivered",
        |all| {
            all.iter()
                .any(|d| d["destination"] == "investment" && d["state"] == "delivered")
        },
    )
    .await;

    // The genuine result: taken once, an event on the dossier, sent on to DVCQG, told to the center.
    let (st, v) = push(&gw, &result).await;
    assert_eq!(
        (st, v.clone()),
        (200, json!({ "MaLoi": "0", "MoTa": "Thành công" }))
    );
    let (st, again) = push(&gw, &result).await;
    assert_eq!((st, again), (200, v), "a repeat gets the original answer");
    let (_, view) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(view["status"], "processed", "{view}");
    let events = view["events"].as_array().cloned().unwrap_or_default();
    let decision: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["id"]
                .as_str()
                .is_some_and(|i| i.starts_with("investment:"))
        })
        .collect();
    assert_eq!(decision.len(), 1, "{events:?}");
    assert!(
        decision[0]["event"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("GCN-2026-15") && n.contains("7654321098")),
        "{decision:?}"
    );
    assert!(
        center_hook
            .wait_for(Duration::from_secs(20), |n| n
                .iter()
                .any(|n| n.event == "investment.result"))
            .await
    );
    let notice = center_hook
        .notices()
        .into_iter()
        .find(|n| n.event == "investment.result")
        .expect("notice");
    assert_eq!(notice.data["project_code"], "7654321098");
    assert_eq!(notice.data["certificate_number"], "GCN-2026-15");
    assert!(
        dvcqg.wait_progress(&code, 1, Duration::from_secs(20)).await,
        "{}",
        gw.log()
    );
    assert_eq!(dvcqg.progress(&code)[0]["TrangThai"], "9");
    let (_, kept) = gw.get(&format!("/v1/callbacks/received/{code}")).await;
    let kept = kept["received"].as_array().cloned().unwrap_or_default();
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("SignatureValue")),
        "the signed result is kept as evidence"
    );
}
