//! The dossier's files (tệp đính kèm, thành phần hồ sơ): which URLs a dossier may name, and
//! fetching them for a peer that carries them in the message.
//!
//! A dossier's `documents[i].url` is data from outside the gateway; fetching whatever it names
//! would let a dossier make the gateway call its own admin API, a cloud metadata address or any
//! host of the center's network (server-side request forgery). So:
//! - a URL must start with one of `[attachments] allowed_urls` — scheme, host and port equal,
//!   the path under the prefix's path ([`FilePolicy::check_url`]), checked at intake (422);
//! - the host's addresses are resolved by the fetcher's own resolver and loopback, link-local,
//!   private, shared (CGNAT), multicast and unspecified addresses are refused unless a network
//!   of `allowed_networks` holds them; the connection goes to the checked addresses only (no
//!   second lookup to rebind), through no proxy, and redirects are not followed;
//! - the body is streamed with a per-file limit and a per-message total, all files of a
//!   message within `timeout`.
//!
//! A file that cannot be fetched fails that delivery (a dead letter with the reason): it is a
//! fault of the dossier or of the document store, not of the destination, so it must not count
//! against the destination's circuit breaker and pause every other dossier.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use lienthong_mappings::model::Document;
use reqwest::Url;
use serde::Deserialize;

use crate::ConfigProblem;

/// `[attachments]`: where the dossiers' files may be fetched from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentsConfig {
    /// URL prefixes of the center's document store (kho tài liệu), e.g.
    /// `https://motcua.ninhbinh.gov.vn/files/`. A dossier naming a file elsewhere is refused at
    /// intake. Empty (the default): a dossier may name no file URL at all.
    #[serde(default)]
    pub allowed_urls: Vec<String>,
    /// Networks (CIDR) a file host may resolve into although they are loopback, link-local or
    /// private, e.g. `["10.20.0.0/16"]` for a document store on the center's own network.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    /// The most bytes of files one message may carry (default 64 MiB); each file also has its
    /// destination's own limit (`max_attachment_bytes`).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    /// Time allowed to connect to the document store.
    #[serde(default = "default_connect_timeout", with = "crate::serde_duration")]
    pub connect_timeout: Duration,
    /// Time allowed to fetch all the files of one message (default 2 minutes).
    #[serde(default = "default_timeout", with = "crate::serde_duration")]
    pub timeout: Duration,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            allowed_urls: Vec::new(),
            allowed_networks: Vec::new(),
            max_message_bytes: default_max_message_bytes(),
            connect_timeout: default_connect_timeout(),
            timeout: default_timeout(),
        }
    }
}

const fn default_max_message_bytes() -> u64 {
    64 * 1024 * 1024
}
const fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

/// The checked form of [`AttachmentsConfig`].
#[derive(Debug, Clone)]
pub struct FilePolicy {
    prefixes: Vec<Url>,
    networks: Vec<IpNet>,
    max_message_bytes: u64,
    connect_timeout: Duration,
    timeout: Duration,
}

/// Why a dossier may not name a URL as a file (each a sentence for the 422 problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not a URL at all.
    #[error("not a URL ({0})")]
    NotAUrl(String),
    /// Another scheme than http(s).
    #[error("must be an http(s) URL")]
    NotHttp,
    /// A user name or password in the URL.
    #[error("must not carry credentials")]
    Credentials,
    /// `[attachments] allowed_urls` is empty.
    #[error("no file URL is allowed: the gateway's [attachments] allowed_urls is empty")]
    NothingAllowed,
    /// Outside every allowed prefix (listed).
    #[error("is not under an allowed prefix of the center's document store ({0})")]
    NotUnderPrefix(String),
}

