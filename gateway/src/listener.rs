//! The accept loop: plain HTTP, or TLS with optional client certificates, in front of the axum
//! router, with graceful shutdown.
//!
//! `axum::serve` cannot terminate TLS, so connections are accepted here, the TLS handshake is
//! run with the configuration in force *at accept time* (a reload changes what new connections
//! get and leaves open ones alone), and each connection is handed to hyper with the peer's
//! address, whether it came over TLS, and its verified client certificate as request
//! extensions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use lienthong_certs::inspect::CertificateInfo;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::security::SecurityHandle;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The client certificate a TLS peer presented (already verified against the client trust
/// store during the handshake).
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    /// The chain as presented, leaf first.
    pub chain: Arc<Vec<CertificateDer<'static>>>,
    /// What the leaf says.
    pub info: Arc<CertificateInfo>,
}

/// How the request's connection was made.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    /// The connection is TLS.
    pub tls: bool,
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops accepting and waits (up
/// to 15 s) for open connections to finish.
///
/// Errors: none from individual connections (they are logged); accept errors are logged and
/// retried after a short pause, so a file-descriptor shortage does not end the server.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    security: Arc<SecurityHandle>,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let tls = security.current().listener_tls.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            match tls {
                None => {
                    let svc = service(app, peer, ConnectionInfo { tls: false }, None);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                Some(config) => {
                    let Some(stream) = handshake(config, stream, peer).await else {
                        return;
                    };
                    let cert = peer_certificate(stream.get_ref().1.peer_certificates());
                    let svc = service(app, peer, ConnectionInfo { tls: true }, cert);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Runs the TLS handshake with a time limit; `None` (counted and logged) when it fails.
async fn handshake(
    config: Arc<rustls::ServerConfig>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let failure = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => return Some(s),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_string(),
    };
    metrics::counter!("lienthong_tls_handshake_failures_total").increment(1);
    tracing::info!(%peer, error = failure, "TLS handshake refused");
    None
}

fn peer_certificate(chain: Option<&[CertificateDer<'_>]>) -> Option<PeerCertificate> {
    let chain = chain?;
    let leaf = chain.first()?;
    let info = CertificateInfo::from_der(leaf).ok()?;
    Some(PeerCertificate {
        chain: Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect()),
        info: Arc::new(info),
    })
}

fn service(
    app: Router,
    peer: SocketAddr,
    conn: ConnectionInfo,
    cert: Option<PeerCertificate>,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
        http::Request<hyper::body::Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
> {
    let svc = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        let ext = req.extensions_mut();
        ext.insert(ConnectInfo(peer));
        ext.insert(conn);
        if let Some(c) = &cert {
            ext.insert(c.clone());
        }
        app.clone().oneshot(req)
    });
    hyper_util::service::TowerToHyperService::new(svc)
}
