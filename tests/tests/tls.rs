//! HTTPS with client certificates, per-route certificate rules, RFC 9421 signed routes and
//! certificate reload, against the real `lienthong` binary on loopback. Certificates are made
//! fresh by the test PKI (rcgen).

use std::path::Path;
use std::sync::Arc;

use lienthong_certs::httpsig::{self, ComponentId, Message, SignatureParams, SigningKey};
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::{Leaf, Pki, days};
use lienthong_certs::tls::MinVersion;
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, free_port};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn dossier(code: &str) -> Value {
    let mut d: Value = serde_json::from_str(include_str!(
        "../../examples/dossier-business-registration.json"
    ))
    .expect("example");
    d["code"] = Value::String(code.into());
    d
}

struct Setup {
    pki: Pki,
    _sim: DvcqgSim,
    dir: tempfile::TempDir,
    gw: Gateway,
}

fn client(pki: &Pki, leaf: Option<&Leaf>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA")])
        .pool_max_idle_per_host(0);
    if let Some(l) = leaf {
        let pem = format!("{}{}", l.cert_pem, l.key_pem);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    b.build().expect("client")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

async fn start(extra_server: &str, extra_top: &str) -> Setup {
    start_with(
        Pki::new("Lienthong Test Root"),
        tempfile::tempdir().expect("tempdir"),
        extra_server,
        extra_top,
        "",
    )
    .await
}

async fn start_with(
    pki: Pki,
    dir: tempfile::TempDir,
    extra_server: &str,
    extra_top: &str,
    client_trust_extra: &str,
) -> Setup {
    let server = pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth],
    );
    let (cert, key) = server.write(dir.path(), "server");
    let ca = pki.write_ca(dir.path());
    let sim = DvcqgSim::start().await.expect("sim");
    let cfg = TestConfig {
        server_extra: format!(
            r#"{extra_server}

[server.tls]
cert = "{}"
key = "{}"
client_trust = "clients"

[trust.clients]
anchors = ["{}"]
{client_trust_extra}

{extra_top}
"#,
            cert.display(),
            key.display(),
            ca.display()
        ),
        ..TestConfig::default()
    };
    let port = free_port();
    let text = cfg.render(dir.path(), port, &sim);
    let gw = Gateway::start_tls(dir.path(), &text, client(&pki, None)).await;
    Setup {
        pki,
        _sim: sim,
        dir,
        gw,
    }
}

const CLIENT_RULES: &str = r#"
[[server.client_auth]]
path_prefix = "/v1/dossiers"
allowed_subjects = ["mot-cua.ninhbinh.gov.vn"]
allowed_issuers = ["Lienthong Test Root"]

[[server.client_auth]]
path_prefix = "/v1/callbacks/"
allowed_subjects = ["dvcqg.gov.vn"]
"#;

