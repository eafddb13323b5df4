//! X-Road through the member's Security Server (issue 26, part 3; format notes
//! `xroad-rest.md`), through the real `lienthong` binary: DVCQG and a peer's edXML delivered
//! through the Security Server simulator, which forwards to the portal and peer simulators; a
//! provider that is down is retried, then delivered; a client id the Security Server finds
//! malformed is a dead letter carrying the X-Road error type; each attempt's evidence holds the
//! X-Road ids and the request hash.

use std::time::Duration;

use lienthong_certs::testpki::Pki;
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, all_delivered, example, free_port};
use lienthong_tests::peer_sim::PeerSim;
use lienthong_tests::security_server::SecurityServerSim;
use serde_json::Value;

const CLIENT: &str = "VN/GOV/000.02.01.H37/LIENTHONG";
const DVCQG_SERVICE: &str = "VN/GOV/000.00.00.G22/DVCQG/lienthong";
const PEER_SERVICE: &str = "VN/GOV/000.00.12.H37/MOTCUA/edxml";

fn dossier(code: &str) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = Value::String(code.into());
    d
}

/// `[destinations.<name>.xroad]` for `service` through `ss` as `client`.
fn xroad(name: &str, ss: &SecurityServerSim, client: &str, service: &str) -> String {
    format!(
        "[destinations.{name}.xroad]\nsecurity_server = \"{}\"\nclient = \"{client}\"\nservice = \"{service}\"\n",
        ss.url()
    )
}

async fn attempts(gw: &Gateway, id: &str) -> Vec<Value> {
    let (st, v) = gw.get(&format!("/v1/deliveries/{id}/attempts")).await;
    assert_eq!(st, 200, "{v}");
    v["attempts"].as_array().cloned().unwrap_or_default()
}

/// A gateway delivering to DVCQG through `ss` as `client`, with `retry` as its schedule.
async fn dvcqg_gateway(
    dir: &std::path::Path,
    sim: &DvcqgSim,
    ss: &SecurityServerSim,
    client: &str,
    retry: Option<&str>,
) -> Gateway {
    let mut cfg = TestConfig {
        dvcqg_extra: xroad("dvcqg", ss, client, DVCQG_SERVICE),
        ..TestConfig::default()
    };
    if let Some(r) = retry {
        cfg.retry = r.into();
    }
    let config = cfg.render(dir, free_port(), sim);
    Gateway::start(dir, &config).await
}

#[tokio::test]
async fn xroad_dvcqg_and_a_peer_are_reached_through_the_security_server() {
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
    let ss = SecurityServerSim::start().await.expect("ss");
    ss.add_client(CLIENT);
    ss.add_service(DVCQG_SERVICE, &sim.base_url(), &[CLIENT]);
    let peer_base = peer.url().replace("/v1/exchange", "");
    ss.add_service(PEER_SERVICE, &peer_base, &[CLIENT]);
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
attachments = false

{}
[[routes]]
procedure_prefix = ""
destinations = ["xa-gia-vien"]
"#,
        TestConfig {
            dvcqg_extra: xroad("dvcqg", &ss, CLIENT, DVCQG_SERVICE),
            ..TestConfig::default()
        }
        .render(dir.path(), free_port(), &sim),
        cert.display(),
        key.display(),
        peer.url(),
        xroad("xa-gia-vien", &ss, CLIENT, PEER_SERVICE),
    );
    let gw = Gateway::start(dir.path(), &config).await;
    let code = "000.02.01.H37-261207-0901";
    let (st, body) = gw.post("/v1/dossiers", &dossier(code)).await;
    assert_eq!(st, 202, "{body}");
    let all = gw
        .wait_deliveries(Duration::from_secs(30), "delivered through X-Road", |all| {
            all.len() == 2 && all_delivered(all)
        })
        .await;
    assert!(sim.hoso(code).is_some(), "DVCQG got it");
    let got = peer.received();
    assert_eq!(got.len(), 1, "the peer got it");
    assert_eq!(got[0].dossier_code, code);
    assert!(got[0].signer.contains("Trung tam PVHCC tinh Ninh Binh"));

    let calls = ss.calls();
    let to = |prefix: &str| {
        calls
            .iter()
            .filter(|c| c.target.starts_with(prefix) && c.error.is_none())
            .count()
    };
    assert!(
        to("/r1/VN/GOV/000.00.00.G22/DVCQG/lienthong/api/") >= 2,
        "login and the service call, each through the Security Server: {calls:?}"
    );
    assert_eq!(to("/r1/VN/GOV/000.00.12.H37/MOTCUA/edxml/v1/exchange"), 1);
    assert!(
        calls
            .iter()
            .all(|c| c.client.as_deref() == Some(CLIENT) && c.issue.as_deref() == Some(code)),
        "every call names this center's client and the dossier: {calls:?}"
    );
    // The evidence of each delivery holds the ids and the request hash of its last call.
    for d in &all {
        let id = d["id"].as_str().expect("id");
        let tried = attempts(&gw, id).await;
        let last = tried.last().expect("an attempt");
        let hash = last["xroad_request_hash"].as_str().expect("request hash");
        let call = calls
            .iter()
            .find(|c| c.request_hash.as_deref() == Some(hash))
            .expect("the Security Server's answer");
        assert_eq!(last["xroad_id"].as_str(), call.id.as_deref());
        assert_eq!(
            last["xroad_request_id"].as_str(),
            call.request_id.as_deref()
        );
    }
}

