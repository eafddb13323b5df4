//! `[server]`: the HTTP listener, its limits, its TLS and who may call which part of the API.

use super::*;

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address for intake, callbacks, exchange, admin and health.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Largest request body accepted (`10MiB`).
    #[serde(default = "default_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// Bearer token for the admin API (`/v1/deliveries…`, metrics, the console). Without it
    /// (and without an admin client-certificate rule) the first start generates one into
    /// `state_dir` ([`crate::auth::tokens`]): no address makes a caller an administrator.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// File holding the admin token.
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the center's bearer token: the one-stop system (phần mềm một cửa) sends it as
    /// `Authorization: Bearer …` on intake, events, tracking and statistics. Compared in constant
    /// time; at least 32 characters. Without it (and without a certificate rule or signed route
    /// covering the center's API) the first start generates one into `state_dir`.
    #[serde(default)]
    pub center_token_file: Option<PathBuf>,
    /// Where the tokens generated at the first start are copied (mode 0600): default the SQLite
    /// file's directory, else `/var/lib/lienthong`.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// File holding the viewer token: a read-only role for the statistics screens (the console's
    /// overview and deadline boards, `/v1/stats`); it cannot replay, reload or read dossiers.
    #[serde(default)]
    pub viewer_token_file: Option<PathBuf>,
    /// The names clients reach the gateway by (`Host`), e.g. `["lienthong.ninhbinh.gov.vn"]`.
    /// A request naming another host gets 421 (a DNS-rebinding page cannot reach the admin
    /// API). Empty: on a loopback listener `localhost` and the loopback addresses; on another
    /// listener the `Host` is not checked (check-config warns).
    #[serde(default)]
    pub public_names: Vec<String>,
    /// The URL operators reach the gateway at, e.g. `https://lienthong.ninhbinh.gov.vn` (behind
    /// a TLS-terminating proxy too): its host is a public name, and an `https` URL makes the
    /// console's cookie `Secure`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// How long a console sign-in lasts (`8h`).
    #[serde(default = "default_console_session", with = "serde_duration")]
    pub console_session: Duration,
    /// Leave the center's API and the admin API open to every caller, generating no token. Only
    /// for a lab: every start logs a warning.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// How long shutdown waits for in-flight deliveries before releasing them.
    #[serde(default = "default_grace", with = "serde_duration")]
    pub shutdown_grace: Duration,
    /// `[server.tls]`: serve HTTPS (with optional client certificates).
    #[serde(default)]
    pub tls: Option<ListenerTlsConfig>,
    /// `[[server.client_auth]]`: client-certificate rules per path prefix.
    #[serde(default)]
    pub client_auth: Vec<ClientAuthRule>,
    /// `[[server.signed_routes]]`: RFC 9421 signatures required per path prefix.
    #[serde(default)]
    pub signed_routes: Vec<SignedRouteRule>,
    /// Time allowed for a request's head (line and headers); also how long an idle keep-alive
    /// connection stays open (`10s`).
    #[serde(default = "default_header_timeout", with = "serde_duration")]
    pub header_timeout: Duration,
    /// Grace a request body has beyond what its rate earns (`30s`): a body must arrive at
    /// `min_body_rate` on average after it, or the request gets 408.
    #[serde(default = "default_body_timeout", with = "serde_duration")]
    pub body_timeout: Duration,
    /// The slowest average rate a request body may be sent at, per second (`16KiB`).
    #[serde(default = "default_min_body_rate", deserialize_with = "de_size")]
    pub min_body_rate: u64,
    /// Connections open at once (`4096`); past it a new connection is closed at once.
    #[serde(default = "default_server_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one client address (default: an eighth of
    /// `max_connections`, at least 1); past it that address's new connection is closed at once.
    #[serde(default)]
    pub max_connections_per_client: Option<usize>,
    /// Requests in flight per client address (`64`); past it 429 with `Retry-After`; also the
    /// most concurrent streams of one HTTP/2 connection.
    #[serde(default = "default_max_requests_per_client")]
    pub max_requests_per_client: usize,
    /// Request body bytes held in memory at once by every route together (`64MiB`): a body that
    /// does not fit is refused with 503 and `Retry-After` before a byte of it is read.
    #[serde(default = "default_max_body_memory", deserialize_with = "de_size")]
    pub max_body_memory: u64,
    /// The share of `max_body_memory` one client address may hold (default: half of it).
    #[serde(default, deserialize_with = "de_size_opt")]
    pub max_body_memory_per_client: Option<u64>,
    /// Certificates expiring within this period are warned about (`30d`).
    #[serde(default = "default_certificate_warning", with = "serde_duration")]
    pub certificate_warning: Duration,
    /// This instance's name among those sharing a store (default: the host name). Periodic jobs
    /// (pollers, retention) hold leases under it, so a restarted instance takes its own jobs
    /// back at once; give each instance of a cluster its own name.
    #[serde(default)]
    pub instance: Option<String>,
}

