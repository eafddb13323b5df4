//! Security III, item 3: connections that never end (issue 25). HTTP/2 had keep-alive pings and
//! no idle timeout, so a client that only answers PINGs kept its connection for ever (5 of 5
//! still open after 26 s while HTTP/1 closed at 10 s), and the connection cap was global, so
//! one client could hold every slot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_certs::testpki::Pki;
use lienthong_certs::tls::MinVersion;
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, free_port};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use tokio::io::AsyncReadExt;

struct Tls {
    pki: Pki,
    _sim: DvcqgSim,
    _dir: tempfile::TempDir,
    gw: Gateway,
    port: u16,
}

/// A gateway serving HTTPS (ALPN h2 and http/1.1) with `extra` in `[server]`.
async fn start(extra: &str) -> Tls {
    let pki = Pki::new("Lienthong Test Root");
    let dir = tempfile::tempdir().expect("dir");
    let server = pki.leaf(
        "localhost",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[Eku::ServerAuth],
    );
    let (cert, key) = server.write(dir.path(), "server");
    let sim = DvcqgSim::start().await.expect("sim");
    let port = free_port();
    let text = TestConfig {
        server_extra: format!(
            "{extra}\n\n[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..TestConfig::default()
    }
    .render(dir.path(), port, &sim);
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA")])
        .build()
        .expect("client");
    let gw = Gateway::start_tls(dir.path(), &text, client).await;
    Tls {
        pki,
        _sim: sim,
        _dir: dir,
        gw,
        port,
    }
}

/// An HTTP/2 connection (h2 over TLS); the h2 client answers the server's PINGs by itself and
/// sends nothing else. The handle ends when the server closes the connection.
async fn h2_connection(
    t: &Tls,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<()>,
) {
    let store = Arc::new(t.pki.store("test"));
    let config =
        lienthong_certs::tls::client_config(&store, None, MinVersion::Tls12).expect("config");
    assert!(config.alpn_protocols.contains(&b"h2".to_vec()));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", t.port))
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    let handle = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, handle)
}

/// One GET `/healthz` on the connection; its status.
async fn healthz(send: &mut h2::client::SendRequest<bytes::Bytes>) -> u16 {
    let req = http::Request::get("https://localhost/healthz")
        .body(())
        .expect("request");
    let mut ready = send.clone().ready().await.expect("ready");
    let (resp, _) = ready.send_request(req, true).expect("send");
    resp.await.expect("response").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_like_an_http1_one() {
    let t = start("header_timeout = \"2s\"").await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let (mut send, conn) = h2_connection(&t).await;
        assert_eq!(healthz(&mut send).await, 200);
        held.push((send, conn));
    }
    let opened = Instant::now();
    // The server pings every 2 s and the client answers: only requests count as activity.
    let closed = async {
        for (_, conn) in &mut held {
            conn.await.expect("connection task");
        }
    };
    let waited = tokio::time::timeout(Duration::from_secs(15), closed).await;
    assert!(
        waited.is_ok(),
        "HTTP/2 connections answering only PINGs still open after 15 s"
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(1500),
        "closed before the idle time: {:?}",
        opened.elapsed()
    );
    assert!(
        t.gw.metrics()
            .await
            .contains("lienthong_idle_connections_closed_total"),
        "idle closes are counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_has_a_cap_on_concurrent_streams() {
    let t = start("max_requests_per_client = 4").await;
    let (mut send, _conn) = h2_connection(&t).await;
    // After the first exchange the server's SETTINGS are known.
    assert_eq!(healthz(&mut send).await, 200);
    assert_eq!(send.current_max_send_streams(), 4);
}

/// A client address holds at most its share of the connections; another is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let text = TestConfig {
        server_extra:
            "max_connections = 16\nmax_connections_per_client = 3\nheader_timeout = \"20s\"".into(),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let gw = Gateway::start(dir.path(), &text).await;
    let addr: SocketAddr = gw
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let from = |ip: &str| {
        let ip = ip.to_owned();
        async move {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.bind(format!("{ip}:0").parse().expect("addr"))
                .expect("bind");
            sock.connect(addr).await.expect("connect")
        }
    };
    // Three idle connections from one address: held (nothing sent yet, within header_timeout).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(from("127.0.0.7").await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Its fourth is closed at once.
    let mut fourth = from("127.0.0.7").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), fourth.read(&mut buf))
        .await
        .expect("closed at once, not left waiting")
        .unwrap_or(0);
    assert_eq!(n, 0, "the fourth connection was served");
    // The held ones are still open (a read would wait), and another address is served.
    for s in &mut held {
        assert!(
            tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf))
                .await
                .is_err(),
            "a held connection was closed"
        );
    }
    let (status, _) = gw.get("/v1/deliveries").await;
    assert_eq!(status, 200);
    let metrics = gw.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("lienthong_connections_refused_total{limit=\"client\"}")),
        "{metrics}"
    );
}
