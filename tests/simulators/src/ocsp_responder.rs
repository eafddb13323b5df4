//! A CA's OCSP responder on loopback: `openssl ocsp` serving a test CA's index over HTTP, behind
//! a counting TCP relay so tests can tell how often the gateway asked (OpenSSL's responder
//! answers one request per connection, so connections are requests).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lienthong_certs::testpki::openssl_responder::Responder;
use lienthong_certs::testpki::{Leaf, Pki};
use tokio::net::{TcpListener, TcpStream};

use crate::gateway_process::free_port;

/// A running responder; stopped when dropped.
pub struct OcspResponder {
    child: tokio::process::Child,
    relay: tokio::task::JoinHandle<()>,
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl OcspResponder {
    /// Starts `ca`'s responder signing with `signer` (`None`: the CA's own key), knowing each
    /// leaf of `index` (and whether it is revoked); its files go to `dir`. Answers are valid
    /// five minutes (`nextUpdate`).
    ///
    /// Panics when `openssl` cannot be started or does not listen within 10 s (tests only).
    pub async fn start(
        dir: &Path,
        ca: &Pki,
        signer: Option<&Leaf>,
        index: &[(&Leaf, bool)],
    ) -> Self {
        Self::start_at(0, dir, ca, signer, index).await
    }

    /// As [`OcspResponder::start`], reached at `http://127.0.0.1:port/` (a port chosen before the
    /// certificates naming it were issued; 0: any).
    pub async fn start_at(
        port: u16,
        dir: &Path,
        ca: &Pki,
        signer: Option<&Leaf>,
        index: &[(&Leaf, bool)],
    ) -> Self {
        let files = Responder::write(dir, ca, signer, index);
        let backend = free_port();
        let mut child = tokio::process::Command::new("openssl")
            .args(files.args())
            .args(["-port", &backend.to_string(), "-ignore_err"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl ocsp starts (apt-get install openssl)");
        // Ready when it says so. (A probe connection closed without a request would wedge
        // OpenSSL's single-connection responder.) Its output is drained for its whole life.
        let (ready, said) = tokio::sync::mpsc::unbounded_channel::<()>();
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let ready = ready.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("waiting for OCSP client connections") {
                        let _ = ready.send(());
                    }
                }
            });
        }
        let mut said = said;
        tokio::time::timeout(Duration::from_secs(10), said.recv())
            .await
            .expect("openssl ocsp listens within 10 s")
            .expect("openssl ocsp says it listens");
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let relay = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", backend)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            child,
            relay,
            port,
            requests,
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.relay.abort();
        let _ = self.child.start_kill();
    }
}