impl ServerConfig {
    /// [`ServerConfig::instance`], or the host name (`lienthong` when it cannot be read).
    pub fn instance_name(&self) -> String {
        if let Some(name) = &self.instance {
            return name.clone();
        }
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "lienthong".to_owned())
    }
}

const fn default_console_session() -> Duration {
    Duration::from_secs(8 * 3600)
}
const fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}
const fn default_min_body_rate() -> u64 {
    16 * 1024
}
const fn default_server_max_connections() -> usize {
    4096
}
const fn default_max_requests_per_client() -> usize {
    64
}
const fn default_max_body_memory() -> u64 {
    64 * 1024 * 1024
}

impl ServerConfig {
    /// The connection limits of this section.
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            min_body_rate: self.min_body_rate,
            max_connections: self.max_connections,
            max_connections_per_client: self.connections_per_client(),
            max_requests_per_client: self.max_requests_per_client,
        }
    }

    /// `max_connections_per_client`, or its default.
    pub fn connections_per_client(&self) -> usize {
        self.max_connections_per_client
            .unwrap_or((self.max_connections / 8).max(1))
    }

    /// `max_body_memory_per_client`, or its default.
    pub fn body_memory_per_client(&self) -> u64 {
        self.max_body_memory_per_client
            .unwrap_or(self.max_body_memory / 2)
    }
}

const fn default_certificate_warning() -> Duration {
    Duration::from_secs(30 * 86_400)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8440))
}
const fn default_max_body() -> u64 {
    10 * 1024 * 1024
}
const fn default_grace() -> Duration {
    Duration::from_secs(10)
}

impl ServerConfig {
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.max_body == 0 {
            errors.push(err("server.max_body", "must be more than 0"));
        }
        for (key, zero) in [
            ("server.header_timeout", self.header_timeout.is_zero()),
            ("server.body_timeout", self.body_timeout.is_zero()),
        ] {
            if zero {
                errors.push(err(key, "must be longer than 0s"));
            }
        }
        for (key, zero) in [
            ("server.min_body_rate", self.min_body_rate == 0),
            ("server.max_connections", self.max_connections == 0),
            (
                "server.max_connections_per_client",
                self.max_connections_per_client == Some(0),
            ),
            ("server.max_body_memory", self.max_body_memory == 0),
            (
                "server.max_body_memory_per_client",
                self.max_body_memory_per_client == Some(0),
            ),
            (
                "server.max_requests_per_client",
                self.max_requests_per_client == 0,
            ),
        ] {
            if zero {
                errors.push(err(key, "must be at least 1"));
            }
        }
        if self.admin_token.is_some() && self.admin_token_file.is_some() {
            errors.push(err(
                "server.admin_token_file",
                "give admin_token or admin_token_file, not both",
            ));
        }
        if let Some(u) = &self.public_url
            && !lienthong_connectors::http::is_http_url(u)
        {
            errors.push(err("server.public_url", "must be an http(s) URL"));
        }
        if self.console_session.is_zero() {
            errors.push(err("server.console_session", "must be longer than 0s"));
        }
        if self
            .max_connections_per_client
            .is_some_and(|n| n > self.max_connections)
        {
            errors.push(err(
                "server.max_connections_per_client",
                "must not be more than server.max_connections",
            ));
        }
        if self
            .max_body_memory_per_client
            .is_some_and(|n| n > self.max_body_memory)
        {
            errors.push(err(
                "server.max_body_memory_per_client",
                "must not be more than server.max_body_memory",
            ));
        }
    }
}

