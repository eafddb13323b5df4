//! The X-Road route: identifiers, addressing, error classification, and calls through the
//! Security Server simulator (`lienthong_tests::security_server`) to the portal simulators.

use std::sync::Arc;

use lienthong_tests::center_sim::CenterSim;
use lienthong_tests::security_server::SecurityServerSim;
use serde_json::json;

use super::*;
use crate::evidence::collect_about;
use crate::http::OutboundSecurity;
use crate::webhook::{WebhookConfig, WebhookConnector};
use crate::{Connector, MessageBody, Notice, OutboundMessage};

fn route() -> Route {
    Route::new(&XRoadConfig {
        security_server: "https://ss.tinh.example/".into(),
        client: "VN/GOV/000.02.01.H37/LIENTHONG".into(),
        service: "VN/GOV/000.00.00.H37/NDXP/BAR%2FSERVICE".into(),
        request_hash: RequestHash::Check,
    })
    .unwrap()
}

#[test]
fn the_url_keeps_the_path_and_query() {
    let r = route();
    let url = |u: &str| {
        r.url_for(&reqwest::Url::parse(u).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(
        url("https://provider.example/api/v1/hoso?ma=H37%2F1&x=y"),
        "https://ss.tinh.example/r1/VN/GOV/000.00.00.H37/NDXP/BAR%2FSERVICE/api/v1/hoso?ma=H37%2F1&x=y"
    );
    assert_eq!(
        url("https://provider.example/"),
        "https://ss.tinh.example/r1/VN/GOV/000.00.00.H37/NDXP/BAR%2FSERVICE"
    );
}

#[test]
fn prepare_sets_the_headers_and_a_fresh_id() {
    let r = route();
    let client = reqwest::Client::new();
    let mut req = client
        .post("https://provider.example/api")
        .header("X-Road-Client", "SPOOFED/X/Y")
        .body("{}")
        .build()
        .unwrap();
    let first = r.prepare(&mut req, Some("H37.01-261207-0001")).unwrap();
    let h = req.headers();
    assert_eq!(h[CLIENT], "VN/GOV/000.02.01.H37/LIENTHONG");
    assert_eq!(h[ISSUE], "H37.01-261207-0001");
    assert_eq!(h[ID], first.id.as_str());
    assert_eq!(
        h.get_all(CLIENT).iter().count(),
        1,
        "the connector's value is replaced"
    );
    assert_eq!(h["accept"], "*/*");
    let mut again = client.post("https://provider.example/api").build().unwrap();
    let second = r.prepare(&mut again, None).unwrap();
    assert_ne!(first.id, second.id, "each attempt has its own X-Road-Id");
    assert!(again.headers().get(ISSUE).is_none());
}

#[test]
fn errors_are_classified_by_type() {
    for kind in [
        "Client.BadRequest",
        "Client.InvalidClientIdentifier",
        "Server.ServerProxy.AccessDenied",
        "Server.ServerProxy.ServiceDisabled",
        "Server.ClientProxy.UnknownMember",
        "Server.ServerProxy.UnknownService",
    ] {
        assert!(is_permanent(kind), "{kind}");
    }
    for kind in [
        "Server.ServerProxy.NetworkError",
        "Server.ClientProxy.NetworkError",
        "Server.ServerProxy.DatabaseError",
        "Server.ClientProxy.SslAuthenticationFailed",
        "Server.ServerProxy.ServiceFailed.Timeout",
    ] {
        assert!(!is_permanent(kind), "{kind}");
    }
    let o = classify(
        "Client.BadRequest",
        400,
        br#"{"type":"Client.BadRequest","message":"Invalid client id","detail":"d-1"}"#,
    );
    assert_eq!(o.label(), "rejected");
    assert_eq!(o.portal().unwrap().code, "Client.BadRequest");
    assert!(
        o.error()
            .unwrap()
            .contains("Invalid client id [detail d-1]"),
        "{o:?}"
    );
    let o = classify("Server.ServerProxy.NetworkError", 500, b"not json");
    assert_eq!(o.label(), "retry");
    assert_eq!(o.http_status(), Some(500));
}

#[test]
fn configuration_problems_name_their_key() {
    let bad = XRoadConfig {
        security_server: "ftp://ss".into(),
        client: "VN/GOV".into(),
        service: "VN/GOV/M/SVC".into(),
        request_hash: RequestHash::Keep,
    };
    let keys: Vec<String> = bad.problems().into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["security_server", "client", "service"]);
}

// ---- Through the Security Server simulator, on loopback ----

const CLIENT_ID: &str = "VN/GOV/000.02.01.H37/LIENTHONG";
const SERVICE_ID: &str = "VN/GOV/000.00.00.H37/TRUNGTAM/thongbao";
const DOSSIER: &str = "000.00.12.H37-261207-0001";

fn config(ss: &SecurityServerSim, client: &str) -> XRoadConfig {
    XRoadConfig {
        security_server: ss.url(),
        client: client.into(),
        service: SERVICE_ID.into(),
        request_hash: RequestHash::Check,
    }
}

fn via(config: &XRoadConfig) -> OutboundSecurity {
    OutboundSecurity {
        xroad: Some(Arc::new(Route::new(config).expect("route"))),
        ..Default::default()
    }
}

/// A webhook to the center simulator, through `ss` as `client`.
fn webhook(ss: &SecurityServerSim, center: &CenterSim, client: &str) -> WebhookConnector {
    let config: WebhookConfig =
        toml::from_str(&format!("url = \"{}\"\ntimeout = \"3s\"\n", center.url())).unwrap();
    WebhookConnector::new(&config, &via(&self::config(ss, client))).unwrap()
}

fn notice(id: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        body: MessageBody::Notice(Notice {
            event: "exchange.dossier".into(),
            dossier_code: DOSSIER.into(),
            data: json!({ "subject": "Cấp giấy phép xây dựng" }),
        }),
        attempt: 1,
    }
}

