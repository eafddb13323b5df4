//! The NBRS connector: the rendered registration, and calls to the NBRS simulator on loopback.

use lienthong_mappings::{Dossier, DossierStatus};
use lienthong_tests::nbrs_sim::{KNOWN_ENTERPRISE, NbrsSim};
use lienthong_tests::token_issuer::TokenIssuer;
use serde_json::{Value, json};

use super::*;

fn business() -> Value {
    serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))
    .unwrap()
}

fn connector(sim: &NbrsSim) -> NbrsConnector {
    let config: NbrsConfig = toml::from_str(&format!(
        "base_url = \"{base}\"\ntimeout = \"3s\"\nlookup_timeout = \"1s\"\n[oauth]\n{oauth}",
        base = sim.base_url(),
        oauth = TokenIssuer::config_toml(&format!("{}/token", sim.base_url())),
    ))
    .unwrap();
    NbrsConnector::new(
        &config,
        &OutboundSecurity::default(),
        load_mappings(None).unwrap(),
    )
    .unwrap()
}

fn message(d: Value, op: DossierOp) -> OutboundMessage {
    OutboundMessage {
        id: "m-1".into(),
        body: MessageBody::Dossier {
            op,
            dossier: Box::new(Dossier::from_json(d).unwrap()),
        },
        attempt: 1,
    }
}

#[tokio::test]
async fn the_registration_is_the_golden_one_and_nbrs_gives_a_receipt_number() {
    let sim = NbrsSim::start().await.unwrap();
    let c = connector(&sim);
    let m = message(business(), DossierOp::Create);
    let mut expected: Value = serde_json::from_str(include_str!(
        "../../../mappings/tests/expected/nbrs-dang-ky-business.json"
    ))
    .unwrap();
    expected["CAP_NHAT"] = json!(false);
    assert_eq!(c.render(&m.body).unwrap(), expected);

    match c.deliver(std::slice::from_ref(&m)).await {
        Outcome::Delivered {
            portal: Some(p), ..
        } => {
            assert_eq!(p.code, "1");
            assert_eq!(p.reference.as_deref(), Some("NB-000001"));
        }
        other => panic!("expected delivered, got {other:?}"),
    }
    assert_eq!(
        sim.registration("000.02.01.H37-261128-0001").unwrap(),
        expected
    );
    // A refresh is the same registration, flagged, with the same receipt number.
    let refresh = message(business(), DossierOp::Update);
    match c.deliver(&[refresh]).await {
        Outcome::Delivered {
            portal: Some(p), ..
        } => assert_eq!(p.reference.as_deref(), Some("NB-000001")),
        other => panic!("expected delivered, got {other:?}"),
    }
    assert_eq!(
        sim.registration("000.02.01.H37-261128-0001").unwrap()["CAP_NHAT"],
        true
    );
    assert_eq!(sim.tokens.requests(), 1);
}

#[tokio::test]
async fn invalid_registrations_are_dead_and_outages_retried() {
    let sim = NbrsSim::start().await.unwrap();
    let c = connector(&sim);
    let mut d = business();
    d["business"]["members"][1]["ratio_percent"] = json!(30.0);
    match c.deliver(&[message(d, DossierOp::Create)]).await {
        Outcome::Reject { portal, .. } => {
            let p = portal.expect("NBRS's answer kept");
            assert_eq!(p.code, "0");
            assert!(p.message.contains("90%"), "{}", p.message);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    sim.set_down(true);
    let o = c.deliver(&[message(business(), DossierOp::Create)]).await;
    assert_eq!(o.label(), "retry", "{o:?}");
    assert_eq!(o.http_status(), Some(503));
    assert_eq!(sim.submissions(), 0);
    // Status events are not NBRS's: the gateway does not queue them for it.
    assert!(c.takes(MessageKind::Dossier));
    assert!(!c.takes(MessageKind::Progress));
}

#[tokio::test]
async fn statuses_are_read_and_mapped_to_canonical_ones() {
    let sim = NbrsSim::start().await.unwrap();
    let c = connector(&sim);
    assert_eq!(
        c.deliver(&[message(business(), DossierOp::Create)])
            .await
            .label(),
        "delivered"
    );
    let s = c.status("NB-000001").await.unwrap();
    assert_eq!(
        (s.process_status.as_str(), s.canonical),
        ("1", Some(DossierStatus::Accepted))
    );
    sim.set_status("NB-000001", "4");
    let s = c.status("NB-000001").await.unwrap();
    assert_eq!(s.canonical, Some(DossierStatus::Processed));
    assert_eq!(s.report["ENTERPRISE_CODE"], "07000001");
    sim.set_status("NB-000001", "77");
    assert_eq!(c.status("NB-000001").await.unwrap().canonical, None);
    assert_eq!(c.status("NB-999999").await.unwrap_err().label(), "rejected");
    assert_eq!(sim.polls("NB-000001").len(), 3);
}

#[tokio::test]
async fn an_amendment_must_name_a_known_enterprise_unless_nbrs_is_down() {
    let sim = NbrsSim::start().await.unwrap();
    let c = connector(&sim);
    let amend = |msdn: &str| {
        let mut d = business();
        d["business"]["enterprise_code"] = json!(msdn);
        message(d, DossierOp::Create).body
    };
    assert_eq!(
        c.verify_at_intake(&amend(KNOWN_ENTERPRISE)).await,
        IntakeCheck::Passed
    );
    assert_eq!(
        c.verify_at_intake(&amend("0799999999")).await,
        IntakeCheck::Refused {
            field: "business.enterprise_code".into(),
            message: "no enterprise 0799999999 in the national business registry".into(),
        }
    );
    // A new enterprise has no code: nothing to look up.
    assert_eq!(
        c.verify_at_intake(&message(business(), DossierOp::Create).body)
            .await,
        IntakeCheck::Passed
    );
    // The check can be turned off.
    let off: NbrsConfig = toml::from_str(&format!(
        "base_url = \"{}\"\nlookup = false\n[oauth]\n{}",
        sim.base_url(),
        TokenIssuer::config_toml(&format!("{}/token", sim.base_url())),
    ))
    .unwrap();
    let off = NbrsConnector::new(
        &off,
        &OutboundSecurity::default(),
        load_mappings(None).unwrap(),
    )
    .unwrap();
    assert_eq!(
        off.verify_at_intake(&amend("0799999999")).await,
        IntakeCheck::Passed
    );
    sim.set_down(true);
    assert!(matches!(
        c.verify_at_intake(&amend("0799999999")).await,
        IntakeCheck::Skipped(_)
    ));
    assert!(c.enterprise(KNOWN_ENTERPRISE).await.is_err());
}

#[test]
fn a_status_table_naming_no_canonical_status_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in super::BUILTIN_MAPPINGS {
        let text = if *name == "codes.toml" {
            text.replace("\"6\" = \"returned\"", "\"6\" = \"returnd\"")
        } else {
            (*text).to_owned()
        };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let config: NbrsConfig = toml::from_str(&format!(
        "base_url = \"http://127.0.0.1:9\"\nmappings_dir = \"{}\"\n",
        dir.path().display()
    ))
    .unwrap();
    let e = load_mappings(config.mappings_dir.as_deref()).unwrap_err();
    assert!(e.to_string().contains("returnd"), "{e}");
    let bad: NbrsConfig =
        toml::from_str("base_url = \"x\"\nsubmit_path = \"a\"\n[poll]\nrate = 0.0\nbatch = 0\n")
            .unwrap();
    let keys: Vec<String> = bad.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["base_url", "submit_path", "poll.rate", "poll.batch"]);
}