impl OnReload for ServerConfig {
    fn on_reload(&self, new: &Self, c: &mut Changes) {
        let Self {
            listen,
            max_body,
            admin_token,
            admin_token_file,
            center_token_file,
            state_dir,
            viewer_token_file,
            public_names,
            public_url,
            console_session,
            allow_unauthenticated,
            shutdown_grace,
            tls: _,
            client_auth: _,
            signed_routes: _,
            header_timeout,
            body_timeout,
            min_body_rate,
            max_connections,
            max_connections_per_client,
            max_requests_per_client,
            max_body_memory,
            max_body_memory_per_client,
            certificate_warning: _,
            instance,
        } = self;
        // The listener, its limits and the HTTP API's settings are set up at start-up.
        c.restart("listen", listen, &new.listen);
        c.restart("max_body", max_body, &new.max_body);
        c.restart_secret("admin_token", admin_token, &new.admin_token);
        c.restart("admin_token_file", admin_token_file, &new.admin_token_file);
        c.restart(
            "center_token_file",
            center_token_file,
            &new.center_token_file,
        );
        c.restart("state_dir", state_dir, &new.state_dir);
        c.restart(
            "viewer_token_file",
            viewer_token_file,
            &new.viewer_token_file,
        );
        c.restart("public_names", public_names, &new.public_names);
        c.restart("public_url", public_url, &new.public_url);
        c.restart("console_session", console_session, &new.console_session);
        c.restart(
            "allow_unauthenticated",
            allow_unauthenticated,
            &new.allow_unauthenticated,
        );
        c.restart("shutdown_grace", shutdown_grace, &new.shutdown_grace);
        c.restart("header_timeout", header_timeout, &new.header_timeout);
        c.restart("body_timeout", body_timeout, &new.body_timeout);
        c.restart("min_body_rate", min_body_rate, &new.min_body_rate);
        c.restart("max_connections", max_connections, &new.max_connections);
        c.restart(
            "max_connections_per_client",
            max_connections_per_client,
            &new.max_connections_per_client,
        );
        c.restart(
            "max_requests_per_client",
            max_requests_per_client,
            &new.max_requests_per_client,
        );
        c.restart("max_body_memory", max_body_memory, &new.max_body_memory);
        c.restart(
            "max_body_memory_per_client",
            max_body_memory_per_client,
            &new.max_body_memory_per_client,
        );
        c.restart("instance", instance, &new.instance);
        // The security material, rebuilt and swapped by the reload: the listener's certificate
        // and client trust (each new connection takes the new one), the client-certificate and
        // signature rules, and the expiry warning window.
        c.live("tls");
        c.live("client_auth");
        c.live("signed_routes");
        c.live("certificate_warning");
    }
}

/// The connection limits of `[server]`, as the listener and the exchange receiver apply them
/// (`crate::http::limits`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `server.header_timeout`: the request head within this time, and an idle keep-alive
    /// connection closed after it.
    pub header_timeout: Duration,
    /// `server.body_timeout`: grace a request body has beyond what its rate earns.
    pub body_timeout: Duration,
    /// `server.min_body_rate`: bytes per second a body must keep up, on average.
    pub min_body_rate: u64,
    /// `server.max_connections`: connections open at once.
    pub max_connections: usize,
    /// `server.max_connections_per_client`: connections open at once from one address.
    pub max_connections_per_client: usize,
    /// `server.max_requests_per_client`: requests in flight per client address.
    pub max_requests_per_client: usize,
}
