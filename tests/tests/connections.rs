//! Connection handling through the real binary (issue "Security II", item 3): slow and idle
//! clients are timed out and cannot take the gateway's connections, requests or memory from
//! others; an oversized body gets its 413 even from a client that writes it all before reading.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};

async fn gateway(dir: &std::path::Path, server_extra: &str) -> Gateway {
    let sim = DvcqgSim::start().await.expect("sim");
    let config = TestConfig {
        server_extra: server_extra.to_owned(),
        ..TestConfig::default()
    }
    .render(dir, free_port(), &sim);
    // The simulator outlives the test's use of it: it is not needed after intake.
    std::mem::forget(sim);
    Gateway::start(dir, &config).await
}

fn addr(gw: &Gateway) -> String {
    gw.base_url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `limit` passes: what was read, and whether
/// it was closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset after the answer is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
        if start.elapsed() > limit {
            return (got, false);
        }
    }
}

#[tokio::test]
async fn a_half_sent_request_line_is_closed_within_the_header_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let gw = gateway(dir.path(), "header_timeout = \"1s\"").await;
    let target = addr(&gw);
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&target).expect("connect");
        s.write_all(b"POST /v1/doss").expect("write");
        let start = Instant::now();
        let (_, closed) = read_until_closed(&mut s, Duration::from_secs(10));
        (closed, start.elapsed())
    })
    .await
    .expect("client");
    assert!(closed.0, "still open after 10 s");
    assert!(
        closed.1 < Duration::from_secs(5),
        "closed after {:?}",
        closed.1
    );

    // An idle keep-alive connection is closed the same way.
    let target = addr(&gw);
    let idle = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&target).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("write");
        let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(10));
        (String::from_utf8_lossy(&answer).into_owned(), closed)
    })
    .await
    .expect("client");
    assert!(idle.0.starts_with("HTTP/1.1 200"), "{}", idle.0);
    assert!(idle.1, "an idle keep-alive connection stayed open");
}

#[tokio::test]
async fn two_thousand_idle_connections_do_not_stop_a_request() {
    let dir = tempfile::tempdir().expect("dir");
    let gw = gateway(dir.path(), "").await;
    let target: std::net::SocketAddr = addr(&gw).parse().expect("address");
    // From four addresses of their own, 500 each (one address may hold an eighth of
    // server.max_connections, 512).
    let mut idle = Vec::new();
    for i in 0..2000 {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind(format!("127.0.1.{}:0", 10 + i % 4).parse().expect("addr"))
            .expect("bind");
        idle.push(sock.connect(target).await.expect("connect"));
    }
    // Half of them have started a request and stopped.
    for s in idle.iter_mut().step_by(2) {
        use tokio::io::AsyncWriteExt;
        s.write_all(b"GET /v1/sch").await.expect("write");
    }
    let client = reqwest::Client::new();
    let start = Instant::now();
    let r = client
        .get(format!("{}/healthz", gw.base_url))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served beside 2,000 idle connections");
    let took = start.elapsed();
    assert_eq!(r.status().as_u16(), 200);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let (status, body) = gw
        .post(
            "/v1/dossiers",
            &example("dossier-business-registration.json"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    drop(idle);
}

#[tokio::test]
async fn connections_past_max_connections_are_closed_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    // One address may hold them all here: the global cap is what is tried.
    let gw = gateway(
        dir.path(),
        "max_connections = 20\nmax_connections_per_client = 20",
    )
    .await;
    let target = addr(&gw);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&target).expect("connect"));
    }
    // Give the accept loop time to take them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(&target).expect("connect");
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        read_until_closed(&mut s, Duration::from_secs(5))
    })
    .await
    .expect("client");
    assert!(
        refused.1 && refused.0.is_empty(),
        "the 21st connection was served: {:?}",
        String::from_utf8_lossy(&refused.0)
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = gw.get("/healthz").await;
    assert_eq!(status, 200, "served again once connections closed");
    assert!(
        gw.metrics()
            .await
            .contains("lienthong_connections_refused_total"),
        "counted"
    );
}

