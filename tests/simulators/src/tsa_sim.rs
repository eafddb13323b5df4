//! A local RFC 3161 time-stamping authority for the audit tests: a real HTTP server on loopback
//! whose answers are made by `openssl ts -reply` with a TSA certificate made by `openssl req`
//! (critical `extendedKeyUsage=timeStamping`). It can be switched off (503) to play an outage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

struct Shared {
    dir: PathBuf,
    down: AtomicBool,
    served: AtomicU32,
    refused: AtomicU32,
    turn: AtomicU32,
}

/// The running authority.
pub struct TsaSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The TSA certificate (PEM), to configure as `[audit.tsa] certificate`.
    pub certificate: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> std::io::Result<()> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

const CONFIG: &str = "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = ./serial\n\
crypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.3.6.1.4.1.99999.1\n\
digests = sha256\naccuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\n\
ess_cert_id_alg = sha256\n";

impl TsaSim {
    /// Makes the TSA's key and certificate in `dir` and starts serving on `127.0.0.1:0`.
    ///
    /// Errors: openssl is missing or failed, or the port cannot be bound.
    pub async fn start(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Lienthong Test TSA",
                "-addext",
                "extendedKeyUsage=critical,timeStamping",
                "-addext",
                "keyUsage=critical,digitalSignature",
                "-addext",
                "basicConstraints=critical,CA:false",
            ],
        )?;
        std::fs::write(dir.join("serial"), "01\n")?;
        std::fs::write(dir.join("tsa.cnf"), CONFIG)?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            down: AtomicBool::new(false),
            served: AtomicU32::new(0),
            refused: AtomicU32::new(0),
            turn: AtomicU32::new(0),
        });
        let app = Router::new()
            .route("/", post(stamp))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            certificate: dir.join("tsa.pem"),
        })
    }

    /// Where to POST requests.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Switches the outage on or off.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Tokens issued.
    pub fn served(&self) -> u32 {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// Requests refused during an outage.
    pub fn refused(&self) -> u32 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

async fn stamp(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    if s.down.load(Ordering::SeqCst) {
        s.refused.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let n = s.turn.fetch_add(1, Ordering::SeqCst);
    let (query, reply) = (format!("q{n}.tsq"), format!("r{n}.tsr"));
    let dir = s.dir.clone();
    let made = tokio::task::spawn_blocking(move || {
        std::fs::write(dir.join(&query), &body)?;
        openssl(
            &dir,
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                &query,
                "-inkey",
                "tsa.key",
                "-signer",
                "tsa.pem",
                "-out",
                &reply,
            ],
        )?;
        std::fs::read(dir.join(&reply))
    })
    .await;
    match made {
        Ok(Ok(bytes)) => {
            s.served.fetch_add(1, Ordering::SeqCst);
            ([("content-type", "application/timestamp-reply")], bytes).into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
