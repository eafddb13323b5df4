//! OCSP end to end: the commune's gateway checks the province's certificates (its TLS client
//! certificate and its XML signing certificate) with the province CA's responder, a real
//! `openssl ocsp` on loopback, under each policy of the trust store: good accepted, revoked
//! refused at the connection and for a signature, answers cached until their `nextUpdate`, a
//! responder that is down handled as the policy says, an answer signed by another CA refused;
//! and the gateway's own listener stapling its CA's answer about its certificate.

use std::time::Duration;

use lienthong_certs::testpki::{Leaf, Pki};
use lienthong_tests::file_server::FileServer;
use lienthong_tests::gateway_process::{Gateway, free_port};
use lienthong_tests::ocsp_responder::OcspResponder;
use lienthong_tests::two_level::{Level, dossier, files, province_and_commune, received};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use time::OffsetDateTime;

mod common;
use common::{signed_province_message, xml_signer};

/// The province, the commune, and two more province certificates its CA has revoked.
struct Setup {
    province: Level,
    commune: Level,
    revoked_signer: Leaf,
    revoked_tls: Leaf,
}

async fn setup() -> Setup {
    let (province, commune) = province_and_commune().await;
    // Same names as the genuine ones: only revocation tells them apart.
    let revoked_signer = province
        .pki
        .leaf(&province.signer_cn, &rcgen::PKCS_RSA_SHA256, &[]);
    let revoked_tls = province.pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth, Eku::ClientAuth],
    );
    Setup {
        province,
        commune,
        revoked_signer,
        revoked_tls,
    }
}

impl Setup {
    /// The province CA's index: the genuine certificates good, the other two revoked.
    fn index(&self) -> Vec<(&Leaf, bool)> {
        vec![
            (&self.province.tls, false),
            (&self.province.signing, false),
            (&self.revoked_signer, true),
            (&self.revoked_tls, true),
        ]
    }

    /// The commune's configuration: the province's client certificates and signatures are
    /// checked through `[trust.peer_ocsp]` with `settings`; its server certificate (the
    /// commune's outbound TLS) stays with the CRL store.
    fn config(&self, settings: &str) -> String {
        let base = self
            .commune
            .config(&self.province, &self.province.exchange_url(), "");
        let ca = self.commune.dir.path().join("peer-ca.pem");
        base.replacen("client_trust = \"peer\"", "client_trust = \"peer_ocsp\"", 1)
            .replacen(
                "signature_trust = \"peer\"",
                "signature_trust = \"peer_ocsp\"",
                1,
            )
            + &format!(
                "\n[trust.peer_ocsp]\nanchors = [\"{}\"]\nocsp_timeout = \"2s\"\n{settings}\n",
                ca.display()
            )
    }

    /// A peer connection presenting `tls` (the province's by default).
    fn client(&self, tls: &Leaf) -> reqwest::Client {
        let pem = format!("{}{}", tls.cert_pem, tls.key_pem);
        reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.commune.pki.ca_pem.as_bytes()).expect("CA"),
            ])
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"))
            .build()
            .expect("client")
    }

    /// Sends dossier `code` signed by `signer` over a connection presenting `tls`: the HTTP
    /// status and body, or the transport error when the connection was refused.
    async fn send(
        &self,
        tls: &Leaf,
        signer: &Leaf,
        code: &str,
    ) -> Result<(u16, String), reqwest::Error> {
        let number = code.rsplit('-').next().unwrap_or("1");
        let xml =
            signed_province_message(code, number, OffsetDateTime::now_utc(), &xml_signer(signer));
        let r = self
            .client(tls)
            .post(self.commune.exchange_url())
            .header("content-type", "application/xml")
            .body(xml)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.unwrap_or_default()))
    }
}

async fn count_of(gw: &Gateway, needle: &str) -> bool {
    gw.metrics().await.lines().any(|l| {
        l.starts_with("lienthong_ocsp_checks_total") && needle.split(',').all(|n| l.contains(n))
    })
}

