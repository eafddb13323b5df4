//! Security III, item 5: keys and revocation in operation (issue 25). A pulled-out PKCS#11
//! token counted against the destination's circuit breaker (paused as if the portal were down;
//! 18 s to recover in every try); a destination's stapled OCSP answer reported to no one; an
//! urgent revocation waited for the responder's nextUpdate, the cache surviving reloads.

use std::time::{Duration, Instant};

use lienthong_certs::testpki::Leaf;
use lienthong_tests::file_server::FileServer;
use lienthong_tests::gateway_process::{Gateway, free_port};
use lienthong_tests::ocsp_responder::OcspResponder;
use lienthong_tests::softhsm::SoftHsm;
use lienthong_tests::two_level::{Level, dossier, files, province_and_commune, received};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use time::OffsetDateTime;

mod common;
use common::{signed_province_message, xml_signer};

const TOKEN: &str = "province-token";
const PIN: &str = "24681357";

/// The province's configuration with its `[signing]` key on the token.
fn on_token(province: &Level, commune: &Level, hsm: &SoftHsm, extra: &str) -> String {
    let spki = hsm.generate(TOKEN, PIN, "center-signer", "0a", "ec");
    let (_, cert_pem) = province
        .pki
        .certificate_for(&province.signer_cn, &spki, &[]);
    let cert = province.dir.path().join("token-signing.pem");
    std::fs::write(&cert, cert_pem).expect("certificate");
    let pin_file = province.dir.path().join("token.pin");
    std::fs::write(&pin_file, PIN).expect("pin");
    let config = province.config(commune, &commune.exchange_url(), extra);
    let start = config.find("[signing]").expect("[signing]");
    let end = start + config[start..].find("\n\n").expect("end of [signing]");
    format!(
        "{}[signing]\ncert = \"{}\"\nkey_pkcs11 = {{ module = \"{}\", token_label = \"{TOKEN}\", key_label = \"center-signer\", pin_file = \"{}\" }}{}",
        &config[..start],
        cert.display(),
        hsm.module.display(),
        pin_file.display(),
        &config[end..]
    )
}

