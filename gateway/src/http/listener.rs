//! The accept loop: plain HTTP, or TLS with optional client certificates, in front of the axum
//! router, with graceful shutdown.
//!
//! `axum::serve` cannot terminate TLS, so connections are accepted here, the TLS handshake is
//! run with the configuration in force *at accept time* (a reload changes what new connections
//! get and leaves open ones alone), and each connection is handed to hyper with the peer's
//! address, whether it came over TLS, and its verified client certificate as request
//! extensions.
//!
//! Each connection is served by hyper's HTTP/1.1 connection (with a timer, so the header read
//! timeout applies to a request's head and to an idle keep-alive connection), or HTTP/2 when TLS
//! negotiated it (ALPN `h2`); the protocol is known before a byte is read, so no client can hold
//! a connection open by sending half a preface. [`crate::http::limits`] bounds connections, requests in
//! flight per address and the time a body may take.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use lienthong_certs::inspect::CertificateInfo;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::ConnectionLimits;
use crate::http::limits::{Activity, BodyBudget, BudgetedBody, DeadlineBody, PerClient};
use crate::trust::security::SecurityHandle;

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
    limits: ConnectionLimits,
    budget: Arc<BodyBudget>,
    shutdown: CancellationToken,
) {
    let connections = tokio_util::task::TaskTracker::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    let connections_per_client = Arc::new(PerClient::default());
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
        // Past the limit the connection is closed at once: the client learns at once, and the
        // kernel's backlog does not fill with connections nobody will read.
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("lienthong_connections_refused_total", "limit" => "server")
                .increment(1);
            tracing::debug!(%peer, "connection refused: server.max_connections reached");
            drop(stream);
            continue;
        };
        // One address holds at most its share, so one client cannot take every slot.
        let Some(address_slot) =
            connections_per_client.enter(peer.ip(), limits.max_connections_per_client)
        else {
            metrics::counter!("lienthong_connections_refused_total", "limit" => "client")
                .increment(1);
            tracing::debug!(%peer, "connection refused: server.max_connections_per_client reached");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let current = security.current();
        let tls = current.listener_tls.clone();
        let client_trust = current.listener_client_trust.clone();
        drop(current);
        let security = security.clone();
        let per_client = per_client.clone();
        let budget = budget.clone();
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slots = (slot, address_slot);
            let activity = Arc::new(Activity::default());
            let ctx = Served {
                app,
                peer,
                limits,
                per_client,
                activity: activity.clone(),
                budget,
            };
            let result = match tls {
                None => {
                    let svc = ctx.service(ConnectionInfo { tls: false }, None);
                    drive(
                        http1(&limits).serve_connection(TokioIo::new(stream), svc),
                        &shutdown,
                        None,
                    )
                    .await
                }
                Some(config) => {
                    let Some(stream) = handshake(config, stream, peer).await else {
                        return;
                    };
                    let Some(stream) =
                        check_revocation(stream, client_trust.as_deref(), &security, peer).await
                    else {
                        return;
                    };
                    let (_, session) = stream.get_ref();
                    let cert = peer_certificate(session.peer_certificates());
                    let h2 = session.alpn_protocol() == Some(b"h2");
                    let svc = ctx.service(ConnectionInfo { tls: true }, cert);
                    if h2 {
                        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                        b.timer(TokioTimer::new())
                            .keep_alive_interval(Some(limits.header_timeout))
                            .keep_alive_timeout(limits.header_timeout)
                            .max_concurrent_streams(
                                u32::try_from(limits.max_requests_per_client).unwrap_or(u32::MAX),
                            );
                        // hyper's HTTP/2 has no idle timeout: a client that only answers PINGs
                        // would hold its connection for ever.
                        drive(
                            b.serve_connection(TokioIo::new(stream), svc),
                            &shutdown,
                            Some((&activity, limits.header_timeout)),
                        )
                        .await
                    } else {
                        drive(
                            http1(&limits).serve_connection(TokioIo::new(stream), svc),
                            &shutdown,
                            None,
                        )
                        .await
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Serves one connection until it ends; at shutdown, or once it has been idle (no request in
/// flight) for the given time, it is closed gracefully: requests in flight finish, HTTP/2 sends
/// GOAWAY, HTTP/1 closes after the current response.
async fn drive<C: GracefulConnection>(
    conn: C,
    shutdown: &CancellationToken,
    idle: Option<(&Arc<Activity>, Duration)>,
) -> Result<(), C::Error> {
    tokio::pin!(conn);
    let idle_wait = async {
        match idle {
            Some((activity, limit)) => activity.idle_for(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(idle_wait);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => return result,
            () = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = &mut idle_wait, if !closing => {
                metrics::counter!("lienthong_idle_connections_closed_total").increment(1);
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
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

/// Under an OCSP policy of the client trust store, asks the client certificate's CA whether it
/// is revoked before a byte of a request is read; a refused certificate ends the connection
/// (counted with the handshake failures and logged). rustls verifies client certificates
/// synchronously inside the handshake, where a network call cannot be made; in TLS 1.3 the
/// server judges the client's certificate after its own last handshake flight anyway, so the
/// client sees the same thing: the connection closed before any request is served.
async fn check_revocation(
    mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    trust: Option<&lienthong_certs::trust::TrustStore>,
    security: &SecurityHandle,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let Some(trust) = trust.filter(|t| t.revocation().policy.uses_ocsp()) else {
        return Some(stream);
    };
    let chain = match stream.get_ref().1.peer_certificates() {
        Some([leaf, rest @ ..]) => (leaf.clone().into_owned(), rest.to_vec()),
        _ => return Some(stream),
    };
    let checked = security
        .revocation()
        .verify(
            trust,
            &chain.0,
            &chain.1,
            lienthong_certs::trust::Purpose::TlsClient,
        )
        .await;
    match checked {
        Ok(_) => Some(stream),
        Err(e) => {
            metrics::counter!("lienthong_tls_handshake_failures_total").increment(1);
            tracing::info!(%peer, error = %e, "TLS client certificate refused after the handshake");
            use tokio::io::AsyncWriteExt;
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
            None
        }
    }
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

/// hyper's HTTP/1.1 connection builder with the header read timeout (which also closes idle
/// keep-alive connections).
fn http1(limits: &ConnectionLimits) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    b
}

/// What every request of a connection shares.
struct Served {
    app: Router,
    peer: SocketAddr,
    limits: ConnectionLimits,
    per_client: Arc<PerClient>,
    activity: Arc<Activity>,
    budget: Arc<BodyBudget>,
}

impl Served {
    fn service(
        self,
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
        let Self {
            app,
            peer,
            limits,
            per_client,
            activity,
            budget,
        } = self;
        let svc = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let active = activity.start();
            let slot = per_client.enter(peer.ip(), limits.max_requests_per_client);
            // The body is counted against the memory budget from its first byte (its announced
            // length before any is read) until the answer is produced.
            // A route with a budget of its own (edXML documents: exchange.memory_budget, which
            // also counts their parsing) is counted there instead.
            let allowance = budget.allowance(peer.ip());
            let announced = crate::http::body::announced_length(req.headers());
            let own_budget = crate::http::has_own_budget(req.uri().path());
            let mut req = req.map(|b| {
                let b = DeadlineBody::new(b, &limits);
                if own_budget {
                    axum::body::Body::new(b)
                } else {
                    axum::body::Body::new(BudgetedBody::new(b, allowance.clone(), announced))
                }
            });
            let ext = req.extensions_mut();
            ext.insert(allowance.clone());
            ext.insert(ConnectInfo(peer));
            ext.insert(conn);
            if let Some(c) = &cert {
                ext.insert(c.clone());
            }
            let app = app.clone();
            async move {
                let _held = (active, allowance);
                let Some(_slot) = slot else {
                    metrics::counter!("lienthong_requests_refused_total").increment(1);
                    return Ok(too_many_requests());
                };
                app.oneshot(req).await
            }
        });
        hyper_util::service::TowerToHyperService::new(svc)
    }
}

/// 429: the client address has `server.max_requests_per_client` requests in flight.
fn too_many_requests() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut r = crate::http::problem::Problem::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
        "Too many requests in flight from this address",
        "wait for the requests in flight to finish (server.max_requests_per_client)",
    )
    .into_response();
    r.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    r
}
