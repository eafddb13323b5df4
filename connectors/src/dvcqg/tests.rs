//! The DVCQG connector against the simulator, over real HTTP on loopback.

use std::time::Duration;

use lienthong_mappings::{Dossier, ProgressInput, StatusEvent};
use lienthong_tests::{DvcqgSim, FailKind, Faults, SimCredentials};

use super::*;

fn dossier(code: &str) -> Dossier {
    let mut d: Dossier = serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))
    .expect("example");
    d.code = code.to_owned();
    d
}

fn event(n: u32) -> StatusEvent {
    let mut e: StatusEvent =
        serde_json::from_str(include_str!("../../../examples/event-processing.json"))
            .expect("example");
    e.id = format!("ev-{n}");
    e.note = Some(format!("Bước {n}"));
    e
}

fn msg(body: MessageBody) -> OutboundMessage {
    OutboundMessage {
        id: "m".into(),
        body,
        attempt: 1,
    }
}

fn create(code: &str) -> OutboundMessage {
    msg(MessageBody::Dossier {
        op: DossierOp::Create,
        dossier: Box::new(dossier(code)),
    })
}

fn config(sim: &DvcqgSim, transport: &str) -> DvcqgConfig {
    let c = sim.credentials();
    let base = sim.base_url();
    let text = format!(
        r#"transport = "{transport}"
base_url = "{base}"
username = "{}"
password = "{}"
madonvi = "{}"
dstcode = "{}"
token_url = "{base}/lgsp/token"
client_id = "{}"
client_secret = "{}"
create_url = "{base}/lgsp/hoso/create"
update_url = "{base}/lgsp/hoso/update"
progress_url = "{base}/lgsp/tiendo"
token_margin = "0s"
timeout = "2s"
"#,
        c.username, c.password, c.madonvi, c.dstcode, c.client_id, c.client_secret
    );
    toml::from_str(&text).expect("config")
}

fn services(sim: &DvcqgSim) -> Vec<String> {
    sim.calls()
        .into_iter()
        .map(|c| format!("{}:{}", c.service, c.answer))
        .collect()
}

#[tokio::test]
async fn session_create_looks_up_then_syncs() {
    let sim = DvcqgSim::start().await.expect("sim");
    let conn = DvcqgConnector::new(&config(&sim, "session")).expect("connector");
    let out = conn.deliver(&[create("000.02.01.H37-261128-0001")]).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    assert_eq!(
        services(&sim),
        ["login:ok", "TraCuuHoSo:ok", "DongBoHoSoMC:ok"]
    );
    let hoso = sim.hoso("000.02.01.H37-261128-0001").expect("stored");
    assert_eq!(hoso["MaTTHC"], "1.001612");
    // A second create (e.g. after a crash before the delivery was recorded) finds it and updates.
    let out = conn.deliver(&[create("000.02.01.H37-261128-0001")]).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    assert_eq!(sim.syncs("000.02.01.H37-261128-0001"), 2);
    assert_eq!(
        services(&sim).len(),
        5,
        "session reused: {:?}",
        services(&sim)
    );
}

#[tokio::test]
async fn expired_session_logs_in_again_once() {
    for as_code in [false, true] {
        let sim = DvcqgSim::start().await.expect("sim");
        sim.update_faults(|f| f.expired_as_error_code = as_code);
        let conn = DvcqgConnector::new(&config(&sim, "session")).expect("connector");
        assert!(matches!(
            conn.deliver(&[create("A-1")]).await,
            Outcome::Delivered { .. }
        ));
        sim.expire_sessions();
        let out = conn.deliver(&[create("A-2")]).await;
        assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
        let s = services(&sim);
        assert_eq!(
            s.iter().filter(|c| c.starts_with("login")).count(),
            2,
            "{s:?}"
        );
        assert!(s.contains(&"TraCuuHoSo:auth".to_owned()), "{s:?}");
    }
}

#[tokio::test]
async fn wrong_password_is_a_retry_not_a_dead_letter() {
    let sim = DvcqgSim::start().await.expect("sim");
    let mut cfg = config(&sim, "session");
    cfg.password = Some(Secret::new("sai-mat-khau"));
    let conn = DvcqgConnector::new(&cfg).expect("connector");
    let out = conn.deliver(&[create("A-1")]).await;
    assert!(
        matches!(&out, Outcome::Retry { error, .. } if error.contains("login refused")),
        "{out:?}"
    );
}

#[tokio::test]
async fn invalid_data_is_rejected_with_portal_message() {
    let sim = DvcqgSim::start().await.expect("sim");
    sim.update_faults(|f| {
        f.reject_codes.insert("A-9".into());
    });
    let conn = DvcqgConnector::new(&config(&sim, "session")).expect("connector");
    let out = conn.deliver(&[create("A-9")]).await;
    let Outcome::Reject {
        portal: Some(p), ..
    } = out
    else {
        panic!("expected reject: {out:?}")
    };
    assert_eq!(p.code, "2");
    assert!(p.message.contains("1.001612"), "{}", p.message);
}