#[tokio::test]
async fn a_pulled_token_holds_deliveries_without_pausing_the_destination() {
    let (province, commune) = province_and_commune().await;
    let Some(hsm) = SoftHsm::new(province.dir.path(), TOKEN, PIN) else {
        panic!("SoftHSM2 is needed (apt-get install softhsm2)");
    };
    let env = [("SOFTHSM2_CONF", hsm.conf.to_str().expect("utf-8 path"))];
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    // A breaker that would pause the commune for a minute after two failures.
    let breaker = format!(
        "\n[destinations.{}.circuit_breaker]\nfailures = 2\ncool_down = \"60s\"\nmax_cool_down = \"60s\"\n{}",
        commune.destination,
        store.attachments_toml()
    );
    let p = province
        .start_with_env(&on_token(&province, &commune, &hsm, &breaker), &env)
        .await;
    let _c = commune
        .start(
            &(commune.config(&province, &province.exchange_url(), "") + &store.attachments_toml()),
        )
        .await;

    hsm.pull_out();
    let codes: Vec<String> = (1..=3)
        .map(|i| format!("000.02.01.H37-261207-05{i:02}"))
        .collect();
    for code in &codes {
        let (status, body) = p.post("/v1/dossiers", &dossier(code, &store, &files)).await;
        assert_eq!(status, 202, "{body}");
    }
    // Each tries, finds the key away, and waits; more failures than the breaker's threshold.
    p.wait_deliveries(Duration::from_secs(30), "local failures", |all| {
        codes.iter().all(|code| {
            all.iter().any(|d| {
                d["dossier_code"] == code.as_str()
                    && d["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("center-signer"))
            })
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let metrics = p.metrics().await;
    let circuit = format!(
        "lienthong_circuit_state{{destination=\"{}\"}} 0",
        commune.destination
    );
    assert!(
        metrics.contains(&circuit),
        "the signing key's absence paused the destination:\n{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("lienthong_circuit_state"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!p.log().contains("circuit opened"), "{}", p.log());
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("lienthong_delivery_attempts_total")
                && l.contains("outcome=\"local\"")),
        "local failures are counted as such"
    );
    // Not a dead letter, and its attempts are not used up.
    for d in p.deliveries().await {
        if d["destination"] == commune.destination {
            assert_ne!(d["state"], "dead", "{d}");
            assert_eq!(d["attempts"], 0, "{d}");
        }
    }

    // Back: all three go out within seconds, not after the breaker's minute.
    hsm.put_back();
    let back = Instant::now();
    let arrived = commune
        .center
        .wait_for(Duration::from_secs(20), |n| {
            codes.iter().all(|code| {
                n.iter()
                    .any(|n| n.event == "exchange.dossier" && n.data.to_string().contains(code))
            })
        })
        .await;
    assert!(arrived, "held dossiers did not go out:\n{}", p.log());
    assert!(
        back.elapsed() < Duration::from_secs(15),
        "took {:?}",
        back.elapsed()
    );
}

/// Sends dossier `code` signed by `signer` from the province's connection to the commune.
async fn send(province: &Level, commune: &Level, signer: &Leaf, code: &str) -> (u16, String) {
    let xml = signed_province_message(code, "1", OffsetDateTime::now_utc(), &xml_signer(signer));
    let r = commune
        .peer_client(province)
        .post(commune.exchange_url())
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .expect("answered");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// The commune checking the province's certificates with the province CA's responder.
fn ocsp_config(province: &Level, commune: &Level, responder: &str) -> String {
    let base = commune.config(province, &province.exchange_url(), "");
    let ca = commune.dir.path().join("peer-ca.pem");
    base.replacen("client_trust = \"peer\"", "client_trust = \"peer_ocsp\"", 1)
        .replacen(
            "signature_trust = \"peer\"",
            "signature_trust = \"peer_ocsp\"",
            1,
        )
        + &format!(
            "\n[trust.peer_ocsp]\nanchors = [\"{}\"]\nocsp_timeout = \"2s\"\nrevocation = \"ocsp\"\nocsp_responder = \"{responder}\"\n",
            ca.display()
        )
}

#[tokio::test]
async fn a_reload_drops_cached_revocation_answers() {
    let (province, commune) = province_and_commune().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let good = [(&province.tls, false), (&province.signing, false)];
    let responder = OcspResponder::start_at(port, tmp.path(), &province.pki, None, &good).await;
    let gw = commune.start(&ocsp_config(&province, &commune, &url)).await;
    let (status, body) = send(
        &province,
        &commune,
        &province.signing,
        "000.02.01.H37-261207-0601",
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The province's signing key is compromised: its CA revokes the certificate.
    drop(responder);
    let revoked = [(&province.tls, false), (&province.signing, true)];
    let again = tempfile::tempdir().expect("tmp");
    let _responder =
        OcspResponder::start_at(port, again.path(), &province.pki, None, &revoked).await;
    // The cached "good" answer still stands (valid five minutes)…
    let (status, body) = send(
        &province,
        &commune,
        &province.signing,
        "000.02.01.H37-261207-0602",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // …until the operator reloads (RUNBOOK: "A peer's key is compromised").
    let r = gw
        .admin(gw.http.post(format!("{}/v1/admin/reload", gw.base_url)))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 200);
    let code = "000.02.01.H37-261207-0603";
    let (status, body) = send(&province, &commune, &province.signing, code).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    assert!(received(&gw, code).await.is_empty(), "nothing stored");
}

/// The province delivering to a commune whose listener staples its CA's answer: the decision
/// is counted in `lienthong_ocsp_checks_total` and logged, as every other OCSP decision is.
#[tokio::test]
async fn a_destinations_stapled_answer_is_counted_and_logged() {
    let (province, commune) = province_and_commune().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = commune.dir.path();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let listener =
        commune
            .pki
            .leaf_with_ocsp("localhost", &url, &[Eku::ServerAuth, Eku::ClientAuth]);
    let _responder =
        OcspResponder::start_at(port, tmp.path(), &commune.pki, None, &[(&listener, false)]).await;
    let (cert, key) = listener.write(dir, "stapled");
    std::fs::write(
        &cert,
        format!("{}{}", listener.cert_pem, commune.pki.ca_pem),
    )
    .expect("chain");
    let config = commune
        .config(&province, &province.exchange_url(), "")
        .replacen(
            &format!("cert = \"{}\"", dir.join("tls.pem").display()),
            &format!("cert = \"{}\"", cert.display()),
            1,
        )
        .replacen(
            &format!("key = \"{}\"", dir.join("tls.key").display()),
            &format!("key = \"{}\"", key.display()),
            1,
        );
    let c = commune.start(&config).await;
    // Stapling starts at once; give it its first fetch.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c
        .metrics()
        .await
        .lines()
        .any(|l| l.starts_with("lienthong_ocsp_staple_valid_seconds ") && !l.ends_with(" 0"))
    {
        assert!(Instant::now() < deadline, "nothing stapled:\n{}", c.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let files = files();
    let documents = FileServer::start(files.clone()).await.expect("files");
    let province_config = province
        .config(
            &commune,
            &commune.exchange_url(),
            &documents.attachments_toml(),
        )
        .replacen(
            "[trust.peer]\n",
            &format!("[trust.peer]\nrevocation = \"ocsp\"\nocsp_responder = \"{url}\"\n"),
            1,
        );
    // Good answers are logged at debug level, as the checker's are.
    let p: Gateway = province
        .start_with_env(
            &province_config,
            &[("LIENTHONG_LOG", "info,lienthong::trust::revocation=debug")],
        )
        .await;
    let code = "000.02.01.H37-261207-0701";
    let (st, body) = p
        .post("/v1/dossiers", &dossier(code, &documents, &files))
        .await;
    assert_eq!(st, 202, "{body}");
    p.wait_deliveries(Duration::from_secs(20), "the peer delivery", |ds| {
        ds.iter()
            .any(|d| d["destination"] == commune.destination && d["state"] == "delivered")
    })
    .await;
    let metrics = p.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("lienthong_ocsp_checks_total")
                && l.contains("store=\"peer\"")
                && l.contains("result=\"good\"")
                && l.contains("decision=\"accepted\"")),
        "the stapled answer is not counted:\n{metrics}"
    );
    assert!(
        p.log().contains("stapled by the server"),
        "the stapled answer is not logged"
    );
}
