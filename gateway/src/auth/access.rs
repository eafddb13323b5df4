//! Who may call what (mô hình bảo mật): the parts of the HTTP API and the rule that none of them
//! is left open on a listener other hosts can reach.
//!
//! The API has four parts ([`Area`]):
//! - the **center's API** (intake, events, tracking, statistics, the dossier schema:
//!   `/v1/dossiers…`, `/v1/stats`, `/v1/schema/dossier`),
//!   called by the center's one-stop system (phần mềm một cửa);
//! - the **admin API** (deliveries, replay, reload, received messages, metrics, the console);
//! - **inbound** routes (`/v1/exchange`, `/v1/callbacks/{source}`), which authenticate each
//!   message by its own signature, shared key or client certificate;
//! - **public** routes: liveness and readiness's status, nothing else.
//!
//! The center's API is authenticated by a client-certificate rule, an RFC 9421 signed route or
//! the center's bearer token; the admin API by the admin token (or a console session) or a
//! client-certificate rule for admin paths. No address is an identity: an API the configuration
//! leaves without a credential gets a token generated at the first start ([`crate::auth::tokens`]),
//! unless `server.allow_unauthenticated = true` says it is a lab — then it is open to everyone
//! and every start logs a warning.
//!
//! This module is pure policy over the configuration; `http::guard` applies it per request.

use crate::config::{ClientAuthRule, ConfigError, ServerConfig, SignedRouteRule};

/// A part of the HTTP API, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Intake, events, tracking, statistics and the dossier schema, for the center's one-stop
    /// system.
    Center,
    /// Delivery administration, reload, received messages, metrics, the console.
    Admin,
    /// The console's sign-in page (reachable without a session, rate-limited).
    ConsoleLogin,
    /// Messages from other systems, each authenticated by its own signature or key.
    Inbound,
    /// Liveness and readiness's status (and unknown paths, which answer 404).
    Public,
}

/// What an administrator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything of the admin API and the console (the admin token, an admin certificate
    /// rule, loopback on a loopback listener without a token, an operator's console session).
    Operator,
    /// Read the statistics screens only ([`viewer_may`]): the display boards of the center's
    /// hall (the viewer token, a viewer's console session).
    Viewer,
}

impl Role {
    /// The name stored with a console session.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    /// The role of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "operator" => Some(Self::Operator),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    /// The role a presented token grants, the one place tokens become roles (the admin API's
    /// bearer token and the console's sign-in form both ask here): the admin token an
    /// operator's, the viewer token a viewer's, anything else none. Compared in constant time.
    pub fn of_token(
        admin: Option<&lienthong_certs::Secret>,
        viewer: Option<&lienthong_certs::Secret>,
        presented: &str,
    ) -> Option<Self> {
        if admin.is_some_and(|t| t.matches(presented)) {
            Some(Self::Operator)
        } else if viewer.is_some_and(|t| t.matches(presented)) {
            Some(Self::Viewer)
        } else {
            None
        }
    }
}

/// What the viewer role may do: read the console's overview and deadline statistics and
/// `/v1/stats`. Not dead letters or dossiers (personal data), not replay or reload.
pub fn viewer_may(method: &http::Method, path: &str) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD)
        && matches!(path, "/console" | "/console/stats" | "/v1/stats")
}

/// Sample paths of the center's API, checked by [`unprotected`].
pub const CENTER_PATHS: &[&str] = &[
    "/v1/dossiers",
    "/v1/dossiers/{code}",
    "/v1/dossiers/{code}/events",
    "/v1/stats",
    "/v1/schema/dossier",
    "/v1/schema/notices",
];

/// Sample paths of the admin API, checked by [`unprotected`].
pub const ADMIN_PATHS: &[&str] = &[
    "/v1/deliveries",
    "/v1/deliveries/{id}/replay",
    "/v1/admin/reload",
    "/v1/callbacks/received/{dossier}",
    "/v1/exchange/received/{dossier}",
    "/metrics",
    "/console",
];

/// The part of the API `path` belongs to. Unknown paths are [`Area::Public`] (they answer 404).
pub fn area(path: &str) -> Area {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if path == "/console/login" {
        Area::ConsoleLogin
    } else if under("/v1/dossiers") || under("/v1/stats") || under("/v1/schema") {
        Area::Center
    } else if under("/v1/deliveries")
        || under("/v1/admin")
        || under("/v1/callbacks/received")
        || under("/v1/exchange/received")
        || under("/metrics")
        || under("/console")
    {
        Area::Admin
    } else if under("/v1/callbacks") || under("/v1/exchange") {
        Area::Inbound
    } else {
        Area::Public
    }
}

