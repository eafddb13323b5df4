//! The EMC connector: rendered reports, and calls to the EMC simulator on loopback.

use lienthong_mappings::{Dossier, ProgressInput, StatusEvent};
use lienthong_tests::emc_sim::EmcSim;
use lienthong_tests::token_issuer::TokenIssuer;
use serde_json::{Value, json};

use super::*;

const SITE: &str = "H37";

fn business() -> Dossier {
    Dossier::from_json(
        serde_json::from_str(include_str!(
            "../../../examples/dossier-business-registration.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn connector(sim: &EmcSim, batch: usize) -> EmcConnector {
    let config: EmcConfig = toml::from_str(&format!(
        "url = \"{base}/reports\"\nsite_id = \"{SITE}\"\nbatch = {batch}\ntimeout = \"3s\"\n[oauth]\n{oauth}",
        base = sim.base_url(),
        oauth = TokenIssuer::config_toml(&format!("{}/token", sim.base_url())),
    ))
    .unwrap();
    EmcConnector::new(&config, &OutboundSecurity::default(), builtin()).unwrap()
}

fn step(d: &Dossier, n: u32, status: &str) -> OutboundMessage {
    let event: StatusEvent = serde_json::from_value(json!({
        "id": format!("ev-{n}"),
        "at": "2026-11-28T14:30:00+07:00",
        "status": status,
        "actor": { "name": "Nguyễn Văn Hùng", "unit": "Phòng Đăng ký kinh doanh" },
        "note": format!("Bước {n}"),
    }))
    .unwrap();
    OutboundMessage {
        id: format!("m-{n}"),
        body: MessageBody::Progress(ProgressInput {
            dossier_code: d.code.clone(),
            event,
            response_for: None,
            dossier: Some(Box::new(DossierContext::of(d))),
        }),
        attempt: 1,
    }
}

fn new_dossier(d: &Dossier) -> OutboundMessage {
    OutboundMessage {
        id: "m-0".into(),
        body: MessageBody::Dossier {
            op: DossierOp::Create,
            dossier: Box::new(d.clone()),
        },
        attempt: 1,
    }
}

#[tokio::test]
async fn a_new_dossier_is_reported_as_received_with_the_site_id() {
    let sim = EmcSim::start().await.unwrap();
    let c = connector(&sim, 20);
    let d = business();
    let rendered = c.render(&new_dossier(&d).body).unwrap();
    assert_eq!(
        rendered,
        json!({
            "CodeProfile": "000.02.01.H37-261128-0001",
            "SiteId": SITE,
            "CodeTTHC": "1.001612",
            "NameTTHC": "Đăng ký thành lập công ty TNHH hai thành viên trở lên",
            "MaHoSo": "000.02.01.H37-261128-0001",
            "Status": 1,
            "FormsReception": 1,
            "FormsPayments": 1,
            "Level": 4,
            "IsFromDVCQG": 0,
            "IsDVCBC": 0,
            "Data": "Tiếp nhận hồ sơ",
            "User": "Sở Tài chính tỉnh Ninh Bình",
        })
    );

    let outcome = c.deliver(&[new_dossier(&d)]).await;
    assert_eq!(outcome.label(), "delivered", "{outcome:?}");
    assert_eq!(sim.reports(), vec![rendered]);
    assert_eq!(sim.tokens.requests(), 1);
}

#[tokio::test]
async fn steps_of_a_dossier_go_in_batches_and_a_revoked_token_is_renewed() {
    let sim = EmcSim::start().await.unwrap();
    let c = connector(&sim, 20);
    assert_eq!(c.batch_limit(MessageKind::Progress), 20);
    assert_eq!(c.batch_limit(MessageKind::Dossier), 1);
    let d = business();
    let batch: Vec<_> = [(1, "processing"), (2, "processed"), (3, "returned")]
        .iter()
        .map(|(n, s)| step(&d, *n, s))
        .collect();
    assert_eq!(c.deliver(&batch).await.label(), "delivered");
    sim.tokens.revoke_all();
    assert_eq!(
        c.deliver(&[step(&d, 4, "returned")]).await.label(),
        "delivered"
    );
    assert_eq!(sim.batch_sizes(), vec![3, 1]);
    assert_eq!(
        sim.tokens.requests(),
        2,
        "one token, renewed once after the 401"
    );
    let statuses: Vec<Value> = sim.reports().iter().map(|r| r["Status"].clone()).collect();
    assert_eq!(statuses, vec![json!(2), json!(2), json!(3), json!(3)]);
    let data: Vec<Value> = sim.reports().iter().map(|r| r["Data"].clone()).collect();
    assert_eq!(data[0], "Bước 1");
}

#[tokio::test]
async fn an_outage_is_retried_and_invalid_data_is_permanent() {
    let sim = EmcSim::start().await.unwrap();
    let c = connector(&sim, 20);
    let d = business();

    sim.set_down(true);
    match c.deliver(&[step(&d, 1, "processing")]).await {
        Outcome::Retry {
            http_status,
            retry_after,
            ..
        } => {
            assert_eq!(http_status, Some(503));
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(1)));
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    sim.set_down(false);

    sim.set_refuse(true);
    match c.deliver(&[step(&d, 2, "processing")]).await {
        Outcome::Reject { portal, .. } => {
            let p = portal.expect("EMC's answer kept");
            assert_eq!(p.code, "3");
            assert!(p.message.contains("không thuộc"), "{}", p.message);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    sim.set_refuse(false);
    assert!(sim.reports().is_empty());

    // Nobody listening on the token endpoint: a transport failure, retried.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config: EmcConfig = toml::from_str(&format!(
        "url = \"http://{closed}/reports\"\nsite_id = \"{SITE}\"\n[oauth]\n{oauth}",
        oauth = TokenIssuer::config_toml(&format!("http://{closed}/token")),
    ))
    .unwrap();
    let c = EmcConnector::new(&config, &OutboundSecurity::default(), builtin()).unwrap();
    let outcome = c.deliver(&[step(&d, 3, "processing")]).await;
    assert_eq!(outcome.label(), "retry", "{outcome:?}");
}

#[tokio::test]
async fn a_report_the_simulator_finds_invalid_is_refused_with_its_reason() {
    let sim = EmcSim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // An operator's edited mapping that forgets the procedure name.
    let report = super::BUILTIN_MAPPINGS
        .iter()
        .find(|(n, _)| *n == "bao-cao.toml")
        .unwrap()
        .1
        .replace("target = \"NameTTHC\"", "target = \"TenTTHC\"");
    std::fs::write(dir.path().join("bao-cao.toml"), report).unwrap();
    std::fs::write(dir.path().join("codes.toml"), super::BUILTIN_MAPPINGS[0].1).unwrap();
    let config: EmcConfig = toml::from_str(&format!(
        "url = \"{base}/reports\"\nsite_id = \"{SITE}\"\nmappings_dir = \"{dir}\"\n[oauth]\n{oauth}",
        base = sim.base_url(),
        dir = dir.path().display(),
        oauth = TokenIssuer::config_toml(&format!("{}/token", sim.base_url())),
    ))
    .unwrap();
    let edited = load_mappings(config.mappings_dir.as_deref()).unwrap();
    let c = EmcConnector::new(&config, &OutboundSecurity::default(), edited).unwrap();
    match c.deliver(&[step(&business(), 1, "processing")]).await {
        Outcome::Reject { portal, .. } => {
            assert_eq!(portal.expect("answer").message, "Thiếu trường NameTTHC");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn configuration_problems_are_named() {
    let config: EmcConfig =
        toml::from_str("url = \"ftp://x\"\nsite_id = \" \"\nbatch = 0\n[oauth]\ntoken_url = \"x\"\nclient_id = \"c\"\n")
            .unwrap();
    let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "url",
            "site_id",
            "batch",
            "oauth.token_url",
            "oauth.client_secret"
        ]
    );
}

#[test]
fn a_notice_is_not_an_emc_message() {
    let body = MessageBody::Notice(crate::Notice {
        event: "exchange.dossier".into(),
        dossier_code: "x".into(),
        data: json!({}),
    });
    let config: EmcConfig =
        toml::from_str("url = \"http://127.0.0.1:9/reports\"\nsite_id = \"H37\"\n").unwrap();
    let c = EmcConnector::new(&config, &OutboundSecurity::default(), builtin()).unwrap();
    assert!(c.check(&body).is_err());
}

/// The built-in EMC mapping set.
fn builtin() -> MappingSet {
    load_mappings(None).expect("the built-in EMC mappings load")
}
