//! Configuration reload: SIGHUP (`systemctl reload lienthong`) and `POST /v1/admin/reload`.
//!
//! The configuration file is read again and everything it names is built *before* anything is
//! swapped: certificates, keys, CRLs and trust stores ([`Security`]), then every destination's
//! connector (mapping files compiled, credential files read, outbound TLS identity), then the
//! secrets national systems' pushes are checked with (`[callbacks]`). Any
//! problem refuses the whole reload with the reasons, and the running configuration keeps
//! serving. When everything builds, the security material and each destination's wiring are
//! swapped at once; slots and circuit breakers stay.
//!
//! What cannot change under a running process (the listen address, the store, the instance
//! name, the set of destinations, routes, where notices go, exchange settings) is compared with the
//! running configuration: a change there is reported as needing a restart, and the rest of the
//! reload is applied.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use time::OffsetDateTime;

use crate::callbacks::CallbackSettings;
use crate::config::Config;
use crate::destinations::{self, Destinations};
use crate::security::{Security, SecurityHandle};

/// What a successful reload did.
#[derive(Debug)]
pub struct Reloaded {
    /// The security material now in force.
    pub security: Arc<Security>,
    /// Destinations whose connector, credentials and retry policy were replaced.
    pub rewired: Vec<String>,
    /// Settings that changed in the file but take effect only at the next restart.
    pub needs_restart: Vec<String>,
}

/// A value a reload may replace: readers take the current `Arc`, a swap is atomic, and what a
/// request already holds stays valid until it is done.
#[derive(Debug)]
pub struct Current<T>(RwLock<Arc<T>>);

impl<T> Current<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    /// The value in force.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `value` in force.
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

/// How the last reload ended, for `/readyz` and the console.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastReload {
    /// When it ended (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `applied` or `refused`.
    pub outcome: &'static str,
    /// Why it was refused, or what needs a restart.
    pub detail: String,
}

/// Reloads the configuration a gateway was started with.
pub struct Reloader {
    source: Option<PathBuf>,
    running: Mutex<Config>,
    security: Arc<SecurityHandle>,
    destinations: Destinations,
    callbacks: Arc<Current<CallbackSettings>>,
    last: Mutex<Option<LastReload>>,
}

impl Reloader {
    /// A reloader for the gateway started from `config` (its `source` file is what is re-read),
    /// swapping `security` and the wiring of `destinations`.
    pub fn new(
        config: &Config,
        security: Arc<SecurityHandle>,
        destinations: Destinations,
        callbacks: Arc<Current<CallbackSettings>>,
    ) -> Self {
        Self {
            source: config.source.clone(),
            running: Mutex::new(config.clone()),
            security,
            destinations,
            callbacks,
            last: Mutex::new(None),
        }
    }

    /// How the last reload ended (`None`: none since start-up).
    pub fn last(&self) -> Option<LastReload> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`Reloader::reload`], telling systemd (`RELOADING=1` … `READY=1`), logging a refusal
    /// with its reasons, counting the outcome and remembering it for `/readyz`.
    pub fn reload_and_report(&self) -> Result<Reloaded, String> {
        crate::systemd::reloading();
        let result = self.reload();
        let (outcome, detail) = match &result {
            Ok(r) => ("applied", r.needs_restart.join(", ")),
            Err(reason) => {
                tracing::error!(
                    reason,
                    "reload refused; the running configuration stays in force"
                );
                ("refused", reason.clone())
            }
        };
        metrics::counter!("lienthong_config_reloads_total", "outcome" => outcome).increment(1);
        crate::systemd::reloaded(&format!("serving; last reload {outcome}"));
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastReload {
            at: OffsetDateTime::now_utc(),
            outcome,
            detail,
        });
        result
    }

    /// Re-reads and applies the configuration file (blocking: file reads, key parsing; run it
    /// on a blocking thread). Reloads are serialized.
    ///
    /// Errors: every reason the new configuration is refused, joined in one line; nothing was
    /// changed.
    pub fn reload(&self) -> Result<Reloaded, String> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let source = self
            .source
            .as_ref()
            .ok_or("the gateway was not started from a configuration file")?;
        let crate::loaded::Loaded {
            config,
            security,
            callbacks,
            mappings,
            ..
        } = crate::loaded::Loaded::load(source).map_err(|e| e.to_string())?;
        let built =
            destinations::build(&config, &security, &mappings).map_err(|e| e.to_string())?;
        let needs_restart = needs_restart(&running, &config);
        // Everything is built: from here on nothing can fail.
        let security = Arc::new(security);
        security.publish_expiry(OffsetDateTime::now_utc());
        self.security.swap(security.clone());
        // An urgent revocation (a peer's key compromised) must not wait for the responder's
        // nextUpdate: every certificate is asked about again after a reload.
        self.security.revocation().clear();
        self.callbacks.set(callbacks);
        let mut rewired = Vec::new();
        for (name, dest) in &self.destinations {
            if let Some(newer) = built.get(name) {
                dest.rewire(newer);
                rewired.push(name.clone());
            }
        }
        *running = config;
        tracing::info!(
            certificates = security.certificates.len(),
            tls = security.listener_tls.is_some(),
            destinations = ?rewired,
            "configuration reloaded: certificates and trust stores reloaded, destinations rebuilt"
        );
        if !needs_restart.is_empty() {
            tracing::warn!(
                settings = needs_restart.join(", "),
                "changed settings take effect at the next restart"
            );
        }
        Ok(Reloaded {
            security,
            rewired,
            needs_restart,
        })
    }
}

/// The settings a running gateway cannot take over, that differ between `old` and `new`.
fn needs_restart(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |key: &str, a: String, b: String| {
        if a != b {
            out.push(key.to_owned());
        }
    };
    differs(
        "server.listen",
        old.server.listen.to_string(),
        new.server.listen.to_string(),
    );
    differs(
        "server.instance",
        old.server.instance_name(),
        new.server.instance_name(),
    );
    differs(
        "store",
        format!("{:?}", old.store),
        format!("{:?}", new.store),
    );
    differs(
        "destinations (added or removed)",
        format!("{:?}", old.destinations.keys().collect::<Vec<_>>()),
        format!("{:?}", new.destinations.keys().collect::<Vec<_>>()),
    );
    differs(
        "routes",
        format!("{:?}", old.routes),
        format!("{:?}", new.routes),
    );
    differs(
        "callbacks.forward_to",
        format!("{:?}", old.callbacks.forward_to),
        format!("{:?}", new.callbacks.forward_to),
    );
    differs(
        "exchange",
        format!("{:?}", old.exchange),
        format!("{:?}", new.exchange),
    );
    differs(
        "dispatcher",
        format!("{:?}", old.dispatcher),
        format!("{:?}", new.dispatcher),
    );
    for (name, d) in &old.destinations {
        if let Some(n) = new.destinations.get(name)
            && (d.concurrency != n.concurrency || d.circuit_breaker != n.circuit_breaker)
        {
            out.push(format!("destinations.{name}.concurrency/circuit_breaker"));
        }
    }
    out
}
