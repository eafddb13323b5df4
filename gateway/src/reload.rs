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
//! What a reload does with each key is decided next to each section's definition
//! ([`crate::config::on_reload`]): applied (read from what is swapped here: the security
//! material, each destination's wiring, the push settings, the file policy) or reported as
//! needing a restart, and the rest of the reload is applied.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use time::OffsetDateTime;

use lienthong_connectors::files::FilePolicy;

use crate::config::Config;
use crate::delivery::destinations::{self, Destinations};
use crate::inbound::callbacks::CallbackSettings;
use crate::trust::security::{Security, SecurityHandle};

/// Why a reload was refused (nothing was changed; the running configuration stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The gateway was started without a file to read again.
    #[error("the gateway was not started from a configuration file")]
    NoFile,
    /// The new configuration or its material (keys, certificates, secrets) is refused.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigErrors),
    /// A destination cannot be built from it.
    #[error(transparent)]
    Destinations(#[from] destinations::DestinationErrors),
}

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
    files: Arc<Current<FilePolicy>>,
    last: Mutex<Option<LastReload>>,
}

impl Reloader {
    /// A reloader for the gateway started from `config` (its `source` file is what is re-read),
    /// swapping `security`, the wiring of `destinations`, the push settings and the file policy.
    pub fn new(
        config: &Config,
        security: Arc<SecurityHandle>,
        destinations: Destinations,
        callbacks: Arc<Current<CallbackSettings>>,
        files: Arc<Current<FilePolicy>>,
    ) -> Self {
        Self {
            source: config.source.clone(),
            running: Mutex::new(config.clone()),
            security,
            destinations,
            callbacks,
            files,
            last: Mutex::new(None),
        }
    }

    /// How the last reload ended (`None`: none since start-up).
    pub fn last(&self) -> Option<LastReload> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`Reloader::reload`], telling systemd (`RELOADING=1` … `READY=1`), logging a refusal
    /// with its reasons, counting the outcome and remembering it for `/readyz`.
    pub fn reload_and_report(&self) -> Result<Reloaded, ReloadError> {
        crate::monitoring::systemd::reloading();
        let result = self.reload();
        let (outcome, detail) = match &result {
            Ok(r) => ("applied", r.needs_restart.join(", ")),
            Err(reason) => {
                tracing::error!(
                    reason = %reason,
                    "reload refused; the running configuration stays in force"
                );
                ("refused", reason.to_string())
            }
        };
        metrics::counter!("lienthong_config_reloads_total", "outcome" => outcome).increment(1);
        crate::monitoring::systemd::reloaded(&format!("serving; last reload {outcome}"));
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
    /// Errors: [`ReloadError`] with every reason the new configuration is refused; nothing was
    /// changed.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let source = self.source.as_ref().ok_or(ReloadError::NoFile)?;
        let crate::loaded::Loaded {
            config,
            security,
            callbacks,
            mappings,
            ..
        } = crate::loaded::Loaded::load(source)?;
        let built = destinations::build(&config, &security, &mappings)?;
        let files = file_policy(&config)?;
        let needs_restart = crate::config::on_reload::changes(&running, &config).needs_restart;
        // Everything is built: from here on nothing can fail.
        let security = Arc::new(security);
        security.publish_expiry(OffsetDateTime::now_utc());
        self.security.swap(security.clone());
        // An urgent revocation (a peer's key compromised) must not wait for the responder's
        // nextUpdate: every certificate is asked about again after a reload.
        self.security.revocation().clear();
        self.callbacks.set(callbacks);
        self.files.set(files);
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

/// The file policy of `config` (`[attachments]`): where dossiers' files may be, checked at
/// intake.
///
/// Errors: an allowed URL or network that does not parse, with its key.
pub fn file_policy(config: &Config) -> Result<FilePolicy, crate::config::ConfigErrors> {
    FilePolicy::new(&config.attachments).map_err(|p| {
        crate::config::ConfigErrors(
            p.into_iter()
                .map(|p| crate::config::ConfigError {
                    key: format!("attachments.{}", p.key),
                    message: p.message,
                })
                .collect(),
        )
    })
}
