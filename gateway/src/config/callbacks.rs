//! `[callbacks]`: pushes from the national systems (status callbacks, payments, investment
//! results) and the secrets or signatures they are checked with.

use super::*;

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
    /// `[callbacks.dvcqg]`: the national portal's pushes.
    #[serde(default)]
    pub dvcqg: Option<SharedKeyConfig>,
    /// `[callbacks.payment]`: the payment platform's confirmations.
    #[serde(default)]
    pub payment: Option<SharedKeyConfig>,
    /// `[callbacks.investment]`: the investment system's signed results.
    #[serde(default)]
    pub investment: Option<SignedPushConfig>,
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
    /// Errors: neither or both given.
    pub fn check(&self) -> Result<(), &'static str> {
        match (&self.secret, &self.secret_file) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => Err("give secret or secret_file, not both"),
            (None, None) => Err("missing secret (or secret_file)"),
        }
    }

    /// The secret.
    ///
    /// Errors: neither or both given, or the file cannot be read.
    pub fn load(&self) -> Result<Secret, String> {
        match (&self.secret, &self.secret_file) {
            (Some(s), None) => Ok(s.clone()),
            (None, Some(f)) => Secret::from_file(f).map_err(|e| e.to_string()),
            (Some(_), Some(_)) => Err("give secret or secret_file, not both".into()),
            (None, None) => Err("missing secret (or secret_file)".into()),
        }
    }
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
            dvcqg: None,
            payment: None,
            investment: None,
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
            dvcqg: _,
            payment: _,
            investment: _,
        } = self;
        // Where notices go is wired into the follow-up pollers at start-up.
        c.restart("forward_to", forward_to, &new.forward_to);
        // The push settings are swapped by the reload and read per push.
        c.live("max_body");
        c.live("max_age");
        c.live("max_skew");
        c.live("dvcqg");
        c.live("payment");
        c.live("investment");
    }
}
