//! The center's signing key on a PKCS#11 token (SoftHSM2), through the real binary: the
//! province signs its edXML on the token and the commune, which trusts the province's CA and
//! signer name, takes the dossier; a wrong PIN stops check-config and serve with the key named;
//! the token pulled out mid-run holds the next dossier back (waits, `/readyz` degraded, the
//! metric at 0; a lower-level center's dossier answered 503, nothing stored) and both go through
//! when the token is back, without a restart.

use std::time::Duration;

use lienthong_tests::softhsm::SoftHsm;
use lienthong_tests::two_level::{dossier, files, province_and_commune};

const TOKEN: &str = "province-token";
const PIN: &str = "24681357";

#[tokio::test]
async fn edxml_signed_on_a_token_is_believed_by_the_peer() {
    let (province, commune) = province_and_commune().await;
    let Some(hsm) = SoftHsm::new(province.dir.path(), TOKEN, PIN) else {
        return;
    };
    let spki = hsm.generate(TOKEN, PIN, "center-signer", "0a", "ec");
    let (_, cert_pem) = province
        .pki
        .certificate_for(&province.signer_cn, &spki, &[]);
    let cert = province.dir.path().join("token-signing.pem");
    std::fs::write(&cert, cert_pem).expect("certificate");
    let pin_file = province.dir.path().join("token.pin");
    std::fs::write(&pin_file, PIN).expect("pin");
    let on_token = |pin_file: &std::path::Path| {
        let config = province.config(&commune, &commune.exchange_url(), "");
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
    };
    let env = [("SOFTHSM2_CONF", hsm.conf.to_str().expect("utf-8 path"))];

    // A wrong PIN: refused at check-config, naming the key.
    let wrong = province.dir.path().join("wrong.pin");
    std::fs::write(&wrong, "11111111").expect("pin");
    let bad = province.dir.path().join("bad.toml");
    std::fs::write(&bad, on_token(&wrong)).expect("config");
    let out = std::process::Command::new(lienthong_tests::gateway_process::lienthong_bin())
        .args(["check-config", "--config"])
        .arg(&bad)
        .envs(env)
        .output()
        .expect("check-config");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong PIN passed check-config");
    assert!(
        text.contains("signing.key_pkcs11") && text.contains("PIN was refused"),
        "{text}"
    );

    // What the token holds, and a test signature through it.
    let uri = format!(
        "pkcs11:token={TOKEN}?module-path={}&pin-source=file:{}",
        hsm.module.display(),
        pin_file.display()
    );
    let out = std::process::Command::new(lienthong_tests::gateway_process::lienthong_bin())
        .args(["certs", "inspect", &uri])
        .envs(env)
        .output()
        .expect("certs inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("token:              {TOKEN}"))
            && text.lines().any(|l| l.starts_with("private key")
                && l.contains("center-signer")
                && l.contains("0a"))
            && text
                .lines()
                .any(|l| l.starts_with("public key") && l.contains("center-signer")),
        "{text}"
    );
    let good = province.dir.path().join("good.toml");
    std::fs::write(&good, on_token(&pin_file)).expect("config");
    let out = std::process::Command::new(lienthong_tests::gateway_process::lienthong_bin())
        .args(["check-config", "--probe", "--config"])
        .arg(&good)
        .envs(env)
        .output()
        .expect("check-config --probe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("signing ")
            && l.contains(" ok ")
            && l.contains("ECDSA P-256 on pkcs11:")),
        "the probe did not sign on the token:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The province signs on the token; the commune takes its dossier.
    let files = files();
    let store = lienthong_tests::file_server::FileServer::start(files.clone())
        .await
        .expect("files");
    let p = province
        .start_with_env(&(on_token(&pin_file) + &store.attachments_toml()), &env)
        .await;
    let c = commune
        .start(
            &(commune.config(&province, &province.exchange_url(), "") + &store.attachments_toml()),
        )
        .await;
    let code = "000.02.01.H37-261204-0901";
    let (status, body) = p.post("/v1/dossiers", &dossier(code, &store, &files)).await;
    assert_eq!(status, 202, "{body}");
    let arrived = commune
        .center
        .wait_for(Duration::from_secs(30), |n| {
            n.iter()
                .any(|n| n.event == "exchange.dossier" && n.data.to_string().contains(code))
        })
        .await;
    assert!(
        arrived,
        "the commune did not take the token-signed dossier:\n{}",
        p.log()
    );

    // The token is pulled out: the next dossier is taken (durably) and waits, retrying.
    hsm.pull_out();
    let later = "000.02.01.H37-261204-0902";
    let (status, body) = p
        .post("/v1/dossiers", &dossier(later, &store, &files))
        .await;
    assert_eq!(status, 202, "{body}");
    // It waits as a failure of this gateway's own: its attempts are not used up.
    p.wait_deliveries(Duration::from_secs(30), "a wait naming the token", |all| {
        all.iter().any(|d| {
            d["dossier_code"] == later
                && d["state"] == "retry_wait"
                && d["attempts"] == 0
                && d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("center-signer"))
        })
    })
    .await;
    let (status, ready) = p.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["signing_keys"][0]["name"], "signing", "{ready}");
    assert_eq!(ready["signing_keys"][0]["available"], false, "{ready}");
    assert!(
        p.metrics()
            .await
            .contains("lienthong_signing_key_available{name=\"signing\"} 0"),
        "the metric does not show the key unavailable"
    );
    assert!(
        !commune
            .center
            .notices()
            .iter()
            .any(|n| n.data.to_string().contains(later)),
        "a dossier went out while the signing key was away"
    );

    // A commune's dossier waits too: the province cannot sign its answer, so it stores
    // nothing and answers 503; the commune retries.
    let upward = "000.00.12.H37-261204-0903";
    let (status, body) = c
        .post("/v1/dossiers", &dossier(upward, &store, &files))
        .await;
    assert_eq!(status, 202, "{body}");
    c.wait_deliveries(Duration::from_secs(30), "503 from the province", |all| {
        all.iter().any(|d| {
            d["dossier_code"] == upward
                && d["attempts"].as_u64().unwrap_or(0) >= 2
                && d["last_http_status"] == 503
        })
    })
    .await;

    // Back: the dossiers go out, no restart.
    hsm.put_back();
    let arrived = commune
        .center
        .wait_for(Duration::from_secs(60), |n| {
            n.iter()
                .any(|n| n.event == "exchange.dossier" && n.data.to_string().contains(later))
        })
        .await;
    assert!(
        arrived,
        "the dossier held back did not go out once the token was back:\n{}",
        p.log()
    );
    let upward_arrived = province
        .center
        .wait_for(Duration::from_secs(60), |n| {
            n.iter()
                .any(|n| n.event == "exchange.dossier" && n.dossier_code == upward)
        })
        .await;
    assert!(
        upward_arrived,
        "the commune's dossier was not taken once the token was back:\n{}",
        p.log()
    );
    let (_, ready) = p.get("/readyz").await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(
        p.metrics()
            .await
            .contains("lienthong_signing_key_available{name=\"signing\"} 1"),
        "the metric does not show the key back"
    );
}