#[tokio::test]
async fn xroad_a_provider_that_is_down_is_retried_then_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = DvcqgSim::start().await.expect("sim");
    let ss = SecurityServerSim::start().await.expect("ss");
    ss.add_client(CLIENT);
    ss.add_service(DVCQG_SERVICE, &sim.base_url(), &[CLIENT]);
    ss.provider_down_for(2);
    let gw = dvcqg_gateway(dir.path(), &sim, &ss, CLIENT, None).await;
    let code = "000.02.01.H37-261207-0902";
    let (st, body) = gw.post("/v1/dossiers", &dossier(code)).await;
    assert_eq!(st, 202, "{body}");
    let all = gw
        .wait_deliveries(Duration::from_secs(30), "delivered", all_delivered)
        .await;
    assert!(sim.hoso(code).is_some());
    let tried = attempts(&gw, all[0]["id"].as_str().expect("id")).await;
    assert!(tried.len() >= 2, "{tried:?}");
    assert_eq!(tried[0]["outcome"], "retry");
    assert_eq!(tried[0]["portal_code"], "Server.ServerProxy.NetworkError");
    assert_eq!(tried.last().expect("last")["outcome"], "delivered");
    let ids: Vec<&str> = tried
        .iter()
        .filter_map(|a| a["xroad_id"].as_str())
        .collect();
    assert_eq!(ids.len(), tried.len(), "every attempt has its X-Road-Id");
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "a fresh X-Road-Id per attempt: {ids:?}"
    );
}

#[tokio::test]
async fn xroad_a_malformed_client_id_is_a_dead_letter_with_the_error_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = DvcqgSim::start().await.expect("sim");
    let ss = SecurityServerSim::start().await.expect("ss");
    ss.add_client(CLIENT);
    ss.add_service(DVCQG_SERVICE, &sim.base_url(), &[CLIENT]);
    // PR-REST takes any UTF-8 part; X-Road's identifier rule does not take a colon.
    let gw = dvcqg_gateway(
        dir.path(),
        &sim,
        &ss,
        "VN/GOV/000.02.01.H37/LIEN:THONG",
        None,
    )
    .await;
    let (st, body) = gw
        .post("/v1/dossiers", &dossier("000.02.01.H37-261207-0903"))
        .await;
    assert_eq!(st, 202, "{body}");
    let all = gw
        .wait_deliveries(Duration::from_secs(30), "dead", |all| {
            all.iter().all(|d| d["state"] == "dead")
        })
        .await;
    let error = all[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("Client.BadRequest"), "{error}");
    let tried = attempts(&gw, all[0]["id"].as_str().expect("id")).await;
    assert_eq!(tried.len(), 1, "permanent: not retried");
    assert_eq!(tried[0]["portal_code"], "Client.BadRequest");
    assert_eq!(tried[0]["http_status"], 400);
    assert!(sim.calls().is_empty(), "nothing reached the portal");
}

#[tokio::test]
async fn xroad_a_configuration_that_is_not_an_x_road_identifier_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = DvcqgSim::start().await.expect("sim");
    let text = TestConfig {
        dvcqg_extra: "[destinations.dvcqg.xroad]\nsecurity_server = \"https://ss.tinh.example\"\nclient = \"VN/GOV\"\nservice = \"VN/GOV/000.00.00.G22/DVCQG\"\n".into(),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).expect("write");
    let (ok, _, err) = lienthong_tests::gateway_process::run_cli(&[
        "check-config",
        "--config",
        path.to_str().expect("path"),
    ]);
    assert!(!ok);
    assert!(
        err.contains("destinations.dvcqg.xroad.client")
            && err.contains("destinations.dvcqg.xroad.service"),
        "{err}"
    );
}