/// The authentication methods a configuration offers, per path.
#[derive(Debug, Clone, Copy)]
pub struct Methods<'a> {
    /// `server.center_token_file` is set.
    pub center_token: bool,
    /// `server.admin_token` or `server.admin_token_file` is set.
    pub admin_token: bool,
    /// `[[server.client_auth]]`.
    pub client_auth: &'a [ClientAuthRule],
    /// `[[server.signed_routes]]`.
    pub signed_routes: &'a [SignedRouteRule],
}

impl<'a> Methods<'a> {
    /// The methods of `[server]`.
    pub fn of(server: &'a ServerConfig) -> Self {
        Self {
            center_token: server.center_token_file.is_some(),
            admin_token: server.admin_token.is_some() || server.admin_token_file.is_some(),
            client_auth: &server.client_auth,
            signed_routes: &server.signed_routes,
        }
    }

    /// The client-certificate rule that applies to `path` (the longest matching prefix).
    pub fn client_rule(&self, path: &str) -> Option<&'a ClientAuthRule> {
        longest(self.client_auth, path, |r| &r.path_prefix)
    }

    /// Whether a client certificate is required on `path`.
    pub fn certificate_required(&self, path: &str) -> bool {
        self.client_rule(path).is_some_and(|r| r.required)
    }

    /// Whether a client certificate accepted on `path` makes its holder an administrator: only
    /// a rule written for admin paths does (a rule for `/` or `/v1/` covers the center's
    /// clients and peers too, and must not turn them into administrators).
    pub fn certificate_is_admin(&self, path: &str) -> bool {
        self.client_rule(path).is_some_and(rule_is_admin)
    }

    /// Whether an RFC 9421 signature is required on `path`.
    pub fn signature_required(&self, path: &str) -> bool {
        longest(self.signed_routes, path, |r| &r.path_prefix).is_some()
    }

    /// Whether every request to the center's API at `path` must authenticate.
    pub fn center_protected(&self, path: &str) -> bool {
        self.center_token || self.certificate_required(path) || self.signature_required(path)
    }

    /// Whether every request to the admin API at `path` must authenticate by a credential (not
    /// by its address).
    pub fn admin_protected(&self, path: &str) -> bool {
        self.admin_token || (self.certificate_required(path) && self.certificate_is_admin(path))
    }
}

/// Whether a client-certificate rule is written for admin paths, so that a certificate it
/// accepts makes an administrator.
pub fn rule_is_admin(rule: &ClientAuthRule) -> bool {
    area(rule.path_prefix.trim_end_matches('/')) == Area::Admin
}

/// The longest rule whose prefix `path` starts with.
pub fn longest<'a, T>(rules: &'a [T], path: &str, prefix: impl Fn(&T) -> &String) -> Option<&'a T> {
    rules
        .iter()
        .filter(|r| path.starts_with(prefix(r).as_str()))
        .max_by_key(|r| prefix(r).len())
}

