//! The investment connector: the signed registration (golden XML, verified by the simulator
//! and by `xmlsec1`), the system's answers, and reading its signed results.

use std::sync::Arc;

use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::{Pki, xmlsec_available};
use lienthong_certs::xmldsig::XmlSignatureAlgorithm;
use lienthong_mappings::Dossier;
use lienthong_tests::investment_sim::{InvestmentSim, SIGNER_CN};
use lienthong_tests::two_level::xmlsec_verifies;

use super::result::{Decision, InvestmentResult};
use super::*;
use crate::push::PushError;

struct Center {
    pki: Pki,
    signer: Arc<Signer>,
}

fn center() -> Center {
    let pki = Pki::new("Trung tam PVHCC Ninh Binh - Test CA");
    let leaf = pki.leaf("000.02.01.H37", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let key = PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "center").unwrap();
    let signer = Signer::new(
        Arc::new(key),
        vec![leaf.cert.clone()],
        XmlSignatureAlgorithm::EcdsaSha256,
    )
    .unwrap();
    Center {
        pki,
        signer: Arc::new(signer),
    }
}

fn connector(url: &str, c: &Center) -> InvestmentConnector {
    let config: InvestmentConfig =
        toml::from_str(&format!("url = \"{url}\"\ntimeout = \"5s\"\n")).unwrap();
    InvestmentConnector::new(
        &config,
        &OutboundSecurity::default(),
        c.signer.clone(),
        load_mappings(None).unwrap(),
    )
    .unwrap()
}

fn registration() -> OutboundMessage {
    let d: Value =
        serde_json::from_str(include_str!("../../../examples/dossier-investment.json")).unwrap();
    OutboundMessage {
        id: "m-1".into(),
        body: MessageBody::Dossier {
            op: crate::DossierOp::Create,
            dossier: Box::new(Dossier::from_json(d).unwrap()),
        },
        attempt: 1,
    }
}

#[tokio::test]
async fn a_registration_is_signed_verified_and_taken() {
    let c = center();
    let sim = InvestmentSim::start(&c.pki.ca_pem).await.unwrap();
    let conn = connector(&sim.url(), &c);
    let m = registration();
    assert_eq!(
        conn.render(&m.body).unwrap(),
        Value::String(
            include_str!("../../../mappings/tests/expected/investment-dang-ky-dau-tu.xml")
                .to_owned()
        )
    );
    match conn.deliver(std::slice::from_ref(&m)).await {
        Outcome::Delivered {
            portal: Some(p), ..
        } => {
            assert_eq!(p.code, "0");
            assert!(p.message.contains("DT-000001"), "{}", p.message);
        }
        other => panic!("expected delivered, got {other:?}"),
    }
    let got = sim.registrations();
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("<ds:Signature") || got[0].contains("Signature"));
    if xmlsec_available() {
        let dir = tempfile::tempdir().unwrap();
        let ca = c.pki.write_ca(dir.path());
        xmlsec_verifies(dir.path(), "registration.xml", &got[0], &[ca]);
    }
}