/// A Security Server with this center's client, publishing the center simulator's service.
async fn setup() -> (SecurityServerSim, CenterSim) {
    let center = CenterSim::start().await.unwrap();
    let ss = SecurityServerSim::start().await.unwrap();
    ss.add_client(CLIENT_ID);
    // The service's provider URL is the center's host; the connector's path follows it.
    let base = center.url().trim_end_matches("/notices").to_owned();
    ss.add_service(SERVICE_ID, &base, &[CLIENT_ID]);
    (ss, center)
}

#[tokio::test]
async fn xroad_a_delivery_goes_through_the_security_server_with_its_evidence() {
    let (ss, center) = setup().await;
    let c = webhook(&ss, &center, CLIENT_ID);
    let (outcome, evidence) =
        collect_about(Some(DOSSIER.into()), c.deliver(&[notice("m-1")])).await;
    assert_eq!(outcome.label(), "delivered", "{outcome:?} {:?}", ss.calls());
    assert_eq!(center.notices().len(), 1, "the provider got it");
    let calls = ss.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.target,
        "/r1/VN/GOV/000.00.00.H37/TRUNGTAM/thongbao/notices"
    );
    assert_eq!(call.client.as_deref(), Some(CLIENT_ID));
    assert_eq!(call.issue.as_deref(), Some(DOSSIER));
    let x = evidence.xroad.expect("X-Road evidence");
    assert_eq!(Some(&x.id), call.id.as_ref(), "our X-Road-Id, echoed");
    assert_eq!(x.request_id, call.request_id);
    assert_eq!(x.request_hash, call.request_hash, "checked and kept");
    assert!(evidence.payload_sha256.is_some());
    // A second attempt has its own X-Road-Id.
    let (again, _) = collect_about(Some(DOSSIER.into()), c.deliver(&[notice("m-2")])).await;
    assert_eq!(again.label(), "delivered");
    let calls = ss.calls();
    assert_ne!(calls[0].id, calls[1].id);
}