#[tokio::test]
async fn failures_are_classified_for_retry() {
    let sim = DvcqgSim::start().await.expect("sim");
    let conn = DvcqgConnector::new(&config(&sim, "session")).expect("connector");
    sim.set_faults(Faults {
        fail_next: 1,
        kind: FailKind::Unavailable {
            retry_after_secs: 7,
        },
        ..Faults::default()
    });
    let out = conn.deliver(&[create("A-1")]).await;
    assert!(
        matches!(out, Outcome::Retry { http_status: Some(503), retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{out:?}"
    );
    sim.set_faults(Faults {
        fail_next: 1,
        kind: FailKind::Reset,
        ..Faults::default()
    });
    let out = conn.deliver(&[create("A-1")]).await;
    assert!(
        matches!(
            &out,
            Outcome::Retry {
                http_status: None,
                ..
            }
        ),
        "{out:?}"
    );
    sim.set_faults(Faults {
        latency: Duration::from_secs(3),
        ..Faults::default()
    });
    let out = conn.deliver(&[create("A-1")]).await;
    assert!(
        matches!(&out, Outcome::Retry { error, .. } if error.contains("timeout")),
        "{out:?}"
    );
    sim.set_faults(Faults::default());
    assert!(matches!(
        conn.deliver(&[create("A-1")]).await,
        Outcome::Delivered { .. }
    ));
}

#[tokio::test]
async fn progress_goes_in_one_batch() {
    let sim = DvcqgSim::start().await.expect("sim");
    let conn = DvcqgConnector::new(&config(&sim, "session")).expect("connector");
    assert!(matches!(
        conn.deliver(&[create("A-1")]).await,
        Outcome::Delivered { .. }
    ));
    let batch: Vec<_> = (0..10)
        .map(|n| {
            msg(MessageBody::Progress(ProgressInput {
                dossier: None,
                response_for: None,
                dossier_code: "A-1".into(),
                event: event(n),
            }))
        })
        .collect();
    assert_eq!(conn.batch_limit(MessageKind::Progress), 10);
    let out = conn.deliver(&batch).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    let entries = sim.progress("A-1");
    assert_eq!(entries.len(), 10);
    assert_eq!(entries[3]["NoiDungXuLy"], "Bước 3");
    assert_eq!(sim.progress_batch_sizes(), [10]);
}

#[tokio::test]
async fn lgsp_caches_the_token_and_resends_existing_as_update() {
    let sim = DvcqgSim::start().await.expect("sim");
    let conn = DvcqgConnector::new(&config(&sim, "lgsp")).expect("connector");
    assert!(matches!(
        conn.deliver(&[create("B-1")]).await,
        Outcome::Delivered { .. }
    ));
    let out = conn.deliver(&[create("B-1")]).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    assert_eq!(
        services(&sim),
        [
            "token:ok",
            "lgsp:create:ok",
            "lgsp:create:exists",
            "lgsp:update:ok"
        ]
    );
    let p = msg(MessageBody::Progress(ProgressInput {
        dossier: None,
        response_for: None,
        dossier_code: "B-1".into(),
        event: event(1),
    }));
    assert!(matches!(
        conn.deliver(&[p]).await,
        Outcome::Delivered { .. }
    ));
    assert_eq!(sim.progress("B-1").len(), 1);
}

#[tokio::test]
async fn lgsp_token_renewed_when_expired_or_refused() {
    let sim = DvcqgSim::start_with(SimCredentials {
        token_lifetime_secs: 1,
        ..Default::default()
    })
    .await
    .expect("sim");
    let conn = DvcqgConnector::new(&config(&sim, "lgsp")).expect("connector");
    assert!(matches!(
        conn.deliver(&[create("B-1")]).await,
        Outcome::Delivered { .. }
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        conn.deliver(&[create("B-2")]).await,
        Outcome::Delivered { .. }
    ));
    sim.expire_sessions();
    assert!(matches!(
        conn.deliver(&[create("B-3")]).await,
        Outcome::Delivered { .. }
    ));
    let tokens = sim.calls().iter().filter(|c| c.service == "token").count();
    assert_eq!(tokens, 3, "{:?}", services(&sim));
}

#[test]
fn config_problems_name_their_keys() {
    let c: DvcqgConfig =
        toml::from_str("transport = \"lgsp\"\ncreate_url = \"ftp://x\"").expect("parses");
    let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
    assert!(keys.contains(&"token_url".to_owned()), "{keys:?}");
    assert!(keys.contains(&"client_secret".to_owned()), "{keys:?}");
    assert!(keys.contains(&"create_url".to_owned()), "{keys:?}");
    assert!(toml::from_str::<DvcqgConfig>("transport = \"session\"\npasword = \"x\"").is_err());
}

#[tokio::test]
async fn requests_are_signed_when_a_signer_is_configured() {
    use std::sync::Arc;

    use lienthong_certs::httpsig::{Algorithm, SigningKey, VerifyingKey};
    use lienthong_certs::keys::PrivateKey;

    let sim = DvcqgSim::start().await.expect("sim");
    let leaf = lienthong_certs::testpki::Pki::new("Test CA").leaf(
        "lienthong",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[],
    );
    let key = Arc::new(PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "test").expect("key"));
    sim.require_signatures(VerifyingKey::Public {
        key: key.public_key_bytes().to_vec(),
        algorithm: Algorithm::EcdsaP256Sha256,
    });
    // Without a signer the portal refuses every call.
    let plain = DvcqgConnector::new(&config(&sim, "lgsp")).expect("connector");
    let out = plain.deliver(&[create("000.02.01.H37-261128-0101")]).await;
    assert!(!matches!(out, Outcome::Delivered { .. }), "{out:?}");
    assert!(
        services(&sim).iter().all(|c| c.ends_with(":unsigned")),
        "{:?}",
        services(&sim)
    );
    // With one, token and data calls go through, signed.
    let signer = crate::http::RequestSigner::new(
        SigningKey::for_key(key, false).expect("algorithm"),
        "000.02.01.H37",
    );
    let security = OutboundSecurity {
        tls: None,
        signer: Some(Arc::new(signer)),
        ..Default::default()
    };
    let signed = DvcqgConnector::with_security(&config(&sim, "lgsp"), &security, builtin())
        .expect("connector");
    let out = signed.deliver(&[create("000.02.01.H37-261128-0101")]).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");
    assert!(sim.hoso("000.02.01.H37-261128-0101").is_some());
}

#[tokio::test]
async fn destination_trust_store_and_client_certificate_over_mutual_tls() {
    use std::sync::Arc;

    use lienthong_certs::testpki::Pki;
    use lienthong_certs::tls::{
        ClientCertificates, Identity, MinVersion, client_config, server_config,
    };
    use rcgen::ExtendedKeyUsagePurpose as Eku;

    let portal_ca = Pki::new("Portal CA");
    let province_ca = Pki::new("Province CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = portal_ca.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth],
    );
    let (sc, sk) = server.write(dir.path(), "server");
    let client = province_ca.leaf(
        "lienthong.ninhbinh",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let (cc, ck) = client.write(dir.path(), "client");
    // The portal requires client certificates from the province CA.
    let clients = province_ca.store("clients");
    let mut portal_tls = (*server_config(
        &Identity::load(&sc, &sk).expect("server identity"),
        ClientCertificates::Required(&clients),
        MinVersion::Tls12,
    )
    .expect("server config"))
    .clone();
    portal_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let sim = DvcqgSim::start_tls(SimCredentials::default(), Arc::new(portal_tls))
        .await
        .expect("sim");
    let cfg = config(&sim, "lgsp");
    let identity = Identity::load(&cc, &ck).expect("client identity");
    let portal_trust = std::sync::Arc::new(portal_ca.store("portal"));

    // Trust store + client certificate: delivered.
    let security = OutboundSecurity {
        tls: Some(client_config(&portal_trust, Some(&identity), MinVersion::Tls12).expect("tls")),
        ..Default::default()
    };
    let conn = DvcqgConnector::with_security(&cfg, &security, builtin()).expect("connector");
    let out = conn.deliver(&[create("000.02.01.H37-261128-0201")]).await;
    assert!(matches!(out, Outcome::Delivered { .. }), "{out:?}");

    // No client certificate: the portal refuses the handshake; a transport failure is retried.
    let security = OutboundSecurity {
        tls: Some(client_config(&portal_trust, None, MinVersion::Tls12).expect("tls")),
        ..Default::default()
    };
    let conn = DvcqgConnector::with_security(&cfg, &security, builtin()).expect("connector");
    let out = conn.deliver(&[create("000.02.01.H37-261128-0202")]).await;
    assert!(matches!(out, Outcome::Retry { .. }), "{out:?}");

    // The system roots (default) do not know the portal's private CA: refused too.
    let conn = DvcqgConnector::new(&cfg).expect("connector");
    let out = conn.deliver(&[create("000.02.01.H37-261128-0203")]).await;
    assert!(matches!(out, Outcome::Retry { .. }), "{out:?}");
    assert!(sim.hoso("000.02.01.H37-261128-0202").is_none());
    assert!(sim.hoso("000.02.01.H37-261128-0203").is_none());
    assert!(sim.hoso("000.02.01.H37-261128-0201").is_some());
}

/// The built-in DVCQG mapping set.
fn builtin() -> MappingSet {
    load_mappings(None).expect("the built-in DVCQG mappings load")
}