#[tokio::test]
async fn client_certificates_are_checked_at_the_handshake_and_per_route() {
    let s = start(CLIENT_RULES, "").await;
    let url = format!("{}/v1/dossiers", s.gw.base_url);
    let allowed = s.pki.leaf(
        "mot-cua.ninhbinh.gov.vn",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let other_subject = s.pki.leaf(
        "someone.example",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let now = time::OffsetDateTime::now_utc();
    let expired = s.pki.leaf_valid(
        "mot-cua.ninhbinh.gov.vn",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
        now - days(60),
        now - days(1),
    );
    let stranger_ca = Pki::new("Other CA");
    let stranger = stranger_ca.leaf(
        "mot-cua.ninhbinh.gov.vn",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );

    // The allowed client gets in.
    let r = client(&s.pki, Some(&allowed))
        .post(&url)
        .json(&dossier("000.02.01.H37-261128-7001"))
        .send()
        .await
        .expect("allowed client");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());

    // No certificate: the TLS handshake succeeds (optional elsewhere), the route says 403.
    let r = client(&s.pki, None)
        .post(&url)
        .json(&dossier("000.02.01.H37-261128-7002"))
        .send()
        .await
        .expect("no certificate");
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.expect("problem");
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("client-certificate-required"),
        "{p}"
    );
    // …while routes without a rule stay open.
    let r = client(&s.pki, None)
        .get(format!("{}/healthz", s.gw.base_url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);

    // A certificate from the right CA but a subject the route does not allow: 403.
    let r = client(&s.pki, Some(&other_subject))
        .post(&url)
        .json(&dossier("000.02.01.H37-261128-7003"))
        .send()
        .await
        .expect("other subject");
    assert_eq!(r.status(), 403);
    let p: Value = r.json().await.expect("problem");
    assert!(
        p["type"]
            .as_str()
            .unwrap_or_default()
            .ends_with("client-certificate-not-allowed"),
        "{p}"
    );
    // The same certificate is not allowed on the callbacks prefix either.
    let r = client(&s.pki, Some(&allowed))
        .post(format!("{}/v1/callbacks/dvcqg", s.gw.base_url))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("callbacks");
    assert_eq!(r.status(), 403);

    // Expired, or from another CA: refused at the handshake.
    for (what, leaf) in [("expired", &expired), ("other CA", &stranger)] {
        let res = client(&s.pki, Some(leaf))
            .post(&url)
            .json(&dossier("000.02.01.H37-261128-7004"))
            .send()
            .await;
        assert!(
            res.is_err(),
            "{what}: the handshake should fail, got {:?}",
            res.map(|r| r.status())
        );
    }
    // Nothing but the allowed client's dossier was stored; tracking is under the same rule.
    let (st, _) = s.gw.get("/v1/dossiers/000.02.01.H37-261128-7001").await;
    assert_eq!(st, 403, "tracking without a certificate");
    let allowed_client = client(&s.pki, Some(&allowed));
    for (code, expected) in [("7001", 200), ("7002", 404), ("7003", 404), ("7004", 404)] {
        let r = allowed_client
            .get(format!(
                "{}/v1/dossiers/000.02.01.H37-261128-{code}",
                s.gw.base_url
            ))
            .send()
            .await
            .expect("tracking");
        assert_eq!(r.status(), expected, "{code}");
    }
    drop(s.dir);
}

/// A raw HTTP/1.1 keep-alive connection over TLS, to control exactly which connection a
/// request uses.
struct RawConnection {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    server_serial: String,
}

impl RawConnection {
    async fn open(addr: &str, pki: &Pki) -> Self {
        let store = std::sync::Arc::new(pki.store("test"));
        let mut config =
            lienthong_certs::tls::client_config(&store, None, MinVersion::Tls12).expect("config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("handshake");
        let cert = stream.get_ref().1.peer_certificates().expect("server cert")[0].clone();
        let info = lienthong_certs::inspect::CertificateInfo::from_der(&cert).expect("parse");
        Self {
            stream,
            server_serial: info.serial,
        }
    }

    async fn get(&mut self, path: &str) -> u16 {
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
        self.stream.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + len {
                    return text[9..12].parse().expect("status");
                }
            }
        }
    }
}