#[tokio::test]
async fn xroad_errors_are_classified_by_their_type() {
    let (ss, center) = setup().await;
    // Provider unreachable: temporary, then delivered.
    ss.provider_down_for(1);
    let c = webhook(&ss, &center, CLIENT_ID);
    let first = c.deliver(&[notice("m-1")]).await;
    assert_eq!(first.label(), "retry", "{first:?}");
    assert_eq!(
        first.portal().map(|p| p.code.as_str()),
        Some("Server.ServerProxy.NetworkError")
    );
    assert_eq!(c.deliver(&[notice("m-1")]).await.label(), "delivered");
    // A client not allowed the service: permanent.
    ss.add_client("VN/GOV/000.02.01.H37/KHAC");
    let other = webhook(&ss, &center, "VN/GOV/000.02.01.H37/KHAC");
    let denied = other.deliver(&[notice("m-2")]).await;
    assert_eq!(denied.label(), "rejected", "{denied:?}");
    assert_eq!(
        denied.portal().map(|p| p.code.as_str()),
        Some("Server.ServerProxy.AccessDenied")
    );
    // A client id the Security Server finds malformed: the protocol is broken, permanent.
    let malformed = webhook(&ss, &center, "VN/GOV/000.02.01.H37/LIEN:THONG");
    let bad = malformed.deliver(&[notice("m-3")]).await;
    assert_eq!(bad.label(), "rejected", "{bad:?}");
    assert_eq!(bad.http_status(), Some(400));
    assert_eq!(
        bad.portal().map(|p| p.code.as_str()),
        Some("Client.BadRequest")
    );
    assert!(bad.error().unwrap().contains("X-Road-Client"), "{bad:?}");
    assert_eq!(center.notices().len(), 1, "only the delivered one arrived");
}

#[tokio::test]
async fn xroad_a_request_hash_that_is_not_the_requests_fails_the_attempt() {
    let (ss, center) = setup().await;
    ss.tamper_next_hash();
    let c = webhook(&ss, &center, CLIENT_ID);
    let outcome = c.deliver(&[notice("m-1")]).await;
    assert_eq!(outcome.label(), "retry", "{outcome:?}");
    assert!(
        outcome.error().unwrap().contains("request hash mismatch"),
        "{outcome:?}"
    );
    // Recorded only: the same answer passes.
    ss.tamper_next_hash();
    let mut keep = config(&ss, CLIENT_ID);
    keep.request_hash = RequestHash::Keep;
    let config: WebhookConfig =
        toml::from_str(&format!("url = \"{}\"\ntimeout = \"3s\"\n", center.url())).unwrap();
    let kept = WebhookConnector::new(&config, &via(&keep)).unwrap();
    assert_eq!(kept.deliver(&[notice("m-2")]).await.label(), "delivered");
}

#[tokio::test]
async fn xroad_the_axis_multipart_goes_through_intact() {
    use crate::peer::axis::{AxisClient, AxisConfig, MessageType};
    let axis = lienthong_tests::axis_sim::AxisSim::start().await.unwrap();
    axis.register("sys-h37", "bi-mat", "000.02.01.H37");
    let ss = SecurityServerSim::start().await.unwrap();
    ss.add_client(CLIENT_ID);
    let service = "VN/GOV/000.00.00.H37/NDXP/vdxp";
    ss.add_service(service, &axis.url(), &[CLIENT_ID]);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("axis.secret");
    std::fs::write(&secret, "bi-mat").unwrap();
    let mut x = config(&ss, CLIENT_ID);
    x.service = service.into();
    let client = AxisClient::new(
        "https://truc.example.gov.vn/",
        "000.02.01.H37",
        &AxisConfig {
            system_id: "sys-h37".into(),
            secret_file: secret,
            service_type: "eDoc".into(),
        },
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(5),
        &via(&x),
    )
    .unwrap();
    let (sent, evidence) = collect_about(
        Some(DOSSIER.into()),
        client.send(
            "000.00.12.H37",
            MessageType::Edoc,
            "<edXML>một</edXML>".into(),
        ),
    )
    .await;
    assert_eq!(
        sent.label(),
        "delivered",
        "{sent:?} {:?} {:?}",
        axis.refusals(),
        ss.calls()
    );
    assert_eq!(
        ss.calls()[0].target,
        "/r1/VN/GOV/000.00.00.H37/NDXP/vdxp/sendEdoc"
    );
    assert_eq!(
        axis.docs().len(),
        1,
        "signed headers and hash-file survived the relay"
    );
    assert!(evidence.xroad.is_some_and(|x| x.request_hash.is_some()));
}

