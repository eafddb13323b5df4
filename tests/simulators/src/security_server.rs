//! An X-Road Security Server as an information system sees it (PR-REST, protocol `r1`,
//! `../shared/formats/xroad-rest.md`), strict about what it accepts, forwarding to the portal
//! simulators.
//!
//! It plays both Security Servers of a call at once (the consumer's and the provider's): a
//! request `{METHOD} /r1/{serviceId}[/path][?query]` with `X-Road-Client` is checked (path
//! grammar, each identifier part percent-encoded on its own, the client registered here and
//! allowed the service), forwarded to the service's provider URL + path + query with the X-Road
//! headers a provider receives, and answered with the provider's answer plus `X-Road-Client`,
//! `X-Road-Service`, `X-Road-Id`, `X-Road-Request-Id` and `X-Road-Request-Hash`.
//! Errors come as a Security Server sends them: `X-Road-Error` and a JSON body
//! `{type, message, detail}` — 400 `Client.BadRequest` for a call that breaks the protocol, 500
//! `Server.*` otherwise (`Server.ServerProxy.NetworkError` when the provider cannot be reached).
//!
//! Identifier parts follow X-Road's own rule, stricter than PR-REST: besides the per-part
//! percent-encoding, a decoded part may not hold `:`, `;`, `\` or a control character.
//!
//! The request hash is computed here from the request as received, independently of the
//! gateway's code: SHA-512 over `METHOD CRLF path?query CRLF` and one `name: value CRLF` per
//! header in the order received (without the hop-by-hop headers, `Host`, `User-Agent`,
//! `Server`, `Content-Length`, `Expect` and the two request-id/hash headers), then
//! `x-road-request-id: {id} CRLF`; with a body, SHA-512 of (that hash + SHA-512 of the body).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use tokio::net::TcpListener;

/// Longest request URI accepted (PR-REST suggests the common 2000 characters).
const MAX_URI: usize = 2000;
/// Largest request body forwarded.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Not forwarded either way, and not hashed.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "user-agent",
    "server",
    "content-length",
    "expect",
];

/// One call as the Security Server saw it.
#[derive(Debug, Clone)]
pub struct XRoadCall {
    /// The method.
    pub method: String,
    /// The path and query as received.
    pub target: String,
    /// `X-Road-Client` as received.
    pub client: Option<String>,
    /// `X-Road-Id` as received.
    pub id: Option<String>,
    /// `X-Road-Issue` as received.
    pub issue: Option<String>,
    /// The `X-Road-Error` type answered, if any.
    pub error: Option<String>,
    /// The provider URL the call was forwarded to.
    pub forwarded_to: Option<String>,
    /// The `X-Road-Request-Id` answered.
    pub request_id: Option<String>,
    /// The `X-Road-Request-Hash` answered.
    pub request_hash: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Client subsystems registered on this Security Server (decoded, `/`-joined).
    clients: BTreeSet<String>,
    /// Services by decoded id: provider URL and the clients allowed to call it.
    services: BTreeMap<String, (String, BTreeSet<String>)>,
    calls: Vec<XRoadCall>,
    /// The next so many forwards find the provider unreachable.
    provider_down: u32,
    /// The next answer carries a request hash that is not the request's.
    tamper_hash: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    /// The client that reaches providers (with this Security Server's TLS identity, if any).
    forward: reqwest::Client,
}

/// The simulator. Clones share state.
#[derive(Clone)]
pub struct SecurityServerSim {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl SecurityServerSim {
    /// Starts over plain HTTP (connection type `HTTP`), forwarding with a default client.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_inner(None, plain_client()).await
    }

    /// Starts over plain HTTP, reaching providers with `forward` (the member's own Security
    /// Server relaying to this center's gateway with its TLS client certificate).
    ///
    /// Errors: the port cannot be bound.
    pub async fn start_forwarding_with(forward: reqwest::Client) -> std::io::Result<Self> {
        Self::start_inner(None, forward).await
    }

