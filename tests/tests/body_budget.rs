//! Security III, item 2: no byte is read before the caller could be refused, and every byte
//! read has a budget (issue 25). Before, 24 concurrent 30 MiB pushes to an unconfigured source
//! took the gateway from 28 MiB to 547 MiB before each was answered 403, and a signed route
//! buffered a whole body before looking at its signature.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use bytes::Bytes;
use lienthong_certs::httpsig::{
    self, ComponentId, HmacSecret, Message, SignatureParams, SigningKey,
};
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port, rss_kib};
use lienthong_tests::pushers::{PAYMENT_SECRET, payment_confirmation};
use serde_json::Value;
use time::OffsetDateTime;

const MIB: usize = 1024 * 1024;
/// The gateway's peak resident memory may not pass this during the floods (issue 25).
const MAX_PEAK_KIB: u64 = 150 * 1024;

/// A client whose connections come from `source` (a loopback address of its own, so the
/// gateway sees another client).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("address"))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// `n` concurrent posts of `body` to `url`: their statuses (`None`: the connection was closed
/// before an answer, which is how a server that stops reading may end it).
async fn flood(client: &reqwest::Client, url: &str, body: &Bytes, n: usize) -> Vec<Option<u16>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (c, u, b) = (client.clone(), url.to_owned(), body.clone());
        set.spawn(async move {
            c.post(u)
                .header("content-type", "application/json")
                .body(b)
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("task"));
    }
    out
}

fn peak_kib(gw: &Gateway) -> u64 {
    rss_kib(gw.pid().expect("running"), "VmHWM:")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn floods_of_large_pushes_are_bounded_and_a_real_push_gets_in() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    // The payment platform is configured; DVCQG's pushes are not (no SecurityKey).
    let mut config = TestConfig::default().render(dir.path(), free_port(), &sim);
    config.push_str(&format!(
        "\n[callbacks]\n[callbacks.payment]\nsecret = \"{PAYMENT_SECRET}\"\n"
    ));
    let gw = Gateway::start(dir.path(), &config).await;
    let before = peak_kib(&gw);
    let base = gw.base_url.clone();

    // 24 × 30 MiB to the unconfigured source, from one address, and 24 × 30 MiB of junk that
    // has to be read to be judged (the payment platform's key is inside the body), from
    // another: all at once.
    let junk = Bytes::from(format!(
        "{{\"MaThamChieu\":\"{}\"}}",
        "x".repeat(30 * MIB - 20)
    ));
    let unknown = client_from("127.0.0.2");
    let reader = client_from("127.0.0.3");
    let (dvcqg_url, payment_url) = (
        format!("{base}/v1/callbacks/dvcqg"),
        format!("{base}/v1/callbacks/payment"),
    );
    let (to_unknown, to_payment, legit) = tokio::join!(
        flood(&unknown, &dvcqg_url, &junk, 24),
        flood(&reader, &payment_url, &junk, 24),
        async {
            // A legitimate, signed confirmation during the flood (the platform's own address).
            tokio::time::sleep(Duration::from_millis(300)).await;
            let paid = payment_confirmation(
                "000.02.01.H37-261207-0001",
                "GD-FLOOD-1",
                50_000,
                "00",
                OffsetDateTime::now_utc(),
                PAYMENT_SECRET,
            );
            let r = client_from("127.0.0.1")
                .post(format!("{base}/v1/callbacks/payment"))
                .json(&paid)
                .send()
                .await
                .expect("the legitimate push is answered");
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    );
    assert_eq!(legit.0, 200, "the real push was not taken: {}", legit.1);
    assert_eq!(legit.1["MaLoi"], "00", "{}", legit.1);
    assert!(
        to_unknown.iter().all(|s| matches!(s, None | Some(403))),
        "{to_unknown:?}"
    );
    assert!(
        to_payment
            .iter()
            .all(|s| matches!(s, None | Some(400 | 401 | 503))),
        "{to_payment:?}"
    );
    assert!(
        to_payment.contains(&Some(503)),
        "the budget never said 503: {to_payment:?}"
    );
    let peak = peak_kib(&gw);
    eprintln!(
        "peak RSS {} MiB ({} MiB before the floods); refused unread {:?}, read or 503 {:?}",
        peak / 1024,
        before / 1024,
        to_unknown,
        to_payment
    );
    assert!(
        peak < MAX_PEAK_KIB,
        "peak RSS {} MiB (was {} MiB before the floods)",
        peak / 1024,
        before / 1024
    );
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("lienthong_body_budget_refused_total"),
        "refusals are counted"
    );
}