#[tokio::test]
async fn xroad_the_simulator_refuses_malformed_calls() {
    let (ss, _center) = setup().await;
    let http = reqwest::Client::new();
    let call = |path: &str, client: Option<&str>| {
        let mut r = http.post(format!("{}{path}", ss.url())).body("{}");
        if let Some(c) = client {
            r = r.header("X-Road-Client", c);
        }
        r.send()
    };
    let svc = "/r1/VN/GOV/000.00.00.H37/TRUNGTAM/thongbao/notices";
    for (path, client, status, kind) in [
        ("/notices", Some(CLIENT_ID), 400, "Client.BadRequest"),
        (
            "/r2/VN/GOV/000.00.00.H37/TRUNGTAM/thongbao",
            Some(CLIENT_ID),
            400,
            "Client.BadRequest",
        ),
        (
            "/r1/VN/GOV/000.00.00.H37",
            Some(CLIENT_ID),
            400,
            "Client.BadRequest",
        ),
        (
            "/r1/VN%2FGOV%2F000.00.00.H37%2FTRUNGTAM%2Fthongbao",
            Some(CLIENT_ID),
            400,
            "Client.BadRequest",
        ),
        (svc, None, 400, "Client.BadRequest"),
        (svc, Some("VN/GOV"), 400, "Client.BadRequest"),
        (
            svc,
            Some("VN/GOV/000.02.01.H37/LIENTHONG/X"),
            400,
            "Client.BadRequest",
        ),
        (
            svc,
            Some("VN/GOV/000.02.01.H37/AI"),
            500,
            "Server.ClientProxy.UnknownMember",
        ),
        (
            "/r1/VN/GOV/000.00.00.H37/TRUNGTAM/khac",
            Some(CLIENT_ID),
            500,
            "Server.ServerProxy.UnknownService",
        ),
    ] {
        let r = call(path, client).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path} {client:?}");
        assert_eq!(r.headers()[ERROR], kind, "{path} {client:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["type"], kind);
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let ok = call(svc, Some(CLIENT_ID)).await.unwrap();
    assert!(ok.headers().get(ERROR).is_none());
    assert!(ok.headers().get(REQUEST_HASH).is_some());
}

/// Connection type `HTTPS` (the information system's certificate registered on the Security
/// Server): the destination's `tls` is the connection to the Security Server; without the
/// client certificate the handshake fails and the attempt is retried.
#[tokio::test]
async fn xroad_the_security_server_over_mutual_tls() {
    use lienthong_certs::testpki::Pki;
    use lienthong_certs::tls::{
        ClientCertificates, Identity, MinVersion, client_config, server_config,
    };
    use rcgen::ExtendedKeyUsagePurpose as Eku;

    let ss_ca = Pki::new("Security Server CA");
    let is_ca = Pki::new("Province CA");
    let dir = tempfile::tempdir().unwrap();
    let (sc, sk) = ss_ca
        .leaf(
            "localhost",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[Eku::ServerAuth],
        )
        .write(dir.path(), "ss");
    let (cc, ck) = is_ca
        .leaf(
            "lienthong.ninhbinh",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[Eku::ClientAuth],
        )
        .write(dir.path(), "is");
    let registered = is_ca.store("registered");
    let mut tls = (*server_config(
        &Identity::load(&sc, &sk).unwrap(),
        ClientCertificates::Required(&registered),
        MinVersion::Tls12,
    )
    .unwrap())
    .clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let center = CenterSim::start().await.unwrap();
    let ss = SecurityServerSim::start_tls(Arc::new(tls), reqwest::Client::new())
        .await
        .unwrap();
    ss.add_client(CLIENT_ID);
    let base = center.url().trim_end_matches("/notices").to_owned();
    ss.add_service(SERVICE_ID, &base, &[CLIENT_ID]);
    let ss_trust = Arc::new(ss_ca.store("security-server"));
    let webhook_with = |identity: Option<&Identity>| {
        let config: WebhookConfig =
            toml::from_str(&format!("url = \"{}\"\ntimeout = \"3s\"\n", center.url())).unwrap();
        let security = OutboundSecurity {
            tls: Some(client_config(&ss_trust, identity, MinVersion::Tls12).unwrap()),
            ..via(&self::config(&ss, CLIENT_ID))
        };
        WebhookConnector::new(&config, &security).unwrap()
    };
    let identity = Identity::load(&cc, &ck).unwrap();
    let out = webhook_with(Some(&identity))
        .deliver(&[notice("m-1")])
        .await;
    assert_eq!(out.label(), "delivered", "{out:?}");
    assert!(ss.url().starts_with("https://"));
    let refused = webhook_with(None).deliver(&[notice("m-2")]).await;
    assert_eq!(refused.label(), "retry", "{refused:?}");
    assert_eq!(center.notices().len(), 1);
}