    /// Starts over HTTPS with `tls` (connection type `HTTPS_NO_AUTH`, or `HTTPS` when `tls`
    /// requires client certificates), forwarding with `forward` (a client holding this Security
    /// Server's own certificate where the provider asks for one). Its URL is
    /// `https://localhost:PORT`.
    ///
    /// Errors: the port cannot be bound.
    pub async fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        forward: reqwest::Client,
    ) -> std::io::Result<Self> {
        Self::start_inner(Some(tls), forward).await
    }

    async fn start_inner(
        tls: Option<Arc<rustls::ServerConfig>>,
        forward: reqwest::Client,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            forward,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let base_url = match tls {
            Some(config) => {
                tokio::spawn(crate::dvcqg_sim::serve_tls(listener, app, config, stopped));
                format!("https://localhost:{}", addr.port())
            }
            None => {
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
                format!("http://{addr}")
            }
        };
        Ok(Self {
            addr,
            base_url,
            shared,
            _stop: Arc::new(stop),
        })
    }

    /// The base URL information systems call.
    pub fn url(&self) -> String {
        self.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a client subsystem of this member (`INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, plain).
    pub fn add_client(&self, client: &str) {
        self.lock().clients.insert(client.to_owned());
    }

    /// Publishes `service` (`INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE`, plain) at `provider_url`,
    /// callable by `allowed` clients.
    pub fn add_service(&self, service: &str, provider_url: &str, allowed: &[&str]) {
        self.lock().services.insert(
            service.to_owned(),
            (
                provider_url.trim_end_matches('/').to_owned(),
                allowed.iter().map(|s| (*s).to_owned()).collect(),
            ),
        );
    }

    /// The next `n` calls find the provider unreachable (`Server.ServerProxy.NetworkError`).
    pub fn provider_down_for(&self, n: u32) {
        self.lock().provider_down = n;
    }

    /// The next answer carries a request hash that is not the request's.
    pub fn tamper_next_hash(&self) {
        self.lock().tamper_hash = true;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<XRoadCall> {
        self.lock().calls.clone()
    }
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// A Security Server's error answer.
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({
        "type": kind,
        "message": message,
        "detail": uuid::Uuid::now_v7().to_string(),
    });
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(kind) {
        h.insert("x-road-error", v);
    }
    r
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Client.BadRequest", message)
}

/// Decodes one identifier part as received: only unreserved characters and `%HH` escapes, UTF-8
/// once decoded, not empty.
fn part(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    let s = String::from_utf8(out).ok()?;
    // X-Road's own rule for identifiers, stricter than PR-REST: no `:`, `;` or `\\`.
    (!s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, ':' | ';' | '\\')))
    .then_some(s)
}

/// An identifier of `counts` parts, decoded and `/`-joined.
fn identifier(raw: &str, counts: &[usize]) -> Option<String> {
    let parts: Vec<&str> = raw.split('/').collect();
    if !counts.contains(&parts.len()) {
        return None;
    }
    let decoded: Option<Vec<String>> = parts.into_iter().map(part).collect();
    decoded.map(|d| d.join("/"))
}

/// The request hash of what was received (see the module documentation).
fn request_hash(
    method: &str,
    target: &str,
    headers: &HeaderMap,
    request_id: &str,
    body: &[u8],
) -> String {
    let mut head = format!("{method}\r\n{target}\r\n").into_bytes();
    for (name, value) in headers {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name)
            || name == "x-road-request-id"
            || name == "x-road-request-hash"
        {
            continue;
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(format!("x-road-request-id: {request_id}\r\n").as_bytes());
    let headers_hash = digest::digest(&digest::SHA512, &head);
    let hash = if body.is_empty() {
        headers_hash.as_ref().to_vec()
    } else {
        let mut ctx = digest::Context::new(&digest::SHA512);
        ctx.update(headers_hash.as_ref());
        ctx.update(digest::digest(&digest::SHA512, body).as_ref());
        ctx.finish().as_ref().to_vec()
    };
    base64::engine::general_purpose::STANDARD.encode(hash)
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut call = XRoadCall {
        method: method.clone(),
        target: target.clone(),
        client: header("x-road-client"),
        id: header("x-road-id"),
        issue: header("x-road-issue"),
        error: None,
        forwarded_to: None,
        request_id: None,
        request_hash: None,
    };
    let answer = serve(&s, &parts, &method, &target, body, &mut call).await;
    call.error = answer
        .headers()
        .get("x-road-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut inner = s.inner.lock().unwrap_or_else(|p| p.into_inner());
    inner.calls.push(call);
    answer
}

async fn serve(
    s: &Shared,
    parts: &axum::http::request::Parts,
    method: &str,
    target: &str,
    body: Body,
    call: &mut XRoadCall,
) -> Response {
    if target.len() > MAX_URI {
        return bad_request("Request URI too long");
    }
    let path = parts.uri.path();
    let Some(rest) = path.strip_prefix("/r1/") else {
        return match path.strip_prefix("/r") {
            Some(v) if v.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                bad_request("Unsupported protocol version")
            }
            _ => bad_request("Invalid request URI: expected /r1/{serviceId}"),
        };
    };
    let segments: Vec<&str> = rest.splitn(6, '/').collect();
    if segments.len() < 5 {
        return bad_request("Invalid request URI: the service identifier has five parts");
    }
    let Some(service) = identifier(&segments[..5].join("/"), &[5]) else {
        return bad_request("Invalid service identifier: each part percent-encoded on its own");
    };
    let service_path = segments.get(5).map(|p| format!("/{p}")).unwrap_or_default();
    let Some(client_raw) = call.client.clone() else {
        return bad_request("Missing X-Road-Client header");
    };
    let Some(client) = identifier(&client_raw, &[3, 4]) else {
        return bad_request(
            "Invalid X-Road-Client header: INSTANCE/CLASS/MEMBER[/SUBSYSTEM], each part percent-encoded",
        );
    };
    let (provider, allowed) = {
        let mut inner = s.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !inner.clients.contains(&client) {
            drop(inner);
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server.ClientProxy.UnknownMember",
                &format!("Client '{client}' is not registered on this Security Server"),
            );
        }
        let Some((url, allowed)) = inner.services.get(&service).cloned() else {
            drop(inner);
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server.ServerProxy.UnknownService",
                &format!("Unknown service: {service}"),
            );
        };
        if inner.provider_down > 0 {
            inner.provider_down -= 1;
            drop(inner);
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server.ServerProxy.NetworkError",
                "Connect to the provider failed: Connection refused",
            );
        }
        (url, allowed)
    };
    if !allowed.contains(&client) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server.ServerProxy.AccessDenied",
            &format!("Request is not allowed: {client} may not call {service}"),
        );
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return bad_request("Request body too large or unreadable");
    };
    let xroad_id = call
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let request_id = uuid::Uuid::now_v7().to_string();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("{provider}{service_path}{query}");
    call.forwarded_to = Some(url.clone());
    let Ok(m) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return bad_request("Unsupported method");
    };
    let mut forward = s.forward.request(m, &url);
    for (name, value) in &parts.headers {
        if HOP_BY_HOP.contains(&name.as_str()) || name.as_str().starts_with("x-road-") {
            continue;
        }
        forward = forward.header(name.as_str(), value.as_bytes());
    }
    let encoded_service = segments[..5].join("/");
    forward = forward
        .header("x-road-client", client_raw.as_str())
        .header("x-road-service", encoded_service.as_str())
        .header("x-road-id", xroad_id.as_str())
        .header("x-road-request-id", request_id.as_str());
    if let Some(issue) = &call.issue {
        forward = forward.header("x-road-issue", issue.as_str());
    }
    let answer = match forward.body(body.clone()).send().await {
        Ok(a) => a,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server.ServerProxy.NetworkError",
                &format!("Connect to {provider} failed: {e}"),
            );
        }
    };
    let status = answer.status();
    let provider_headers = answer.headers().clone();
    let Ok(answer_body) = answer.bytes().await else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server.ServerProxy.NetworkError",
            "The provider's answer was cut short",
        );
    };
    let mut hash = request_hash(method, target, &parts.headers, &request_id, &body);
    {
        let mut inner = s.inner.lock().unwrap_or_else(|p| p.into_inner());
        if std::mem::take(&mut inner.tamper_hash) {
            hash = request_hash(
                method,
                target,
                &parts.headers,
                &request_id,
                b"something else",
            );
        }
    }
    call.request_id = Some(request_id.clone());
    call.request_hash = Some(hash.clone());
    let mut out = Response::new(Body::from(Bytes::from(answer_body.to_vec())));
    *out.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = out.headers_mut();
    for (name, value) in &provider_headers {
        if HOP_BY_HOP.contains(&name.as_str()) || name.as_str().starts_with("x-road-") {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            h.append(n, v);
        }
    }
    for (name, value) in [
        ("x-road-client", client_raw.as_str()),
        ("x-road-service", encoded_service.as_str()),
        ("x-road-id", xroad_id.as_str()),
        ("x-road-request-id", request_id.as_str()),
        ("x-road-request-hash", hash.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_must_be_percent_encoded_one_by_one() {
        assert_eq!(part("BAR%2FSERVICE").as_deref(), Some("BAR/SERVICE"));
        assert_eq!(part("Li%C3%AAn").as_deref(), Some("Liên"));
        assert_eq!(part("000.02.01.H37").as_deref(), Some("000.02.01.H37"));
        for bad in ["", "a b", "a:b", "a%3Ab", "%ZZ", "%C3", "%0A", "x%2"] {
            assert_eq!(part(bad), None, "{bad:?}");
        }
        assert_eq!(
            identifier("VN/GOV/M/S", &[3, 4]).as_deref(),
            Some("VN/GOV/M/S")
        );
        assert_eq!(identifier("VN/GOV", &[3, 4]), None);
    }
}