#[tokio::test]
async fn revoked_peers_are_refused_at_the_connection_and_for_a_signature_and_answers_are_cached() {
    let s = setup().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let responder = OcspResponder::start(tmp.path(), &s.province.pki, None, &s.index()).await;
    let mut gw = s
        .commune
        .start(&s.config(&format!(
            "revocation = \"ocsp\"\nocsp_responder = \"{}\"",
            responder.url()
        )))
        .await;
    let (province, revoked_signer, revoked_tls) = (&s.province, &s.revoked_signer, &s.revoked_tls);

    // Good: the connection's certificate and the signer's are both asked about, once each.
    let (status, body) = s
        .send(
            &province.tls,
            &province.signing,
            "000.02.01.H37-261205-0001",
        )
        .await
        .expect("connection accepted");
    assert_eq!(status, 200, "{body}");
    assert_eq!(responder.requests(), 2, "one request per certificate");
    // Again, on a new connection: both answers come from the cache (valid five minutes).
    let (status, body) = s
        .send(
            &province.tls,
            &province.signing,
            "000.02.01.H37-261205-0002",
        )
        .await
        .expect("connection accepted");
    assert_eq!(status, 200, "{body}");
    assert_eq!(responder.requests(), 2, "the cache answered");
    assert!(count_of(&gw, "result=\"good\",cached=\"true\"").await);

    // A genuine connection carrying a document signed by the revoked certificate: 401.
    let code = "000.02.01.H37-261205-0003";
    let (status, body) = s
        .send(&province.tls, revoked_signer, code)
        .await
        .expect("connection accepted");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    assert!(received(&gw, code).await.is_empty(), "nothing stored");
    assert_eq!(responder.requests(), 3);

    // A connection presenting the revoked TLS certificate is closed before a request is read.
    let code = "000.02.01.H37-261205-0004";
    let refused = s.send(revoked_tls, &province.signing, code).await;
    assert!(refused.is_err(), "served: {refused:?}");
    gw.wait_for_log("TLS client certificate refused after the handshake", 1)
        .await;
    assert!(gw.log().contains("revoked"), "{}", gw.log());
    assert!(received(&gw, code).await.is_empty(), "nothing stored");
    assert!(
        count_of(
            &gw,
            "result=\"revoked\",cached=\"false\",decision=\"refused\""
        )
        .await
    );

    // The accepted dossiers reached the commune's center.
    assert_eq!(received(&gw, "000.02.01.H37-261205-0001").await.len(), 1);
    assert_eq!(received(&gw, "000.02.01.H37-261205-0002").await.len(), 1);
    gw.terminate().await;
}