#[tokio::test]
async fn refusals_are_dead_outages_retried_and_a_stranger_signature_refused() {
    let c = center();
    let sim = InvestmentSim::start(&c.pki.ca_pem).await.unwrap();
    let conn = connector(&sim.url(), &c);
    sim.set_refuse(true);
    match conn.deliver(&[registration()]).await {
        Outcome::Reject { portal, .. } => assert_eq!(portal.expect("answer").code, "4"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    sim.set_refuse(false);
    sim.set_down(true);
    assert_eq!(conn.deliver(&[registration()]).await.label(), "retry");
    sim.set_down(false);
    // Signed by a certificate the system does not trust: refused as invalid.
    let stranger = center();
    let other = connector(&sim.url(), &stranger);
    match other.deliver(&[registration()]).await {
        Outcome::Reject { portal, .. } => assert_eq!(portal.expect("answer").code, "2"),
        o => panic!("expected a rejection, got {o:?}"),
    }
    assert!(sim.registrations().is_empty());
    assert!(!conn.takes(MessageKind::Progress));
}

#[tokio::test]
async fn signed_results_are_read_and_forgeries_refused() {
    let c = center();
    let sim = InvestmentSim::start(&c.pki.ca_pem).await.unwrap();
    let certs = lienthong_certs::keys::parse_certificates(sim.ca_pem().as_bytes(), "ca").unwrap();
    let trust =
        lienthong_certs::trust::TrustStore::from_parts("investment", certs, vec![], vec![], false)
            .unwrap();
    let signers = vec![SIGNER_CN.to_owned()];

    let granted = sim.result("D-1", Some(("7654321098", "GCN-2026-15")), "20261205100000");
    let r = InvestmentResult::read(&granted, &trust, &signers).unwrap();
    assert_eq!(r.dossier_code, "D-1");
    assert_eq!(r.decision, Decision::Granted);
    assert_eq!(r.project_code.as_deref(), Some("7654321098"));
    assert_eq!(r.certificate_number.as_deref(), Some("GCN-2026-15"));
    assert!(r.signer.contains(SIGNER_CN));

    let refused = sim.result("D-2", None, "20261205100000");
    let r = InvestmentResult::read(&refused, &trust, &signers).unwrap();
    assert_eq!((r.decision, r.project_code), (Decision::Refused, None));

    // Changed after signing, signed by someone else, another signer name, not XML.
    let changed = granted.replace("GCN-2026-15", "GCN-2026-99");
    assert!(matches!(
        InvestmentResult::read(&changed, &trust, &signers),
        Err(PushError::Forged(_))
    ));
    let other_trust = c.pki.store("center");
    assert!(matches!(
        InvestmentResult::read(&granted, &other_trust, &signers),
        Err(PushError::Forged(_))
    ));
    assert!(matches!(
        InvestmentResult::read(&granted, &trust, &["someone-else.gov.vn".to_owned()]),
        Err(PushError::Forged(_))
    ));
    assert!(matches!(
        InvestmentResult::read("<KetQuaDauTu", &trust, &signers),
        Err(PushError::Malformed(_))
    ));
    // Signature wrapping: what is read must be what is signed. A forged field inside the
    // Signature (left out of the digest by the enveloped transform), the Signature moved off
    // the root, or a field given twice (signed, but which one is meant?) are all refused.
    let sig_start = granted.find("<ds:Signature").unwrap();
    let sig_end = granted.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &granted[sig_start..sig_end];
    let wrapped = granted.replacen(
        "</ds:Signature>",
        "<MaHoSo xmlns=\"urn:lienthong:dautu:1\">D-9</MaHoSo></ds:Signature>",
        1,
    );
    assert!(matches!(
        InvestmentResult::read(&wrapped, &trust, &signers),
        Err(PushError::Forged(_))
    ));
    let nested = granted.replacen(signature, "", 1).replacen(
        "</GhiChu>",
        &format!("{signature}</GhiChu>"),
        1,
    );
    let err = InvestmentResult::read(&nested, &trust, &signers).unwrap_err();
    assert!(
        matches!(err, PushError::Forged(ref m) if m.contains("child of KetQuaDauTu")),
        "{err}"
    );
    let twice = sim.result(
        "D-1</MaHoSo><MaHoSo>D-9",
        Some(("7654321098", "GCN-2026-15")),
        "20261205100000",
    );
    let err = InvestmentResult::read(&twice, &trust, &signers).unwrap_err();
    assert!(
        matches!(err, PushError::Malformed(ref m) if m.contains("MaHoSo")),
        "{err}"
    );
    let entity = "<!DOCTYPE x [<!ENTITY a \"b\">]><KetQuaDauTu xmlns=\"urn:lienthong:dautu:1\">&a;</KetQuaDauTu>";
    assert!(matches!(
        InvestmentResult::read(entity, &trust, &signers),
        Err(PushError::Malformed(_))
    ));
}
