//! The classified result of one delivery attempt.

use std::time::Duration;

/// What the destination said, in its own words (kept on the attempt for operators).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortalAnswer {
    /// The portal's error code (`error_code`), as text.
    pub code: String,
    /// The portal's message.
    pub message: String,
    /// The destination's own reference for what it took, to follow it later (NBRS's receipt
    /// number `IN_JOURNAL_NO`, polled for the registration's status).
    pub reference: Option<String>,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The destination took it.
    Delivered {
        /// HTTP status of the final call.
        http_status: Option<u16>,
        /// The destination's reference or answer, if any.
        portal: Option<PortalAnswer>,
    },
    /// A temporary failure: try again later (connect error, timeout, 5xx, 408, 429…).
    Retry {
        /// What went wrong.
        error: String,
        /// HTTP status, when there was an answer.
        http_status: Option<u16>,
        /// The destination's `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The portal's own answer, when there was one.
        portal: Option<PortalAnswer>,
    },
    /// Nothing was sent: something of this gateway's own is unavailable for now (the signing key
    /// on a token that was pulled out). Not the destination's fault: its circuit breaker does not
    /// count it, and the message waits, without becoming a dead letter, until the resource is
    /// back.
    Local {
        /// What is missing.
        error: String,
    },
    /// A permanent refusal (invalid data, other 4xx): trying again cannot help.
    Reject {
        /// What went wrong.
        error: String,
        /// HTTP status, when there was an answer.
        http_status: Option<u16>,
        /// The portal's own answer, when there was one.
        portal: Option<PortalAnswer>,
    },
}

impl Outcome {
    /// A temporary failure without an HTTP answer.
    pub fn retry(error: impl Into<String>) -> Self {
        Self::Retry {
            error: error.into(),
            http_status: None,
            retry_after: None,
            portal: None,
        }
    }

    /// This gateway cannot make the attempt now ([`Outcome::Local`]).
    pub fn local(error: impl Into<String>) -> Self {
        Self::Local {
            error: error.into(),
        }
    }

    /// A permanent failure without an HTTP answer.
    pub fn reject(error: impl Into<String>) -> Self {
        Self::Reject {
            error: error.into(),
            http_status: None,
            portal: None,
        }
    }

    /// The label used in metrics and the attempts table.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Retry { .. } => "retry",
            Self::Local { .. } => "local",
            Self::Reject { .. } => "rejected",
        }
    }

    /// HTTP status of the attempt, when there was an answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Delivered { http_status, .. }
            | Self::Retry { http_status, .. }
            | Self::Reject { http_status, .. } => *http_status,
            Self::Local { .. } => None,
        }
    }

    /// The portal's answer, when there was one.
    pub fn portal(&self) -> Option<&PortalAnswer> {
        match self {
            Self::Delivered { portal, .. }
            | Self::Retry { portal, .. }
            | Self::Reject { portal, .. } => portal.as_ref(),
            Self::Local { .. } => None,
        }
    }

    /// The error text, for failures.
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Delivered { .. } => None,
            Self::Retry { error, .. } | Self::Reject { error, .. } | Self::Local { error } => {
                Some(error)
            }
        }
    }
}
