//! A trust store's revocation settings ([`Revocation`]): how its certificates are checked
//! (CRL files, OCSP, or OCSP then CRL files) and what an unknown status means. A leaf, so that
//! a trust store can carry its settings without importing the checker
//! ([`crate::revocation::RevocationChecker`]), which validates against trust stores.

use std::time::Duration;

/// How a trust store's certificates are checked for revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// CRL files only (checked during chain validation).
    #[default]
    Crl,
    /// OCSP only.
    Ocsp,
    /// OCSP; the CRL files when the responder gives no usable answer.
    OcspThenCrl,
}

impl Policy {
    /// Whether a responder is asked.
    pub fn uses_ocsp(self) -> bool {
        !matches!(self, Self::Crl)
    }

    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
            Self::OcspThenCrl => "ocsp-then-crl",
        }
    }
}

/// What to do when the status cannot be learnt: the responder says `unknown`, cannot be
/// reached, or answers something that is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnUnknown {
    /// Refuse the certificate (fail closed).
    #[default]
    Deny,
    /// Accept it, and report it.
    Allow,
}

/// A trust store's revocation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// How certificates are checked.
    pub policy: Policy,
    /// When the status cannot be learnt.
    pub on_unknown: OnUnknown,
    /// The responder to ask instead of the one the certificate names (AIA).
    pub responder: Option<String>,
    /// The limit on one exchange with the responder.
    pub timeout: Duration,
    /// Refuse answers that do not echo the request's nonce (pre-produced answers).
    pub require_nonce: bool,
}

impl Default for Revocation {
    fn default() -> Self {
        Self {
            policy: Policy::Crl,
            on_unknown: OnUnknown::Deny,
            responder: None,
            timeout: Duration::from_secs(5),
            require_nonce: true,
        }
    }
}
