//! Inter-level exchange between two real Lienthong processes (a province and a commune), each
//! with its own store, CA, TLS and signing certificates, over mutual TLS with signed edXML:
//! dossiers in both directions with their files, statuses back, every document on the wire
//! checked with `xmlsec1`.

use std::time::Duration;

use base64::Engine;
use lienthong_certs::testpki::xmlsec_available;
use lienthong_tests::file_server::FileServer;
use lienthong_tests::gateway_process::Gateway;
use lienthong_tests::two_level::{
    Level, dossier, event, files, province_and_commune, received, xmlsec_verifies,
};
use serde_json::Value;

/// Both centers, each allowed to fetch the dossiers' files from `store`.
async fn start_both(province: &Level, commune: &Level, store: &FileServer) -> (Gateway, Gateway) {
    let files = store.attachments_toml();
    let p = province
        .start(&province.config(commune, &commune.exchange_url(), &files))
        .await;
    let c = commune
        .start(&commune.config(province, &province.exchange_url(), &files))
        .await;
    (p, c)
}

#[tokio::test]
async fn dossiers_travel_both_ways_with_files_and_statuses_over_mtls() {
    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    let (p, c) = start_both(&province, &commune, &store).await;

    // Province → commune, with three files.
    let d1 = "000.02.01.H37-261129-0101";
    let (st, body) = p.post("/v1/dossiers", &dossier(d1, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    let arrived = commune
        .center
        .wait_for(Duration::from_secs(30), |n| {
            n.iter().any(|n| n.event == "exchange.dossier")
        })
        .await;
    assert!(
        arrived,
        "commune center got {:?}\n{}",
        commune.center.notices(),
        c.log()
    );
    let notice = commune.center.notices()[0].clone();
    assert_eq!(notice.dossier_code, d1);
    assert_eq!(notice.data["from"]["code"], province.code);
    assert_eq!(
        notice.data["dossier"]["code"], d1,
        "the whole dossier travels"
    );
    let attachments = notice.data["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 3);
    for (i, (name, bytes)) in files.iter().enumerate() {
        let a = &attachments[i];
        assert_eq!(a["content_id"], format!("tp-{i}"));
        let got = base64::engine::general_purpose::STANDARD
            .decode(a["content"].as_str().expect("content"))
            .expect("base64");
        assert_eq!(
            lienthong_certs::sha256_hex(&got),
            lienthong_certs::sha256_hex(bytes),
            "{name} byte for byte"
        );
        assert_eq!(a["sha256"], lienthong_certs::sha256_hex(bytes));
    }
    // The province's delivery was answered with the commune's signed 01.
    p.wait_deliveries(
        Duration::from_secs(20),
        "the peer delivery",
        |ds: &[Value]| {
            ds.iter()
                .any(|d| d["destination"] == "xa-gia-vien" && d["state"] == "delivered")
        },
    )
    .await;
    let (_, tracking) = p.get(&format!("/v1/dossiers/{d1}")).await;
    let delivery = tracking["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["destination"] == "xa-gia-vien")
        .cloned()
        .expect("peer delivery");
    assert_eq!(delivery["portal_code"], "01", "{delivery}");
    let (_, at_commune) = c.get(&format!("/v1/dossiers/{d1}")).await;
    assert_eq!(at_commune["status"], "registered", "{at_commune}");

    // The commune processes it; statuses go back to the province.
    for (i, status) in ["accepted", "processing", "processed"].iter().enumerate() {
        let (st, body) = c
            .post(
                &format!("/v1/dossiers/{d1}/events"),
                &event(&format!("x-{i}"), status, i as i64),
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
    assert!(
        back,
        "province center got {:?}\n{}",
        province.center.notices(),
        p.log()
    );
    let codes: Vec<String> = province
        .center
        .notices()
        .iter()
        .filter(|n| n.event == "exchange.status")
        .map(|n| {
            n.data["status_code"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(codes, ["03", "05", "06"], "in order");
    let (_, at_province) = p.get(&format!("/v1/dossiers/{d1}")).await;
    assert_eq!(at_province["status"], "processed", "{at_province}");
    for n in province.center.notices() {
        assert_eq!(
            n.data["document_id"]
                .as_str()
                .map(|d| d.starts_with(province.code)),
            Some(true),
            "statuses answer the province's DocumentId: {:?}",
            n.data
        );
    }

    // What each center was told is what the published schemas say.
    let (st, schemas) = p.get("/v1/schema/notices").await;
    assert_eq!(st, 200, "{schemas}");
    for n in commune
        .center
        .notices()
        .iter()
        .chain(&province.center.notices())
    {
        let schema = &schemas["events"][n.event.as_str()];
        if let Err(e) = lienthong_tests::conforms(&n.data, schema) {
            panic!("{} does not match its schema: {e}", n.event);
        }
    }

    // Commune → province: a second dossier.
    let d2 = "000.00.12.H37-261129-0002";
    let (st, body) = c.post("/v1/dossiers", &dossier(d2, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    let arrived = province
        .center
        .wait_for(Duration::from_secs(30), |n| {
            n.iter()
                .any(|n| n.event == "exchange.dossier" && n.dossier_code == d2)
        })
        .await;
    assert!(arrived, "{}", p.log());

    // Every edXML on the wire — dossiers, statuses and the signed answers — verifies with xmlsec1.
    let wire: Vec<(String, String)> = [
        (received(&c, d1).await, "commune"),
        (received(&p, d1).await, "province"),
        (received(&p, d2).await, "province"),
    ]
    .into_iter()
    .flat_map(|(items, side)| {
        items.into_iter().enumerate().flat_map(move |(i, r)| {
            [
                (
                    format!("{side}-{i}-received.xml"),
                    r["body"].as_str().unwrap_or_default().to_owned(),
                ),
                (
                    format!("{side}-{i}-answer.xml"),
                    r["answer"].as_str().unwrap_or_default().to_owned(),
                ),
            ]
        })
    })
    .collect();
    assert_eq!(
        wire.len(),
        2 * (1 + 3 + 1),
        "1 dossier + 3 statuses + 1 dossier, each answered"
    );
    if xmlsec_available() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cas = [province.pki.write_ca(dir.path()), {
            let p = dir.path().join("commune-ca.pem");
            std::fs::write(&p, &commune.pki.ca_pem).expect("ca");
            p
        }];
        for (name, xml) in &wire {
            assert!(
                xml.contains("<ds:Signature") || xml.contains("Signature"),
                "{name}"
            );
            xmlsec_verifies(dir.path(), name, xml, &cas);
        }
    }
}

#[tokio::test]
async fn a_peer_outage_is_retried_and_a_receiver_crash_after_commit_is_deduplicated() {
    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    let p = province
        .start(&province.config(&commune, &commune.exchange_url(), &store.attachments_toml()))
        .await;

    // The commune is down: the province keeps trying.
    let d = "000.02.01.H37-261129-0201";
    let (st, body) = p.post("/v1/dossiers", &dossier(d, &store, &files)).await;
    assert_eq!(st, 202, "{body}");
    p.wait_deliveries(
        Duration::from_secs(20),
        "retries while the peer is down",
        |ds: &[Value]| {
            ds.iter().any(|x| {
                x["destination"] == "xa-gia-vien"
                    && x["state"] == "retry_wait"
                    && x["attempts"].as_u64().unwrap_or(0) >= 2
            })
        },
    )
    .await;

    // The commune comes up but dies right after committing the message, before answering.
    let config = commune.config(&province, &province.exchange_url(), "");
    let mut crashing = commune
        .start_with_env(
            &config,
            &[("LIENTHONG_TEST_CRASH_AFTER_COMMIT", "exchange")],
        )
        .await;
    let start = std::time::Instant::now();
    while !crashing.log().contains("aborting after the commit") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            crashing.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crashing.kill9().await;
    assert_eq!(
        commune.center.notices().len(),
        0,
        "it died before forwarding anything"
    );

    // Back for good: the province's resend is recognised and answered with the original 01;
    // the center hears of the dossier exactly once.
    let c = commune.start(&config).await;
    p.wait_deliveries(
        Duration::from_secs(30),
        "delivered after the crash",
        |ds: &[Value]| {
            ds.iter()
                .any(|x| x["destination"] == "xa-gia-vien" && x["state"] == "delivered")
        },
    )
    .await;
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
    assert!(
        c.log().contains("edXML resend: original answer"),
        "the resend was recognised:\n{}",
        c.log()
    );
}
