//! `[callbacks]`: pushes from the national systems (status callbacks, payments, investment
//! results) and the secrets or signatures they are checked with.
//!
//! [`PUSH_SOURCES`] is the inbound registry: one line per system that pushes, each a
//! [`PushSource`] implemented in its connector folder. A source's `[callbacks.<name>]` table is
//! read by the authentication the source declares ([`SharedKeyConfig`] or
//! [`SignedPushConfig`]); nothing else in the gateway names a source.

use lienthong_connectors::push::{Authentication, PushSource};

use super::section::section;
use super::*;

/// Every system that pushes to `POST /v1/callbacks/{source}`: adding one is a folder in
/// `connectors/` implementing [`PushSource`] and a line here.
pub const PUSH_SOURCES: &[&dyn PushSource] = &[
    &lienthong_connectors::dvcqg::push::PortalSource,
    &lienthong_connectors::payment::PaymentSource,
    &lienthong_connectors::investment::result::InvestmentSource,
];

/// The push source called `name`, if there is one.
pub fn push_source(name: &str) -> Option<&'static dyn PushSource> {
    PUSH_SOURCES.iter().copied().find(|s| s.name() == name)
}

/// The names of the push sources, for messages (`dvcqg, payment, investment`).
pub fn push_source_names() -> String {
    PUSH_SOURCES
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[callbacks]`: pushes from the national systems at `POST /v1/callbacks/{source}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    /// Webhook destinations (the center's one-stop software) pushes are forwarded to.
    #[serde(default)]
    pub forward_to: Vec<String>,
    /// Largest push (`32MiB`: a dossier filed on the national portal carries its files).
    #[serde(default = "default_callbacks_max_body", deserialize_with = "de_size")]
    pub max_body: u64,
    /// A dated push (payment, tax notice, receipt) older than this is refused as a replay
    /// (`7d`).
    #[serde(default = "default_callbacks_max_age", with = "serde_duration")]
    pub max_age: Duration,
    /// How far in the future a push may be dated (`5m`, clocks differ).
    #[serde(default = "default_exchange_skew", with = "serde_duration")]
    pub max_skew: Duration,
    /// `[callbacks.<source>]`, by source name: how each configured source is believed. A
    /// source without a table is refused (403). Read by [`parse_callbacks`], not by serde.
    #[serde(skip)]
    pub sources: BTreeMap<&'static str, PushSourceConfig>,
}

/// `[callbacks.<source>]`: what a push source is checked with, by its [`Authentication`].
#[derive(Debug, Clone)]
pub enum PushSourceConfig {
    /// A shared secret (`dvcqg`, `payment`).
    SharedKey(SharedKeyConfig),
    /// A signature by an allowed signer of a trust store (`investment`).
    Signature(SignedPushConfig),
}

/// Reads `[callbacks]`: its own keys, then one table per push source of [`PUSH_SOURCES`], each
/// by the authentication its source declares. A table named after no source is an error
/// naming the sources there are.
pub(super) fn parse_callbacks(
    value: Option<toml::Value>,
    errors: &mut Vec<ConfigError>,
) -> Option<CallbacksConfig> {
    let Some(toml::Value::Table(mut table)) = value else {
        return match value {
            None => Some(CallbacksConfig::default()),
            Some(v) => section::<CallbacksConfig>("callbacks", v, errors),
        };
    };
    let mut sources = BTreeMap::new();
    let mut ok = true;
    for source in PUSH_SOURCES {
        let name = source.name();
        let Some(v) = table.remove(name) else {
            continue;
        };
        let key = format!("callbacks.{name}");
        let parsed = match source.authentication() {
            Authentication::SharedKey => {
                section::<SharedKeyConfig>(&key, v, errors).map(PushSourceConfig::SharedKey)
            }
            Authentication::Signature => {
                section::<SignedPushConfig>(&key, v, errors).map(PushSourceConfig::Signature)
            }
        };
        match parsed {
            Some(p) => {
                sources.insert(name, p);
            }
            None => ok = false,
        }
    }
    let unknown: Vec<String> = table
        .iter()
        .filter(|(_, v)| v.is_table())
        .map(|(k, _)| k.clone())
        .collect();
    for k in unknown {
        table.remove(&k);
        ok = false;
        errors.push(err(
            format!("callbacks.{k}"),
            format!(
                "unknown push source (the sources are {})",
                push_source_names()
            ),
        ));
    }
    let own = section::<CallbacksConfig>("callbacks", toml::Value::Table(table), errors)?;
    ok.then_some(CallbacksConfig { sources, ..own })
}

/// A pusher that signs what it pushes (XML-DSig): whose certificates are believed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPushConfig {
    /// The `[trust.<name>]` its signing certificates chain to.
    pub trust: String,
    /// Names its signer may carry (the whole DN, a CN or a SAN, each exact); required: a trust
    /// store vouches for every certificate its CA issued, not only the investment system's.
    #[serde(default)]
    pub signers: Vec<String>,
}

/// A shared secret agreed with a pushing system: inline or, better, in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedKeyConfig {
    /// The secret (DVCQG's `SecurityKey`, the payment platform's hash key).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file holding it (e.g. a systemd credential).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl SharedKeyConfig {
    /// Checks that exactly one of `secret` and `secret_file` is given (without reading the file).
    ///
    /// Errors: [`SharedKeyError::Both`] or [`SharedKeyError::Missing`].
    pub fn check(&self) -> Result<(), SharedKeyError> {
        match (&self.secret, &self.secret_file) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => Err(SharedKeyError::Both),
            (None, None) => Err(SharedKeyError::Missing),
        }
    }

    /// The secret.
    ///
    /// Errors: neither or both given ([`SharedKeyError`] as [`SharedKeyConfig::check`]), or
    /// the file cannot be read.
    pub fn load(&self) -> Result<Secret, SharedKeyError> {
        self.check()?;
        match (&self.secret, &self.secret_file) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(f)) => Secret::from_file(f).map_err(SharedKeyError::File),
            (None, None) => Err(SharedKeyError::Missing),
        }
    }
}

/// Why a shared secret cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum SharedKeyError {
    /// Neither `secret` nor `secret_file`.
    #[error("missing secret (or secret_file)")]
    Missing,
    /// Both.
    #[error("give secret or secret_file, not both")]
    Both,
    /// The file cannot be read (or is empty).
    #[error(transparent)]
    File(lienthong_certs::SecretError),
}

const fn default_callbacks_max_body() -> u64 {
    32 * 1024 * 1024
}
const fn default_callbacks_max_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            forward_to: Vec::new(),
            max_body: default_callbacks_max_body(),
            max_age: default_callbacks_max_age(),
            max_skew: default_exchange_skew(),
            sources: BTreeMap::new(),
        }
    }
}

impl OnReload for CallbacksConfig {
    fn on_reload(&self, new: &Self, c: &mut Changes) {
        let Self {
            forward_to,
            max_body: _,
            max_age: _,
            max_skew: _,
            sources: _,
        } = self;
        // Where notices go is wired into the follow-up pollers at start-up.
        c.restart("forward_to", forward_to, &new.forward_to);
        // The push settings are swapped by the reload and read per push.
        c.live("max_body");
        c.live("max_age");
        c.live("max_skew");
        for source in PUSH_SOURCES {
            c.live(source.name());
        }
    }
}