#[tokio::test]
async fn a_responder_that_is_down_follows_the_policy() {
    let s = setup().await;
    let down = format!("http://127.0.0.1:{}/", free_port());
    let (province, revoked_signer) = (&s.province, &s.revoked_signer);

    // ocsp, deny (the default): no status, no connection; nothing hangs (2 s time limit).
    let mut gw = s
        .commune
        .start(&s.config(&format!(
            "revocation = \"ocsp\"\nocsp_responder = \"{down}\""
        )))
        .await;
    let started = std::time::Instant::now();
    let refused = s
        .send(
            &province.tls,
            &province.signing,
            "000.02.01.H37-261205-0101",
        )
        .await;
    assert!(refused.is_err(), "served: {refused:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    gw.wait_for_log("TLS client certificate refused after the handshake", 1)
        .await;
    assert!(
        count_of(
            &gw,
            "result=\"unreachable\",cached=\"false\",decision=\"refused\""
        )
        .await
    );
    gw.terminate().await;

    // ocsp, allow: accepted, and counted as accepted without a status.
    let mut gw = s
        .commune
        .start(&s.config(&format!(
            "revocation = \"ocsp\"\non_unknown = \"allow\"\nocsp_responder = \"{down}\""
        )))
        .await;
    let (status, body) = s
        .send(
            &province.tls,
            &province.signing,
            "000.02.01.H37-261205-0102",
        )
        .await
        .expect("connection accepted");
    assert_eq!(status, 200, "{body}");
    assert!(count_of(&gw, "result=\"unreachable\",decision=\"accepted\"").await);
    gw.terminate().await;

    // ocsp-then-crl: the CRL file decides — the genuine signer passes, the revoked one not.
    let crl = s.commune.dir.path().join("province.crl");
    std::fs::write(&crl, s.province.pki.crl(&[revoked_signer]).as_ref()).expect("crl");
    let mut gw = s
        .commune
        .start(&s.config(&format!(
            "revocation = \"ocsp-then-crl\"\nocsp_responder = \"{down}\"\ncrls = [\"{}\"]",
            crl.display()
        )))
        .await;
    let (status, body) = s
        .send(
            &province.tls,
            &province.signing,
            "000.02.01.H37-261205-0103",
        )
        .await
        .expect("connection accepted");
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .send(&province.tls, revoked_signer, "000.02.01.H37-261205-0104")
        .await
        .expect("connection accepted");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Revoked"), "{body}");
    assert!(count_of(&gw, "result=\"unreachable\",decision=\"crl\"").await);
    gw.terminate().await;
}

#[tokio::test]
async fn an_answer_signed_by_another_ca_is_refused() {
    let s = setup().await;
    let tmp = tempfile::tempdir().expect("tmp");
    // A responder that knows the province's serials but signs with another CA's responder key.
    let other = Pki::new("Other CA");
    let foreign = other.ocsp_signer("Other CA OCSP");
    let responder = OcspResponder::start(tmp.path(), &other, Some(&foreign), &s.index()).await;
    let mut gw = s
        .commune
        .start(&s.config(&format!(
            "revocation = \"ocsp\"\nocsp_responder = \"{}\"",
            responder.url()
        )))
        .await;
    let refused = s
        .send(
            &s.province.tls,
            &s.province.signing,
            "000.02.01.H37-261205-0201",
        )
        .await;
    assert!(refused.is_err(), "served: {refused:?}");
    assert_eq!(responder.requests(), 1, "the responder was asked");
    gw.wait_for_log("not signed by the issuer or its delegated responder", 1)
        .await;
    assert!(
        count_of(
            &gw,
            "result=\"invalid\",cached=\"false\",decision=\"refused\""
        )
        .await
    );
    gw.terminate().await;
}

#[tokio::test]
async fn check_config_refuses_a_crl_fallback_without_crl_files() {
    let s = setup().await;
    let dir = s.commune.dir.path();
    let path = dir.join("bad.toml");
    std::fs::write(&path, s.config("revocation = \"ocsp-then-crl\"")).expect("config");
    let (ok, out, err) = lienthong_tests::gateway_process::run_cli(&[
        "check-config",
        "--config",
        path.to_str().expect("utf-8 path"),
    ]);
    assert!(!ok, "{out}");
    let text = format!("{out}{err}");
    assert!(text.contains("trust.peer_ocsp.crls"), "{text}");
    // A destination's server certificate may be checked by OCSP (its stapled answer).
    let path = dir.join("good.toml");
    let config = s.config("revocation = \"ocsp\"").replacen(
        "trust = \"peer\"\nclient_cert",
        "trust = \"peer_ocsp\"\nclient_cert",
        1,
    );
    std::fs::write(&path, config).expect("config");
    let (ok, out, err) = lienthong_tests::gateway_process::run_cli(&[
        "check-config",
        "--config",
        path.to_str().expect("utf-8 path"),
    ]);
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn the_listener_staples_an_answer_that_a_delivering_peer_checks() {
    let s = setup().await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = s.commune.dir.path();
    // The commune's listener certificate names its CA's responder (AIA); the file holds the
    // issuer after the leaf, as stapling needs.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let listener =
        s.commune
            .pki
            .leaf_with_ocsp("localhost", &url, &[Eku::ServerAuth, Eku::ClientAuth]);
    let responder = OcspResponder::start_at(
        port,
        tmp.path(),
        &s.commune.pki,
        None,
        &[(&listener, false)],
    )
    .await;
    let (cert, key) = listener.write(dir, "stapled");
    std::fs::write(
        &cert,
        format!("{}{}", listener.cert_pem, s.commune.pki.ca_pem),
    )
    .expect("chain");
    let config = s
        .commune
        .config(&s.province, &s.province.exchange_url(), "")
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
    let mut gw = s.commune.start(&config).await;
    let ca = s.commune.ca_path();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let out = std::process::Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{}", s.commune.port))
            .args(["-servername", "localhost", "-status", "-CAfile"])
            .arg(&ca)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("Cert Status:") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        status.contains("OCSP Response Status: successful"),
        "{status}\n{}",
        gw.log()
    );
    assert!(status.contains("Cert Status: good"), "{status}");
    assert!(status.contains("Verify return code: 0 (ok)"), "{status}");
    assert!(responder.requests() >= 1);
    let metrics = gw.metrics().await;
    let left: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lienthong_ocsp_staple_valid_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the staple gauge");
    assert!(left > 0.0 && left <= 300.0, "{left}");

    // The province delivers to the commune through a trust store under the OCSP policy: the
    // commune's certificate is judged by the answer its listener staples (the responder is
    // the store's own only as far as the province's incoming checks go: nothing comes in here).
    let files = files();
    let documents = FileServer::start(files.clone()).await.expect("files");
    let province_config = s
        .province
        .config(
            &s.commune,
            &s.commune.exchange_url(),
            &documents.attachments_toml(),
        )
        .replacen(
            "[trust.peer]\n",
            &format!("[trust.peer]\nrevocation = \"ocsp\"\nocsp_responder = \"{url}\"\n"),
            1,
        );
    let mut p = s.province.start(&province_config).await;
    let code = "000.02.01.H37-261205-0301";
    let (st, body) = p
        .post("/v1/dossiers", &dossier(code, &documents, &files))
        .await;
    assert_eq!(st, 202, "{body}");
    p.wait_deliveries(Duration::from_secs(20), "the peer delivery", |ds| {
        ds.iter()
            .any(|d| d["destination"] == s.commune.destination && d["state"] == "delivered")
    })
    .await;
    assert_eq!(received(&gw, code).await.len(), 1);
    p.terminate().await;
    gw.terminate().await;
}