/// What the head can refuse is refused before the body is read: a body announced over the
/// limit, and on a signed route a missing signature or an unknown key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signed_route_knows_its_caller_before_reading_the_body() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let secret = [7u8; 32];
    let secret_file = dir.path().join("mot-cua.key");
    std::fs::write(
        &secret_file,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret),
    )
    .expect("secret");
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).expect("mode");
    let config = TestConfig {
        server_extra: format!(
            "[[server.signed_routes]]\npath_prefix = \"/v1/dossiers\"\nkeys = [{{ keyid = \"mot-cua\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}]\n",
            secret_file.display()
        ),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    let url = format!("{}/v1/dossiers", gw.base_url);
    let before = peak_kib(&gw);

    // 24 × 9 MiB (under server.max_body): unsigned, and signed by an unknown key.
    let big = Bytes::from(vec![b' '; 9 * MIB]);
    let attacker = client_from("127.0.0.4");
    let unsigned = flood(&attacker, &url, &big, 24).await;
    assert!(
        unsigned.iter().all(|s| matches!(s, None | Some(401))),
        "{unsigned:?}"
    );
    let key = SigningKey::Hmac(HmacSecret::new(b"another key entirely".to_vec()));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let mut req = attacker
            .post(&url)
            .header("content-type", "application/json")
            .body(big.clone())
            .build()
            .expect("request");
        sign(&mut req, &big, &key, "stranger", &format!("x-{i}"));
        let c = attacker.clone();
        set.spawn(async move { c.execute(req).await.ok().map(|r| r.status().as_u16()) });
    }
    while let Some(s) = set.join_next().await {
        let s = s.expect("task");
        assert!(matches!(s, None | Some(401)), "{s:?}");
    }
    let peak = peak_kib(&gw);
    assert!(
        peak < before + 64 * 1024,
        "refused bodies were read into memory: peak {} MiB, {} MiB before",
        peak / 1024,
        before / 1024
    );

    // The real one-stop system, signing with its key: taken.
    let dossier = example("dossier-business-registration.json");
    let body = Bytes::from(serde_json::to_vec(&dossier).expect("json"));
    let mut req = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .build()
        .expect("request");
    let key = SigningKey::Hmac(HmacSecret::new(secret.to_vec()));
    sign(&mut req, &body, &key, "mot-cua", "legit-1");
    let r = reqwest::Client::new().execute(req).await.expect("send");
    assert_eq!(
        r.status().as_u16(),
        202,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

fn sign(req: &mut reqwest::Request, body: &[u8], key: &SigningKey, keyid: &str, nonce: &str) {
    let digest = lienthong_certs::content_digest(body, lienthong_certs::DigestAlgorithm::Sha256);
    req.headers_mut()
        .insert("content-digest", digest.parse().expect("header"));
    let (method, url) = (
        req.method().as_str().to_owned(),
        req.url().as_str().to_owned(),
    );
    let params = SignatureParams {
        components: vec![
            ComponentId::new("@method"),
            ComponentId::new("@target-uri"),
            ComponentId::new("content-digest"),
        ],
        created: Some(OffsetDateTime::now_utc().unix_timestamp()),
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

/// The budget is shared by every client address up to its share: a client holding its share
/// gets 503 with Retry-After, nothing read, while another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_holds_at_most_its_share_of_the_budget() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let config = TestConfig {
        server_extra: "max_body = \"4MiB\"\nmax_body_memory = \"8MiB\"\nmax_body_memory_per_client = \"4MiB\"\nmin_body_rate = \"1B\"\nbody_timeout = \"30s\"".into(),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    let addr: SocketAddr = gw
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let center = gw.center_token.clone().expect("center token");
    // One client announces 4 MiB and sends it slowly: it holds its whole share.
    let slow = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind("127.0.0.5:0".parse().expect("addr"))
            .expect("bind");
        let mut s = sock.connect(addr).await.expect("connect");
        let head = format!(
            "POST /v1/dossiers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {center}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            4 * MIB
        );
        s.write_all(head.as_bytes()).await.expect("head");
        for _ in 0..20 {
            s.write_all(b" ").await.expect("byte");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        s
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The same address again: its share is held, 503 before a byte is read.
    let same = client_from("127.0.0.5");
    let r = gw
        .center(same.post(format!("{}/v1/dossiers", gw.base_url)))
        .json(&example("dossier-business-registration.json"))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let p: Value = r.json().await.expect("problem");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("server.max_body_memory"),
        "{p}"
    );
    // Another address: served.
    let (status, body) = gw
        .post(
            "/v1/dossiers",
            &example("dossier-business-registration.json"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    slow.abort();
}
