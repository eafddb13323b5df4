//! The configuration's warnings, as `check-config` prints them and `serve` logs them at every
//! start. They are written here, with the rules of who may call what, and not in `config`,
//! because the first of them is an access rule: an API the configuration leaves without a
//! credential (`server.allow_unauthenticated`, a lab) is open to every caller. The rest are the
//! configuration's own ([`Config::own_warnings_at`]). `config` names nothing of `auth`; `auth`
//! reads the configuration.

use crate::auth::access::unprotected;
use crate::config::{Config, ConfigError};

impl Config {
    /// What check-config prints as warnings and `serve` logs at every start: an exposed
    /// listener left open by `server.allow_unauthenticated`, secret files others can read.
    pub fn warnings(&self) -> Vec<ConfigError> {
        self.warnings_at(self.server.listen)
    }

    /// [`Config::warnings`] for a listener bound at `listen`.
    pub fn warnings_at(&self, listen: std::net::SocketAddr) -> Vec<ConfigError> {
        let mut warnings = Vec::new();
        if self.server.allow_unauthenticated {
            let open = unprotected(&self.server);
            if open.is_empty() {
                warnings.push(ConfigError::new(
                    "server.allow_unauthenticated",
                    "is set (it is not needed: every API has authentication)",
                ));
            }
            warnings.extend(open.into_iter().map(|e| ConfigError {
                message: format!(
                    "{} — open to every caller, whatever its address, because server.allow_unauthenticated is set (a lab only)",
                    e.message
                ),
                ..e
            }));
        }
        warnings.extend(self.own_warnings_at(listen));
        warnings
    }
}