impl FilePolicy {
    /// Checks the configuration.
    ///
    /// Errors: every prefix that is not an absolute http(s) URL without credentials, every
    /// network that is not CIDR, a zero limit or time; keys relative to `[attachments]`.
    pub fn new(config: &AttachmentsConfig) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut prefixes = Vec::new();
        for (i, p) in config.allowed_urls.iter().enumerate() {
            match Url::parse(p) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.query().is_none()
                        && u.fragment().is_none() =>
                {
                    prefixes.push(u);
                }
                _ => problems.push(ConfigProblem::new(
                    format!("allowed_urls[{i}]"),
                    "must be an http(s) URL prefix with a host, without credentials, query or fragment",
                )),
            }
        }
        let mut networks = Vec::new();
        for (i, n) in config.allowed_networks.iter().enumerate() {
            match n.parse::<IpNet>() {
                Ok(net) => networks.push(net),
                Err(_) => problems.push(ConfigProblem::new(
                    format!("allowed_networks[{i}]"),
                    "must be a network in CIDR form, e.g. 10.20.0.0/16",
                )),
            }
        }
        if config.max_message_bytes == 0 {
            problems.push(ConfigProblem::new(
                "max_message_bytes",
                "must be more than 0",
            ));
        }
        if config.timeout.is_zero() || config.connect_timeout.is_zero() {
            problems.push(ConfigProblem::new("timeout", "must be longer than 0s"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            prefixes,
            networks,
            max_message_bytes: config.max_message_bytes,
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
        })
    }

    /// Whether a dossier may name `url` as a file: an http(s) URL without credentials under
    /// one of the allowed prefixes (same scheme, host and port; the path at or below the
    /// prefix's path, compared after the URL parser removed `.` and `..` segments).
    ///
    /// Errors: [`UrlRefused`], why not in a sentence for the 422 problem.
    pub fn check_url(&self, url: &str) -> Result<Url, UrlRefused> {
        let u = Url::parse(url).map_err(|e| UrlRefused::NotAUrl(e.to_string()))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(UrlRefused::NotHttp);
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(UrlRefused::Credentials);
        }
        if self.prefixes.is_empty() {
            return Err(UrlRefused::NothingAllowed);
        }
        if self.prefixes.iter().any(|p| under(&u, p)) {
            Ok(u)
        } else {
            Err(UrlRefused::NotUnderPrefix(
                self.prefixes
                    .iter()
                    .map(Url::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
    }

    /// Whether a file host may be reached at `ip`: public addresses, and others inside
    /// `allowed_networks`.
    ///
    /// Errors: the kind of address refused (`loopback`, `private`…).
    pub fn check_address(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match special(ip) {
            None => Ok(()),
            Some(_) if self.networks.iter().any(|n| n.contains(&ip)) => Ok(()),
            Some(kind) => Err(kind),
        }
    }
}

/// Whether `u` lies under the prefix `p`.
fn under(u: &Url, p: &Url) -> bool {
    if u.scheme() != p.scheme()
        || u.host_str() != p.host_str()
        || u.port_or_known_default() != p.port_or_known_default()
    {
        return false;
    }
    let (path, prefix) = (u.path(), p.path());
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The kind of a non-public address, `None` for a public one.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_unspecified() {
                Some("unspecified")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_private() {
                Some("private")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (CGNAT)")
            } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                Some("multicast or reserved")
            } else if a == 0 {
                Some("this-network")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if v6.is_multicast() {
                Some("multicast or reserved")
            } else {
                None
            }
        }
    }
}

/// One file fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Why a message's files could not be fetched (the reason of the dead letter).
#[derive(Debug, Clone, thiserror::Error)]
#[error("attachment {id} ({url}): {reason}")]
pub struct FetchError {
    /// The document's id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// What went wrong.
    pub reason: String,
}

/// Fetches files under a [`FilePolicy`]. Cheap to clone.
#[derive(Clone)]
pub struct FileFetcher {
    policy: Arc<FilePolicy>,
    client: reqwest::Client,
}

impl std::fmt::Debug for FileFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileFetcher")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The fetcher's resolver: the system's lookup, then only the addresses the policy allows.
struct CheckedResolver {
    policy: Arc<FilePolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_address(a.ip()) {
                    Ok(()) => true,
                    Err(kind) => {
                        refused = Some((a.ip(), kind));
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.map_or_else(
                    || format!("{host} has no address"),
                    |(ip, kind)| format!("{host} resolves to {ip}, a {kind} address not in [attachments] allowed_networks"),
                );
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl FileFetcher {
    /// A fetcher for `policy`.
    ///
    /// Errors: the HTTP client cannot be built (TLS back-end).
    pub fn new(policy: FilePolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(CheckedResolver {
                policy: policy.clone(),
            })
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .user_agent(concat!("lienthong/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { policy, client })
    }

    /// The policy (intake checks the URLs with it).
    pub fn policy(&self) -> &FilePolicy {
        &self.policy
    }

    /// Fetches `documents` in order: each URL allowed, each answer 2xx, each file within
    /// `max_file_bytes` and all within the message total, all within the policy's time limit,
    /// each matching its `sha256` when one is given.
    ///
    /// Errors: the first file that failed, and why.
    pub async fn fetch_all(
        &self,
        documents: &[Document],
        max_file_bytes: u64,
    ) -> Result<Vec<Fetched>, FetchError> {
        let deadline = tokio::time::Instant::now() + self.policy.timeout;
        let mut total = 0u64;
        let mut out = Vec::with_capacity(documents.len());
        for d in documents {
            let fail = |reason: String| FetchError {
                id: d.id.clone(),
                url: d.url.clone(),
                reason,
            };
            let fetched =
                tokio::time::timeout_at(deadline, self.fetch_one(d, max_file_bytes, &mut total))
                    .await
                    .map_err(|_| {
                        fail(format!(
                            "the message's files were not fetched within {}",
                            humantime::format_duration(self.policy.timeout)
                        ))
                    })?
                    .map_err(fail)?;
            out.push(fetched);
        }
        Ok(out)
    }

    async fn fetch_one(
        &self,
        d: &Document,
        max_file_bytes: u64,
        total: &mut u64,
    ) -> Result<Fetched, String> {
        let url = self.policy.check_url(&d.url).map_err(|e| e.to_string())?;
        // An address in the URL is not looked up, so the resolver never sees it.
        let literal = url.host_str().and_then(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        });
        if let Some(ip) = literal {
            self.policy.check_address(ip).map_err(|kind| {
                format!("{ip} is a {kind} address not in [attachments] allowed_networks")
            })?;
        }
        let mut resp = self.client.get(url).send().await.map_err(|e| {
            // The resolver's refusal is the source's text; say it plainly.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = s.to_string();
                source = s.source();
            }
            text
        })?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(format!("HTTP {status}: redirects are not followed"));
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            let n = chunk.len() as u64;
            if bytes.len() as u64 + n > max_file_bytes {
                return Err(format!("larger than {max_file_bytes} bytes"));
            }
            *total += n;
            if *total > self.policy.max_message_bytes {
                return Err(format!(
                    "the message's files are larger than {} bytes in all",
                    self.policy.max_message_bytes
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if let Some(expected) = &d.sha256 {
            let got = lienthong_certs::sha256_hex(&bytes);
            if !got.eq_ignore_ascii_case(expected) {
                return Err(format!(
                    "SHA-256 {got} does not match the dossier's {expected}"
                ));
            }
        }
        Ok(Fetched { bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(urls: &[&str], networks: &[&str]) -> FilePolicy {
        FilePolicy::new(&AttachmentsConfig {
            allowed_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
            allowed_networks: networks.iter().map(|s| (*s).to_owned()).collect(),
            ..AttachmentsConfig::default()
        })
        .expect("policy")
    }

    #[test]
    fn urls_must_lie_under_an_allowed_prefix() {
        let p = policy(
            &[
                "https://docs.ninhbinh.gov.vn/files/",
                "http://10.20.0.5:8080/store",
            ],
            &[],
        );
        for ok in [
            "https://docs.ninhbinh.gov.vn/files/a.pdf",
            "https://DOCS.ninhbinh.gov.vn:443/files/x/y.pdf?v=1",
            "http://10.20.0.5:8080/store",
            "http://10.20.0.5:8080/store/a.pdf",
        ] {
            assert!(p.check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://docs.ninhbinh.gov.vn/admin/a.pdf",
            "https://docs.ninhbinh.gov.vn/files/../admin/a.pdf",
            "https://docs.ninhbinh.gov.vn/files%2f../x",
            "https://docs.ninhbinh.gov.vn.evil.example/files/a.pdf",
            "https://docs.ninhbinh.gov.vn:8443/files/a.pdf",
            "http://docs.ninhbinh.gov.vn/files/a.pdf",
            "https://user:pw@docs.ninhbinh.gov.vn/files/a.pdf",
            "http://10.20.0.5:8080/storefront/a.pdf",
            "http://127.0.0.1:8440/v1/deliveries",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad}");
        }
        assert!(
            policy(&[], &[])
                .check_url("https://docs.ninhbinh.gov.vn/files/a")
                .is_err()
        );
    }

    #[test]
    fn special_addresses_are_refused_unless_their_network_is_listed() {
        let p = policy(&["https://x.example/"], &["10.20.0.0/16", "::1/128"]);
        for (ip, kind) in [
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "link-local"),
            ("192.168.1.1", "private"),
            ("172.16.0.1", "private"),
            ("10.21.0.1", "private"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast or reserved"),
            ("::ffff:127.0.0.1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00::1", "private (unique local)"),
        ] {
            assert_eq!(p.check_address(ip.parse().unwrap()), Err(kind), "{ip}");
        }
        for ok in ["10.20.3.4", "::1", "203.113.1.1", "2001:ee0::1"] {
            assert!(p.check_address(ok.parse().unwrap()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn bad_configuration_is_named() {
        let e = FilePolicy::new(&AttachmentsConfig {
            allowed_urls: vec!["ftp://x/".into(), "https://u:p@x/".into()],
            allowed_networks: vec!["10.0.0.0/33".into()],
            ..AttachmentsConfig::default()
        })
        .unwrap_err();
        let keys: Vec<&str> = e.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["allowed_urls[0]", "allowed_urls[1]", "allowed_networks[0]"]
        );
    }
}