/// What the configuration leaves without a credential of its own: one problem per API (center,
/// admin) with the paths and the keys that would close them. Without
/// `server.allow_unauthenticated` these get a token generated at the first start
/// ([`crate::auth::tokens`]); with it (a lab) they are open to every caller, whatever its address.
pub fn unprotected(server: &ServerConfig) -> Vec<ConfigError> {
    let methods = Methods::of(server);
    let mut problems = Vec::new();
    let open: Vec<&str> = CENTER_PATHS
        .iter()
        .copied()
        .filter(|p| !methods.center_protected(p))
        .collect();
    if !open.is_empty() {
        problems.push(ConfigError {
            key: "server.center_token_file".into(),
            message: format!(
                "the center's API ({}) has no credential of its own: set server.center_token_file, or a [[server.client_auth]] or [[server.signed_routes]] rule covering it",
                open.join(", ")
            ),
        });
    }
    let open: Vec<&str> = ADMIN_PATHS
        .iter()
        .copied()
        .filter(|p| !methods.admin_protected(p))
        .collect();
    if !open.is_empty() {
        problems.push(ConfigError {
            key: "server.admin_token_file".into(),
            message: format!(
                "the admin API ({}) has no credential of its own: set server.admin_token_file, or a required [[server.client_auth]] rule for the admin paths",
                open.join(", ")
            ),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(extra: &str) -> ServerConfig {
        toml::from_str(extra).expect("server section")
    }

    #[test]
    fn paths_fall_in_their_area() {
        for (path, want) in [
            ("/v1/dossiers", Area::Center),
            ("/v1/dossiers/000.02.01.H37-261204-0001", Area::Center),
            ("/v1/dossiers/X/events", Area::Center),
            ("/v1/stats", Area::Center),
            ("/v1/statsX", Area::Public),
            ("/v1/deliveries/7/replay", Area::Admin),
            ("/v1/admin/reload", Area::Admin),
            ("/v1/callbacks/received/X", Area::Admin),
            ("/v1/exchange/received/X", Area::Admin),
            ("/metrics", Area::Admin),
            ("/console", Area::Admin),
            ("/console/dead", Area::Admin),
            ("/console/login", Area::ConsoleLogin),
            ("/v1/callbacks/dvcqg", Area::Inbound),
            ("/v1/exchange", Area::Inbound),
            ("/healthz", Area::Public),
            ("/readyz", Area::Public),
            ("/v1/schema/dossier", Area::Center),
        ] {
            assert_eq!(area(path), want, "{path}");
        }
    }

    #[test]
    fn what_is_left_without_a_credential_is_named() {
        let p = unprotected(&server(""));
        let keys: Vec<&str> = p.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["server.center_token_file", "server.admin_token_file"]
        );
        assert!(p[0].message.contains("/v1/dossiers/{code}"), "{}", p[0]);
        // The admin token alone leaves the center's API open (the cluster example before).
        let p = unprotected(&server("admin_token_file = \"/x\""));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "server.center_token_file");
        let both = server("admin_token_file = \"/x\"\ncenter_token_file = \"/y\"");
        assert!(unprotected(&both).is_empty());
    }

    #[test]
    fn rules_protect_only_what_they_cover() {
        // A signed route on intake leaves tracking and statistics open.
        let s = server(
            "admin_token_file = \"/x\"\n[[signed_routes]]\npath_prefix = \"/v1/dossiers\"\nkeys = []\n",
        );
        let p = unprotected(&s);
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("/v1/stats"), "{}", p[0]);
        assert!(!p[0].message.contains("/v1/dossiers/{code}"), "{}", p[0]);
        // A certificate rule that is not required does not protect.
        let s = server(
            "admin_token_file = \"/x\"\n[[client_auth]]\npath_prefix = \"/v1/\"\nrequired = false\n",
        );
        assert_eq!(unprotected(&s).len(), 1);
        // A required rule for /v1/ protects the center's API, not the admin API.
        let s = server("center_token_file = \"/y\"\n[[client_auth]]\npath_prefix = \"/v1/\"\n");
        let m = Methods::of(&s);
        assert!(m.center_protected("/v1/dossiers"));
        assert!(!m.certificate_is_admin("/v1/deliveries"));
        let p = unprotected(&s);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "server.admin_token_file");
        // Rules for every admin path do.
        let s = server(
            "center_token_file = \"/y\"\n[[client_auth]]\npath_prefix = \"/v1/deliveries\"\n[[client_auth]]\npath_prefix = \"/v1/admin/\"\n[[client_auth]]\npath_prefix = \"/v1/callbacks/received/\"\n[[client_auth]]\npath_prefix = \"/v1/exchange/received/\"\n[[client_auth]]\npath_prefix = \"/metrics\"\n[[client_auth]]\npath_prefix = \"/console\"\n",
        );
        assert!(unprotected(&s).is_empty());
    }

    /// Tokens become roles in one place: the admin token an operator's, the viewer token a
    /// viewer's, a wrong or a missing one nothing, whatever else is configured.
    #[test]
    fn a_token_grants_the_role_it_was_made_for_and_nothing_else() {
        use lienthong_certs::Secret;
        let admin = Secret::new("admin-token-of-thirty-two-chars-x".to_owned());
        let viewer = Secret::new("viewer-token-of-thirty-two-chars".to_owned());
        let both = (Some(&admin), Some(&viewer));
        assert_eq!(
            Role::of_token(both.0, both.1, "admin-token-of-thirty-two-chars-x"),
            Some(Role::Operator)
        );
        assert_eq!(
            Role::of_token(both.0, both.1, "viewer-token-of-thirty-two-chars"),
            Some(Role::Viewer)
        );
        assert_eq!(Role::of_token(both.0, both.1, "admin-token"), None);
        assert_eq!(Role::of_token(both.0, both.1, ""), None);
        assert_eq!(
            Role::of_token(None, Some(&viewer), "admin-token-of-thirty-two-chars-x"),
            None
        );
        assert_eq!(Role::of_token(None, None, ""), None);
    }
}
