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
    // A relay rule that does not pin the Security Server's certificate would let any client
    // certificate speak for any X-Road member.
    let text = TestConfig {
        server_extra: "[[server.client_auth]]\npath_prefix = \"/v1/dossiers\"\nxroad_clients = [\"VN/GOV/000.02.01.H37/MOTCUA\"]\n".into(),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    std::fs::write(&path, text).expect("write");
    let (ok, _, err) = lienthong_tests::gateway_process::run_cli(&[
        "check-config",
        "--config",
        path.to_str().expect("path"),
    ]);
    assert!(!ok);
    assert!(
        err.contains("server.client_auth[0].xroad_clients") && err.contains("allowed_subjects"),
        "{err}"
    );
}

/// Inbound: this center's own Security Server relays requests of other X-Road members to the
/// gateway with its TLS client certificate; a rule naming that certificate takes
/// `X-Road-Client` as the caller, and only the clients it lists may call. Anywhere else the
/// header means nothing.
#[tokio::test]
async fn xroad_requests_relayed_by_the_members_security_server_are_identified_by_their_client() {
    use lienthong_certs::testpki::Leaf;
    use rcgen::ExtendedKeyUsagePurpose as Eku;
    const MOTCUA: &str = "VN/GOV/000.02.01.H37/MOTCUA";
    const KHAC: &str = "VN/GOV/000.02.01.H37/KHAC";
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new("Lienthong Test Root");
    let server = pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth],
    );
    let (cert, key) = server.write(dir.path(), "server");
    let ca = pki.write_ca(dir.path());
    let client = |leaf: Option<&Leaf>| {
        let mut b = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA")]);
        if let Some(l) = leaf {
            let pem = format!("{}{}", l.cert_pem, l.key_pem);
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
        }
        b.build().expect("client")
    };
    let ss_leaf = pki.leaf(
        "ss.tinh.example",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let stranger = pki.leaf(
        "someone.example",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let sim = DvcqgSim::start().await.expect("sim");
    let text = TestConfig {
        server_extra: format!(
            r#"
[server.tls]
cert = "{}"
key = "{}"
client_trust = "clients"

[[server.client_auth]]
path_prefix = "/v1/dossiers"
allowed_subjects = ["ss.tinh.example"]
xroad_clients = ["{MOTCUA}"]

[trust.clients]
anchors = ["{}"]
"#,
            cert.display(),
            key.display(),
            ca.display()
        ),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let gw = Gateway::start_tls(dir.path(), &text, client(None)).await;
    let ss = SecurityServerSim::start_forwarding_with(client(Some(&ss_leaf)))
        .await
        .expect("ss");
    let service = "VN/GOV/000.02.01.H37/LIENTHONG/hoso";
    ss.add_client(MOTCUA);
    ss.add_client(KHAC);
    ss.add_service(service, &gw.base_url, &[MOTCUA, KHAC]);
    let through = |caller: &'static str, code: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/r1/{service}/v1/dossiers", ss.url()))
            .header("X-Road-Client", caller)
            .json(&dossier(code))
            .send()
    };
    // The listed client, relayed: the center's API takes it.
    let r = through(MOTCUA, "000.02.01.H37-261207-0911")
        .await
        .expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    // Another member, relayed by the same Security Server: not on the route's list.
    let r = through(KHAC, "000.02.01.H37-261207-0912")
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.expect("problem");
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.contains("xroad-client-not-allowed")),
        "{problem}"
    );
    // The Security Server's certificate without an X-Road client: refused.
    let r = client(Some(&ss_leaf))
        .post(format!("{}/v1/dossiers", gw.base_url))
        .json(&dossier("000.02.01.H37-261207-0913"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    // The header from anyone else means nothing.
    let r = client(Some(&stranger))
        .post(format!("{}/v1/dossiers", gw.base_url))
        .header("X-Road-Client", MOTCUA)
        .json(&dossier("000.02.01.H37-261207-0914"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    // Reading back goes the same way (the rule covers the whole prefix).
    let status_of = |code: &str| {
        let url = format!(
            "{}/r1/{service}/v1/dossiers/000.02.01.H37-261207-{code}",
            ss.url()
        );
        async move {
            reqwest::Client::new()
                .get(url)
                .header("X-Road-Client", MOTCUA)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status_of("0911").await,
        200,
        "the relayed dossier was stored"
    );
    for code in ["0912", "0913", "0914"] {
        assert_eq!(status_of(code).await, 404, "{code} was not stored");
    }
    assert!(gw.log().contains("relayed by the Security Server"));
}
