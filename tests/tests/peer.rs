//! Inter-level exchange, sending side: a dossier and its status events reach a peer center as
//! edXML signed with the center's certificate, through the real `lienthong` binary.

use std::time::{Duration, Instant};

use lienthong_certs::testpki::Pki;
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, free_port};
use lienthong_tests::peer_sim::PeerSim;
use serde_json::Value;

#[tokio::test]
async fn dossiers_and_events_reach_the_peer_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new("Ninh Binh CA");
    let signing = pki.leaf(
        "Trung tam PVHCC tinh Ninh Binh",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[],
    );
    let (cert, key) = signing.write(dir.path(), "signing");
    let peer = PeerSim::start(pki.store("commune")).await.expect("peer");
    let sim = DvcqgSim::start().await.expect("sim");
    let config = format!(
        r#"{}
[signing]
cert = "{}"
key = "{}"

[destinations.xa-gia-vien]
kind = "peer"
url = "{}"
organ_id = "000.00.12.H37"
organ_name = "UBND xã Gia Viễn"
timeout = "3s"
# The example dossier's files live on hosts this test cannot reach (the connector's own test
# covers AttachmentEncoded).
attachments = false

[[routes]]
procedure_prefix = ""
destinations = ["xa-gia-vien"]
"#,
        TestConfig::default().render(dir.path(), free_port(), &sim),
        cert.display(),
        key.display(),
        peer.url()
    );
    let gw = Gateway::start(dir.path(), &config).await;
    let mut dossier: Value = serde_json::from_str(include_str!(
        "../../examples/dossier-business-registration.json"
    ))
    .expect("example");
    let code = "000.02.01.H37-261129-0301";
    dossier["code"] = Value::String(code.into());
    let (st, body) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(st, 202, "{body}");
    let mut event: Value =
        serde_json::from_str(include_str!("../../examples/event-processing.json")).expect("event");
    event["id"] = Value::String("e-1".into());
    let (st, body) = gw
        .post(&format!("/v1/dossiers/{code}/events"), &event)
        .await;
    assert_eq!(st, 202, "{body}");

    let start = Instant::now();
    while peer.received().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "peer got {:?}\n{}",
            peer.received(),
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = peer.received();
    assert_eq!(got[0].dossier_code, code);
    assert_eq!(got[0].business_doc_type, "0");
    assert!(
        got[0].signer.contains("Trung tam PVHCC tinh Ninh Binh"),
        "{got:?}"
    );
    assert_eq!(
        got[1].status_code, "05",
        "the processing event follows the dossier, in order"
    );
    let (st, tracking) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(st, 200);
    assert!(tracking.to_string().contains("xa-gia-vien"), "{tracking}");
}

#[tokio::test]
async fn a_peer_destination_without_a_signing_identity_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = DvcqgSim::start().await.expect("sim");
    let config = format!(
        "{}\n[destinations.xa]\nkind = \"peer\"\nurl = \"http://127.0.0.1:9/v1/exchange\"\norgan_id = \"000.00.12.H37\"\norgan_name = \"x\"\n",
        TestConfig::default().render(dir.path(), free_port(), &sim)
    );
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, config).expect("write");
    let (ok, _, err) = lienthong_tests::gateway_process::run_cli(&[
        "check-config",
        "--config",
        path.to_str().expect("path"),
    ]);
    assert!(!ok);
    assert!(
        err.contains("destinations.xa.kind") && err.contains("[signing]"),
        "{err}"
    );
}