#[tokio::test]
async fn sighup_and_admin_reload_swap_the_server_certificate_without_dropping_connections() {
    let s = start("", "").await;
    let addr =
        s.gw.base_url
            .trim_start_matches("https://")
            .replace("localhost", "127.0.0.1");
    let mut old = RawConnection::open(&addr, &s.pki).await;
    assert_eq!(old.get("/healthz").await, 200);
    let first_serial = old.server_serial.clone();

    // A new certificate, then SIGHUP.
    let renewed = s.pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth],
    );
    renewed.write(s.dir.path(), "server");
    s.gw.signal("HUP");
    s.gw.wait_for_log("certificates and trust stores reloaded", 1)
        .await;
    let fresh = RawConnection::open(&addr, &s.pki).await;
    assert_ne!(
        fresh.server_serial, first_serial,
        "new connections see the new certificate"
    );
    // The keep-alive connection opened before the reload still completes its requests.
    assert_eq!(old.get("/healthz").await, 200);
    assert_eq!(old.get("/readyz").await, 200);

    // A broken certificate file: the reload is refused and the previous certificate stays.
    write(
        s.dir.path(),
        "server.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    s.gw.signal("HUP");
    s.gw.wait_for_log("reload refused", 1).await;
    let after_bad = RawConnection::open(&addr, &s.pki).await;
    assert_eq!(after_bad.server_serial, fresh.server_serial);

    // POST /v1/admin/reload does the same (loopback, no admin token configured).
    let third = s.pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth],
    );
    third.write(s.dir.path(), "server");
    let r =
        s.gw.admin(s.gw.http.post(format!("{}/v1/admin/reload", s.gw.base_url)))
            .send()
            .await
            .expect("reload");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["reloaded"], true);
    assert!(
        body["certificates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "server.tls")),
        "{body}"
    );
    let newest = RawConnection::open(&addr, &s.pki).await;
    assert_ne!(newest.server_serial, fresh.server_serial);
    // And the expiry gauge is published for it.
    let metrics =
        s.gw.admin(s.gw.http.get(format!("{}/metrics", s.gw.base_url)))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
    assert!(
        metrics.contains("lienthong_certificate_expiry_seconds{name=\"server.tls\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("lienthong_certificate_expiry_seconds{name=\"trust.clients\"}"));
}

fn sign_request(
    req: &mut reqwest::Request,
    key: &SigningKey,
    keyid: &str,
    created: i64,
    nonce: &str,
) {
    let body = req
        .body()
        .and_then(|b| b.as_bytes())
        .unwrap_or_default()
        .to_vec();
    let digest = lienthong_certs::content_digest(&body, lienthong_certs::DigestAlgorithm::Sha256);
    req.headers_mut()
        .insert("content-digest", digest.parse().expect("header"));
    let method = req.method().as_str().to_string();
    let url = req.url().as_str().to_string();
    let params = SignatureParams {
        components: vec![
            ComponentId::new("@method"),
            ComponentId::new("@target-uri"),
            ComponentId::new("content-digest"),
        ],
        created: Some(created),
        keyid: Some(keyid.into()),
        nonce: Some(nonce.into()),
        include_alg: true,
        ..Default::default()
    };
    let f = httpsig::sign(
        &Message::request(&method, &url, req.headers()),
        "sig1",
        &params,
        key,
    )
    .expect("sign");
    req.headers_mut().insert(
        "signature-input",
        f.signature_input.parse().expect("header"),
    );
    req.headers_mut()
        .insert("signature", f.signature.parse().expect("header"));
}

#[tokio::test]
async fn signed_routes_require_a_fresh_valid_signature() {
    // The center's one-stop software signs its submissions with its own certificate.
    let pki_for_center = Pki::new("Center CA");
    let center = pki_for_center.leaf("mot-cua", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let tmp = tempfile::tempdir().expect("tmp");
    let (center_cert, _) = center.write(tmp.path(), "center");
    let center_ca = pki_for_center.write_ca(tmp.path());
    let rules = format!(
        r#"
[[server.signed_routes]]
path_prefix = "/v1/dossiers"
keys = [{{ keyid = "mot-cua", algorithm = "ecdsa-p256-sha256", certificate = "{}", trust = "center" }}]
"#,
        center_cert.display()
    );
    let top = format!("[trust.center]\nanchors = [\"{}\"]\n", center_ca.display());
    let s = start(&rules, &top).await;
    let key = SigningKey::Private {
        key: Arc::new(PrivateKey::from_bytes(center.key_pem.as_bytes(), "k").expect("key")),
        algorithm: httpsig::Algorithm::EcdsaP256Sha256,
    };
    let http = client(&s.pki, None);
    let url = format!("{}/v1/dossiers", s.gw.base_url);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let build = |code: &str| {
        http.post(&url)
            .json(&dossier(code))
            .build()
            .expect("request")
    };

    // Unsigned: 401.
    let r = http
        .execute(build("000.02.01.H37-261128-7101"))
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    // Signed: accepted.
    let mut req = build("000.02.01.H37-261128-7101");
    sign_request(&mut req, &key, "mot-cua", now, "n-1");
    let replay = req.try_clone().expect("clone");
    let r = http.execute(req).await.expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    // The same request again (same nonce): replay, 401.
    let r = http.execute(replay).await.expect("send");
    assert_eq!(r.status(), 401);
    let p: Value = r.json().await.expect("problem");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("replay"),
        "{p}"
    );
    // Too old.
    let mut old = build("000.02.01.H37-261128-7102");
    sign_request(&mut old, &key, "mot-cua", now - 3600, "n-2");
    assert_eq!(http.execute(old).await.expect("send").status(), 401);
    // Body changed after signing: the digest no longer matches.
    let mut tampered = build("000.02.01.H37-261128-7103");
    sign_request(&mut tampered, &key, "mot-cua", now, "n-3");
    *tampered.body_mut() = Some(
        serde_json::to_vec(&dossier("000.02.01.H37-261128-7999"))
            .expect("json")
            .into(),
    );
    assert_eq!(http.execute(tampered).await.expect("send").status(), 401);
    // Unknown key id.
    let mut unknown = build("000.02.01.H37-261128-7104");
    sign_request(&mut unknown, &key, "someone", now, "n-4");
    assert_eq!(http.execute(unknown).await.expect("send").status(), 401);
    // Only the signed dossier was stored (tracking requests are signed too: same prefix).
    for (i, (code, expected)) in [
        ("7101", 200),
        ("7102", 404),
        ("7103", 404),
        ("7104", 404),
        ("7999", 404),
    ]
    .into_iter()
    .enumerate()
    {
        let mut get = http
            .get(format!(
                "{}/v1/dossiers/000.02.01.H37-261128-{code}",
                s.gw.base_url
            ))
            .build()
            .expect("request");
        sign_request(&mut get, &key, "mot-cua", now, &format!("get-{i}"));
        assert_eq!(
            http.execute(get).await.expect("send").status(),
            expected,
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_crl_update_takes_effect_on_reload() {
    let pki = Pki::new("Lienthong Test Root");
    let dir = tempfile::tempdir().expect("tempdir");
    let member = pki.leaf(
        "mot-cua.ninhbinh.gov.vn",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let crl_path = dir.path().join("clients.crl");
    std::fs::write(&crl_path, pki.crl(&[]).as_ref()).expect("write CRL");
    let crl_line = format!("crls = [\"{}\"]", crl_path.display());
    let s = start_with(pki, dir, CLIENT_RULES, "", &crl_line).await;
    let url = format!("{}/v1/dossiers/000.02.01.H37-261128-7201", s.gw.base_url);
    let r = client(&s.pki, Some(&member))
        .get(&url)
        .send()
        .await
        .expect("before revocation");
    assert_eq!(r.status(), 404, "authenticated, no such dossier");
    // The CA revokes the certificate; the operator drops in the new CRL and reloads.
    std::fs::write(&crl_path, s.pki.crl(&[&member]).as_ref()).expect("write CRL");
    s.gw.signal("HUP");
    s.gw.wait_for_log("certificates and trust stores reloaded", 1)
        .await;
    let res = client(&s.pki, Some(&member)).get(&url).send().await;
    assert!(
        res.is_err(),
        "a revoked certificate is refused at the handshake: {:?}",
        res.map(|r| r.status())
    );
}

/// On a store shared by several instances, a signed request is accepted once: the same request
/// (same nonce) sent to another instance, or to the first after a restart, within its window, is
/// a replay (401). The instances sit behind one name (the load balancer's), so the signed
/// `@target-uri` is the same whichever of them receives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_is_accepted_once_across_instances_and_restarts() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    let pki = Pki::new("Center CA");
    let center = pki.leaf("mot-cua", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let keys = tempfile::tempdir().expect("tmp");
    let (center_cert, _) = center.write(keys.path(), "center");
    let center_ca = pki.write_ca(keys.path());
    let sim = DvcqgSim::start().await.expect("sim");
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let configs: Vec<String> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            TestConfig {
                store_url: Some(db.url.clone()),
                server_extra: format!(
                    r#"instance = "node-{i}"

[[server.signed_routes]]
path_prefix = "/v1/dossiers"
keys = [{{ keyid = "mot-cua", algorithm = "ecdsa-p256-sha256", certificate = "{cert}", trust = "center" }}]

[trust.center]
anchors = ["{ca}"]
"#,
                    cert = center_cert.display(),
                    ca = center_ca.display()
                ),
                ..TestConfig::default()
            }
            .render(dir.path(), free_port(), &sim)
        })
        .collect();
    let mut a = Gateway::start(dirs[0].path(), &configs[0]).await;
    let b = Gateway::start(dirs[1].path(), &configs[1]).await;
    let key = SigningKey::Private {
        key: Arc::new(PrivateKey::from_bytes(center.key_pem.as_bytes(), "k").expect("key")),
        algorithm: httpsig::Algorithm::EcdsaP256Sha256,
    };
    let http = reqwest::Client::new();
    let host = a.base_url.trim_start_matches("http://").to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut signed = http
        .post(format!("{}/v1/dossiers", a.base_url))
        .json(&dossier("000.02.01.H37-261128-7301"))
        .build()
        .expect("request");
    sign_request(&mut signed, &key, "mot-cua", now, "cluster-n-1");
    // The same signed request, as another instance behind the same name receives it.
    let to = |base: &str| {
        let mut r = signed.try_clone().expect("clone");
        *r.url_mut() = format!("{base}/v1/dossiers").parse().expect("url");
        r.headers_mut()
            .insert("host", host.parse().expect("host header"));
        r
    };
    let r = http.execute(to(&a.base_url)).await.expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let r = http.execute(to(&b.base_url)).await.expect("send");
    assert_eq!(r.status(), 401, "a replay at the other instance");
    let p: Value = r.json().await.expect("problem");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("replay"),
        "{p}"
    );

    // After a restart the nonce is still remembered.
    a.terminate().await;
    let a = Gateway::start(dirs[0].path(), &configs[0]).await;
    let r = http.execute(to(&a.base_url)).await.expect("send");
    assert_eq!(r.status(), 401, "a replay after a restart");
    // A new nonce is taken, by either instance.
    let mut fresh = http
        .post(format!("{}/v1/dossiers", a.base_url))
        .json(&dossier("000.02.01.H37-261128-7302"))
        .build()
        .expect("request");
    sign_request(&mut fresh, &key, "mot-cua", now, "cluster-n-2");
    *fresh.url_mut() = format!("{}/v1/dossiers", b.base_url).parse().expect("url");
    fresh
        .headers_mut()
        .insert("host", host.parse().expect("host header"));
    let r = http.execute(fresh).await.expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    drop((a, b));
    db.drop_database().await;
}

/// A CRL past its `nextUpdate` no longer vouches that a certificate is not revoked: by default
/// a client certificate it covers is refused at the handshake, and the stale CRL is reported by
/// `/readyz`, the metrics and `lienthong certs check` (non-zero exit). A fresh CRL installed
/// and reloaded puts things right.
#[tokio::test]
async fn a_stale_crl_refuses_what_it_covers_and_is_reported() {
    let pki = Pki::new("Lienthong Test Root");
    let dir = tempfile::tempdir().expect("tempdir");
    let member = pki.leaf(
        "mot-cua.ninhbinh.gov.vn",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ClientAuth],
    );
    let now = time::OffsetDateTime::now_utc();
    let crl_path = dir.path().join("clients.crl");
    std::fs::write(
        &crl_path,
        pki.crl_between(&[], now - days(10), now - days(1)).as_ref(),
    )
    .expect("write CRL");
    let crl_line = format!("crls = [\"{}\"]", crl_path.display());
    let s = start_with(pki, dir, CLIENT_RULES, "", &crl_line).await;
    let url = format!("{}/v1/dossiers/000.02.01.H37-261128-7401", s.gw.base_url);
    let res = client(&s.pki, Some(&member)).get(&url).send().await;
    assert!(
        res.is_err(),
        "a certificate covered by a stale CRL is refused: {:?}",
        res.map(|r| r.status())
    );
    let (st, ready) = s.gw.get("/readyz").await;
    assert_eq!(st, 200, "{ready}");
    let stale = ready["crls_stale"].as_array().cloned().unwrap_or_default();
    assert_eq!(stale.len(), 1, "{ready}");
    assert_eq!(stale[0]["store"], "clients");
    assert!(
        stale[0]["issuer"]
            .as_str()
            .is_some_and(|i| i.contains("Lienthong Test Root")),
        "{ready}"
    );
    let metrics = s.gw.metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("lienthong_crl_next_update_seconds{") && l.contains("store=\"clients\"")
        })
        .unwrap_or_else(|| panic!("no CRL metric:\n{metrics}"));
    let value: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("value");
    assert!(value < -80_000.0, "a day past its nextUpdate: {line}");
    let config = s.dir.path().join("lienthong.toml");
    let (ok, out, err) = lienthong_tests::gateway_process::run_cli(&[
        "certs",
        "check",
        "--config",
        &config.display().to_string(),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("STALE"), "{out}");
    assert!(err.contains("1 CRL(s) past their nextUpdate"), "{err}");

    // A fresh CRL, reloaded: accepted, nothing stale.
    std::fs::write(&crl_path, s.pki.crl(&[]).as_ref()).expect("write CRL");
    s.gw.signal("HUP");
    s.gw.wait_for_log("certificates and trust stores reloaded", 1)
        .await;
    let r = client(&s.pki, Some(&member))
        .get(&url)
        .send()
        .await
        .expect("after a fresh CRL");
    assert_eq!(r.status(), 404, "authenticated, no such dossier");
    let (_, ready) = s.gw.get("/readyz").await;
    assert_eq!(ready["crls_stale"], serde_json::json!([]), "{ready}");
}
