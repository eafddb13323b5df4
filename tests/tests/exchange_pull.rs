//! Pull mode (liên thông through the national document-exchange axis): two real Lienthong
//! processes that never call each other. Each sends with `sendEdoc` and takes its own mailbox
//! with the `[exchange.pull]` poller — list, fetch, verify, store, then `done`, or `fail` with
//! the reason for what it cannot believe — with the same dedupe and durability as a push.

use std::time::{Duration, Instant};

use base64::Engine;
use lienthong_certs::testpki::xmlsec_available;
use lienthong_tests::axis_sim::{AxisSim, Mark};
use lienthong_tests::file_server::FileServer;
use lienthong_tests::two_level::{
    dossier, event, files, province_and_commune, received, xmlsec_verifies,
};
use serde_json::Value;

#[tokio::test]
async fn dossiers_and_statuses_travel_through_the_axis() {
    let axis = AxisSim::start().await.expect("axis");
    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    let p = province
        .start(&(province.config_via_axis(&commune, &axis, "2s") + &store.attachments_toml()))
        .await;
    let c = commune
        .start(&(commune.config_via_axis(&province, &axis, "2s") + &store.attachments_toml()))
        .await;

    // Province → commune through the axis, with three files.
    let d1 = "000.02.01.H37-261129-0301";
    let (st, body) = p.post("/v1/dossiers", &dossier(d1, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    let arrived = commune
        .center
        .wait_for(Duration::from_secs(30), |n| {
            n.iter().any(|n| n.event == "exchange.dossier")
        })
        .await;
    assert!(arrived, "{}\n{}", p.log(), c.log());
    let notice = commune.center.notices()[0].clone();
    assert_eq!(notice.dossier_code, d1);
    assert_eq!(notice.data["from"]["code"], province.code);
    let attachments = notice.data["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 3);
    for (i, (name, bytes)) in files.iter().enumerate() {
        let got = base64::engine::general_purpose::STANDARD
            .decode(attachments[i]["content"].as_str().expect("content"))
            .expect("base64");
        assert_eq!(got, *bytes, "{name} byte for byte");
    }
    // The province's delivery ended when the axis took the document; the commune took it once.
    p.wait_deliveries(
        Duration::from_secs(20),
        "the axis delivery",
        |ds: &[Value]| {
            ds.iter()
                .any(|d| d["destination"] == "xa-gia-vien" && d["state"] == "delivered")
        },
    )
    .await;
    let marked = axis
        .wait_for(Duration::from_secs(10), |docs| {
            docs.len() == 1 && docs[0].mark == Mark::Done
        })
        .await;
    assert!(marked, "{:?}", axis.docs());
    let first = &axis.docs()[0];
    assert_eq!(
        (first.from.as_str(), first.to.as_str()),
        (province.code, commune.code)
    );
    assert_eq!((first.fetches, first.marks), (1, 1), "taken once");

    // Statuses come back the same way.
    for (i, status) in ["accepted", "processing", "processed"].iter().enumerate() {
        let (st, body) = c
            .post(
                &format!("/v1/dossiers/{d1}/events"),
                &event(&format!("ax-{i}"), status, i as i64),
            )
            .await;
        assert_eq!(st, 202, "{status}: {body}");
    }
    let back = province
        .center
        .wait_for(Duration::from_secs(30), |n| {
            n.iter().filter(|n| n.event == "exchange.status").count() == 3
        })
        .await;
    assert!(back, "{:?}\n{}", province.center.notices(), p.log());
    let codes: Vec<Value> = province
        .center
        .notices()
        .iter()
        .map(|n| n.data["status_code"].clone())
        .collect();
    assert_eq!(codes, ["03", "05", "06"], "in order");
    let (_, at_province) = p.get(&format!("/v1/dossiers/{d1}")).await;
    assert_eq!(at_province["status"], "processed", "{at_province}");

    // Commune → province.
    let d2 = "000.00.12.H37-261129-0302";
    let (st, body) = c.post("/v1/dossiers", &dossier(d2, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    let arrived = province
        .center
        .wait_for(Duration::from_secs(30), |n| {
            n.iter().any(|n| n.dossier_code == d2)
        })
        .await;
    assert!(arrived, "{}", p.log());
    assert_eq!(received(&p, d2).await.len(), 1);

    // Everything that crossed the axis was taken and verifies with xmlsec1.
    let all_done = axis
        .wait_for(Duration::from_secs(10), |docs| {
            docs.len() == 5 && docs.iter().all(|d| d.mark == Mark::Done)
        })
        .await;
    assert!(all_done, "{:?}", axis.docs());
    if xmlsec_available() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = [province.pki.write_ca(dir.path()), {
            let path = dir.path().join("commune-ca.pem");
            std::fs::write(&path, &commune.pki.ca_pem).expect("ca");
            path
        }];
        for (i, doc) in axis.docs().iter().enumerate() {
            xmlsec_verifies(dir.path(), &format!("axis-{i}.xml"), &doc.xml, &cas);
        }
    }
}

#[tokio::test]
async fn the_poller_fails_what_it_cannot_believe_backs_off_and_survives_a_crash() {
    let axis = AxisSim::start().await.expect("axis");
    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    let p = province
        .start(&(province.config_via_axis(&commune, &axis, "2s") + &store.attachments_toml()))
        .await;

    // A dossier waits in the commune's mailbox, with a forged copy, garbage and a second copy.
    let d = "000.02.01.H37-261129-0401";
    let (st, body) = p.post("/v1/dossiers", &dossier(d, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    assert!(
        axis.wait_for(Duration::from_secs(20), |docs| docs.len() == 1)
            .await,
        "{}",
        p.log()
    );
    let good = axis.docs()[0].clone();
    assert!(
        good.xml.contains("Ninh Bình"),
        "the sender's name is signed"
    );
    let forged = axis.inject(
        province.code,
        commune.code,
        &good.xml.replacen("Ninh Bình", "Ninh Binh", 1),
    );
    let garbage = axis.inject(province.code, commune.code, "<edXML>not a document");
    let copy = axis.inject(province.code, commune.code, &good.xml);

    // The commune dies right after committing the first document, before marking it done.
    let config = commune.config_via_axis(&province, &axis, "1600ms");
    let mut crashing = commune
        .start_with_env(
            &config,
            &[("LIENTHONG_TEST_CRASH_AFTER_COMMIT", "exchange")],
        )
        .await;
    let start = Instant::now();
    while !crashing.log().contains("aborting after the commit") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            crashing.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crashing.kill9().await;
    let after_crash = axis.doc(&good.id).expect("doc");
    assert_eq!(
        after_crash.mark,
        Mark::Pending,
        "not marked before the crash"
    );
    assert_eq!(after_crash.fetches, 1);
    assert!(commune.center.notices().is_empty(), "nothing forwarded yet");

    // Back up while the axis is down: the poller backs off instead of hammering it.
    axis.set_down(true);
    let c = commune.start(&config).await;
    let outage = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during: Vec<Instant> = axis
        .listings(commune.code)
        .into_iter()
        .filter(|t| *t >= outage)
        .collect();
    axis.set_down(false);
    assert!(
        (2..=8).contains(&during.len()),
        "{} listings in 4 s with a 200 ms interval and backoff",
        during.len()
    );
    let longest = during
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest >= Duration::from_millis(1200),
        "waits grew: {longest:?}"
    );

    // The axis is back: the committed document is recognised (not stored or forwarded again),
    // the copy too; the forged and the garbage documents are failed with their reasons.
    let settled = axis
        .wait_for(Duration::from_secs(20), |docs| {
            docs.iter().all(|d| d.mark != Mark::Pending)
        })
        .await;
    assert!(settled, "{:?}\n{}", axis.docs(), c.log());
    let doc = |id: &str| axis.doc(id).expect("doc");
    assert_eq!(doc(&good.id).mark, Mark::Done);
    assert_eq!(doc(&good.id).fetches, 2, "fetched again after the crash");
    assert_eq!(doc(&copy).mark, Mark::Done);
    // Failed; the axis's updateStatus has no field for the reason: the log has it.
    assert_eq!(doc(&forged).mark, Mark::Failed);
    assert_eq!(doc(&garbage).mark, Mark::Failed);
    let log = c.log();
    let reason_of = |id: &str| {
        log.lines()
            .find(|l| l.contains("axis document refused") && l.contains(id))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert!(reason_of(&forged).contains("signature"), "{log}");
    assert!(reason_of(&garbage).contains("malformed"), "{log}");
    for id in [&good.id, &copy, &forged, &garbage] {
        assert_eq!(doc(id).marks, 1, "{id} marked once");
    }
    let got = commune
        .center
        .wait_for(Duration::from_secs(20), |n| !n.is_empty())
        .await;
    assert!(got, "{}", c.log());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notices = commune.center.notices();
    assert_eq!(notices.len(), 1, "forwarded exactly once: {notices:?}");
    assert_eq!(notices[0].dossier_code, d);
    assert_eq!(received(&c, d).await.len(), 1, "stored once");
    assert!(c.log().contains("edXML resend"), "{}", c.log());
}

/// The axis refuses a call with HTTP 200 and `"status":"FAIL"` (here: the province's secret is
/// not the one the axis holds): the delivery is a dead letter carrying the axis's `ErrorDesc`,
/// not a retry and not a success.
#[tokio::test]
async fn an_axis_refusal_with_http_200_is_a_dead_letter_with_its_reason() {
    let axis = AxisSim::start().await.expect("axis");
    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    let config = province.config_via_axis(&commune, &axis, "2s");
    // The axis's operator changed the secret; the province still has the old one.
    axis.register(&format!("sys-{}", province.code), "rotated", province.code);
    let p = province.start(&(config + &store.attachments_toml())).await;
    let code = "000.02.01.H37-261207-0801";
    let (st, body) = p.post("/v1/dossiers", &dossier(code, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    let all = p
        .wait_deliveries(
            Duration::from_secs(20),
            "a dead letter",
            |ds: &[Value]| {
                ds.iter()
                    .any(|d| d["destination"] == commune.destination && d["state"] == "dead")
            },
        )
        .await;
    let dead = all
        .iter()
        .find(|d| d["destination"] == commune.destination)
        .expect("delivery");
    let error = dead["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("hash-header") && error.contains("HTTP 200"),
        "{dead}"
    );
    assert!(axis.docs().is_empty(), "nothing was taken");
    assert!(
        axis.refusals().iter().any(|r| r.contains("hash-header")),
        "{:?}",
        axis.refusals()
    );
}