/// Sends a request with `declared` Content-Length (or chunked when `None`) and `body`, writing
/// everything before reading, as Python's urllib does: the answer's first line.
fn blocking_post(target: &str, token: &str, declared: Option<usize>, body: &[u8]) -> String {
    let mut s = TcpStream::connect(target).expect("connect");
    let head = match declared {
        Some(n) => format!(
            "POST /v1/dossiers HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n"
        ),
        None => format!(
            "POST /v1/dossiers HTTP/1.1\r\nHost: {target}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
    };
    s.write_all(head.as_bytes()).expect("head");
    let write = match declared {
        Some(_) => s.write_all(body),
        None => body.chunks(64 * 1024).try_for_each(|c| {
            s.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
            s.write_all(c)?;
            s.write_all(b"\r\n")
        }),
    };
    let write = write.and_then(|()| {
        if declared.is_none() {
            s.write_all(b"0\r\n\r\n")
        } else {
            Ok(())
        }
    });
    assert!(
        write.is_ok(),
        "the gateway stopped reading mid-body: {write:?}"
    );
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_oversized_body_gets_its_413_while_the_client_still_writes() {
    let dir = tempfile::tempdir().expect("dir");
    let gw = gateway(dir.path(), "max_body = \"1MiB\"").await;
    let body = vec![b' '; 2 * 1024 * 1024];
    for declared in [Some(body.len()), None] {
        let target = addr(&gw);
        let body = body.clone();
        let token = gw.center_token.clone().expect("center token");
        let first =
            tokio::task::spawn_blocking(move || blocking_post(&target, &token, declared, &body))
                .await
                .expect("client");
        assert!(first.starts_with("HTTP/1.1 413"), "{declared:?}: {first:?}");
    }
}

#[tokio::test]
async fn slow_senders_are_timed_out_and_limited_per_client() {
    let dir = tempfile::tempdir().expect("dir");
    let gw = gateway(
        dir.path(),
        "body_timeout = \"1s\"\nmin_body_rate = \"1KiB\"\nmax_requests_per_client = 3",
    )
    .await;
    // Three requests in flight, each announcing 100 KiB and sending a trickle.
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr(&gw)).expect("connect");
        s.write_all(format!("POST /v1/dossiers HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 102400\r\n\r\n{{", addr(&gw), gw.center_token.as_deref().unwrap_or_default()).as_bytes())
            .expect("head");
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The fourth from the same address is told to wait.
    let r = reqwest::Client::new()
        .get(format!("{}/v1/schema/dossier", gw.base_url))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // The slow bodies are cut: 408 (or closed) within the body deadline.
    let answers = tokio::task::spawn_blocking(move || {
        slow.into_iter()
            .map(|mut s| {
                let start = Instant::now();
                let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(10));
                (
                    String::from_utf8_lossy(&answer)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    closed,
                    start.elapsed(),
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("clients");
    for (first, closed, took) in answers {
        assert!(closed, "a slow sender kept its connection");
        assert!(took < Duration::from_secs(5), "cut after {took:?}");
        assert!(
            first.is_empty() || first.starts_with("HTTP/1.1 408"),
            "{first:?}"
        );
    }
    let (status, _) = gw.get("/v1/schema/dossier").await;
    assert_eq!(status, 200, "the address is served again");
}

/// On `/v1/exchange`, a sender that announces a large document and trickles it cannot hold the
/// memory budget: its share is its own (other peers' documents still come in), and it is cut
/// (408) after the body deadline, giving the budget back.
#[tokio::test]
async fn a_slow_exchange_sender_holds_neither_the_budget_nor_its_connection() {
    use lienthong_certs::tls::{Identity, MinVersion};
    use lienthong_tests::two_level::{dossier, files, province_and_commune};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = lienthong_tests::file_server::FileServer::start(files.clone())
        .await
        .expect("files");
    // The commune: a 1 MiB document may take the whole 4 MiB budget (4 × its size); each
    // sender half of it; a document must come at 64 KiB/s after 1 s.
    let c = commune
        .start_with_env(
            &commune.config(&province, &province.exchange_url(), ""),
            &[
                ("LIENTHONG_EXCHANGE__MAX_BODY", "1MiB"),
                ("LIENTHONG_EXCHANGE__MEMORY_BUDGET", "4MiB"),
                ("LIENTHONG_EXCHANGE__BODY_TIMEOUT", "1s"),
                ("LIENTHONG_EXCHANGE__MIN_BODY_RATE", "64KiB"),
            ],
        )
        .await;
    let p = province
        .start(&province.config(&commune, &commune.exchange_url(), &store.attachments_toml()))
        .await;

    // Another client of the province's CA (another peer's certificate) trickles a document.
    let dir = tempfile::tempdir().expect("dir");
    let leaf = province.pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[rcgen::ExtendedKeyUsagePurpose::ClientAuth],
    );
    let (cert, key) = leaf.write(dir.path(), "slow");
    let identity = Identity::load(&cert, &key).expect("identity");
    let mut config = lienthong_certs::tls::client_config(
        &std::sync::Arc::new(commune.pki.store("commune")),
        Some(&identity),
        MinVersion::Tls12,
    )
    .expect("client config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", commune.port))
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut slow = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    let started = Instant::now();
    slow.write_all(b"POST /v1/exchange HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\nContent-Length: 1048576\r\n\r\n<")
        .await
        .expect("head");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Meanwhile the province's dossier goes through (its share is its own).
    let code = "000.02.01.H37-261204-0801";
    let (status, body) = p.post("/v1/dossiers", &dossier(code, &store, &files)).await;
    assert_eq!(status, 202, "{body}");
    p.wait_deliveries(
        Duration::from_secs(20),
        "delivered beside the slow sender",
        |ds| {
            ds.iter()
                .any(|d| d["dossier_code"] == code && d["state"] == "delivered")
        },
    )
    .await;

    // The trickler is cut with a 408 within the deadline.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    let first = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(first.starts_with("HTTP/1.1 408"), "{first:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "cut after {:?}",
        started.elapsed()
    );
    drop(c);
}
