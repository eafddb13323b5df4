//! A configuration with every file it names read: the one place where files are loaded.
//!
//! [`crate::config::Config`] is the parsed and validated text: its validation reads no other
//! file (it only looks whether the secret files it names exist, so that check-config names them
//! beside the text's own problems). [`Loaded`] then reads what the configuration names —
//! certificates, keys and trust stores ([`Security`]), the bearer tokens, the shared secrets of
//! pushing systems, the time-stamping authority's certificate, each destination's mapping files —
//! once, collecting every problem
//! with its key. `serve`, `check-config`, `certs check` and a reload each build one `Loaded` and
//! pass it on, so nothing is loaded twice and what check-config accepts is what serve runs.

use lienthong_certs::Secret;

use crate::config::{Config, ConfigError, ConfigErrors};
use crate::delivery::destinations::MappingSets;
use crate::inbound::callbacks::CallbackSettings;
use crate::trust::security::Security;

/// The bearer tokens of the HTTP API, read from their files.
#[derive(Clone, Default)]
pub struct Tokens {
    /// The admin token (`server.admin_token` or `admin_token_file`).
    pub admin: Option<Secret>,
    /// The center's token (`server.center_token_file`).
    pub center: Option<Secret>,
    /// The viewer token (`server.viewer_token_file`).
    pub viewer: Option<Secret>,
}

/// A configuration and everything it names, loaded.
pub struct Loaded {
    /// The parsed configuration.
    pub config: Config,
    /// Certificates, keys, trust stores, TLS configurations.
    pub security: Security,
    /// The API's bearer tokens.
    pub tokens: Tokens,
    /// The push receivers' settings with their secrets.
    pub callbacks: CallbackSettings,
    /// The time-stamping authority's certificate (DER), when `[audit.tsa]` is set.
    pub tsa_certificate: Option<Vec<u8>>,
    /// Each destination's mapping set, by destination name (none for a webhook).
    pub mappings: MappingSets,
}

impl Loaded {
    /// Reads the configuration file (with environment overrides) and what it names.
    ///
    /// Errors: every problem, each with its key: the file's, then (when the file is valid) those
    /// of what it names.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigErrors> {
        Self::from_config(Config::load(path)?)
    }

    /// Reads what a parsed configuration names.
    ///
    /// Errors: every file that cannot be read or used, each with its key.
    pub fn from_config(config: Config) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let security = Security::build(&config).map_err(|e| errors.extend(e)).ok();
        let tokens = Tokens {
            admin: config
                .admin_token()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten(),
            center: config
                .center_token()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten(),
            viewer: config
                .viewer_token()
                .map_err(|e| errors.push(e))
                .ok()
                .flatten(),
        };
        let callbacks = CallbackSettings::new(&config.callbacks)
            .map_err(|e| errors.push(e))
            .ok();
        let tsa_certificate = match &config.audit.tsa {
            Some(t) => crate::operations::audit::tsa::load_certificate(&t.certificate)
                .map(Some)
                .map_err(|e| {
                    errors.push(ConfigError {
                        key: "audit.tsa.certificate".into(),
                        message: e.to_string(),
                    });
                })
                .ok()
                .flatten(),
            None => None,
        };
        let mappings = load_mappings(&config, &mut errors);
        match (security, callbacks) {
            (Some(security), Some(callbacks)) if errors.is_empty() => Ok(Self {
                config,
                security,
                tokens,
                callbacks,
                tsa_certificate,
                mappings,
            }),
            _ => Err(ConfigErrors(errors)),
        }
    }
}

/// Loads every destination's mapping files, so that check-config and start-up find a bad one
/// before traffic does, and the connectors are built with what was checked; each problem is
/// named by the destination's `mappings_dir`.
fn load_mappings(config: &Config, errors: &mut Vec<ConfigError>) -> MappingSets {
    let mut sets = MappingSets::new();
    for (name, d) in &config.destinations {
        match d.kind.mappings() {
            Some(Ok(set)) => {
                sets.insert(name.clone(), set);
            }
            Some(Err(e)) => errors.extend(e.0.into_iter().map(|problem| ConfigError {
                key: format!("destinations.{name}.mappings_dir"),
                message: problem.to_string(),
            })),
            None => {}
        }
    }
    sets
}
