//! Destination connectors: one module per destination kind.
//!
//! A connector knows how to talk to one kind of system: its transport (URLs, envelopes),
//! its authentication (sessions, OAuth2 tokens) and how to read its answers. It only
//! *classifies* each attempt into an [`Outcome`]; when to try again is decided once, by the
//! gateway's dispatcher, from the destination's retry policy (the same split as Vector's sinks and
//! `RetryLogic`).
//!
//! Layout of a connector module, the same in every folder: `config.rs` (the documented config
//! struct and its validation, declared with [`endpoint::destination_config!`], which appends the
//! keys every kind shares — timeouts, `[oauth]`, `mappings_dir` — with one documentation and one
//! set of defaults), `classify.rs` (answers → outcomes; a webhook's is two lines: 2xx, else
//! [`http::status_error`]), transports where the kind has more than one (`dvcqg/session.rs`,
//! `dvcqg/lgsp.rs`, `peer/axis.rs`), `inbound.rs` / `push.rs` / `result.rs` where the kind also
//! receives, `mod.rs` (the [`Connector`] implementation, the kind's `render(set, body)` that the
//! connector and `lienthong mapping render` share, and the config's [`kind::KindConfig`]: its
//! URLs, secret files, rendering, needs of other sections and how the gateway builds it) and
//! `tests.rs`. The gateway lists the kinds once (`kind` value → config type); everything else it
//! asks through [`kind::KindConfig`], and it loads each destination's mapping set once, with the
//! configuration, and hands it to the builder.

pub mod dvcqg;
pub mod emc;
pub mod endpoint;
pub mod evidence;
pub mod files;
pub mod follow;
pub mod health;
pub mod http;
pub mod investment;
pub mod kind;
pub mod message;
pub mod nbrs;
pub mod oauth;
pub mod outcome;
pub mod payment;
pub mod peer;
pub mod push;
pub mod read;
pub mod serde_duration;
pub mod signing;
pub mod webhook;
pub mod xroad;

use async_trait::async_trait;
use lienthong_mappings::RenderError;

pub use message::{DossierOp, MessageBody, MessageKind, Notice, OutboundMessage};
pub use outcome::{Outcome, PortalAnswer};

/// A problem in a destination's configuration, with its key relative to the destination table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Key, e.g. `password_file`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigProblem {
    /// Builds a problem.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why a connector could not be built from a validated configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration has problems.
    #[error("{}", .0.iter().map(|p| format!("{}: {}", p.key, p.message)).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigProblem>),
    /// A credential file could not be read.
    #[error(transparent)]
    Secret(#[from] lienthong_certs::SecretError),
    /// The mapping set lacks what this connector needs.
    #[error("mappings: {0}")]
    Mappings(#[from] lienthong_mappings::LoadError),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// What a destination's own check at intake found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeCheck {
    /// Nothing to object to.
    Passed,
    /// The dossier is wrong for this destination: refused at the counter (422) with the field.
    Refused {
        /// The dossier field at fault, e.g. `business.enterprise_code`.
        field: String,
        /// Why.
        message: String,
    },
    /// The check could not be made (the destination is down): the dossier is taken anyway.
    Skipped(String),
}

/// A destination the dispatcher can deliver messages to.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The destination kind (`dvcqg`, …).
    fn kind(&self) -> &'static str;

    /// Whether this destination takes messages of `kind` at all (NBRS takes dossiers, not the
    /// center's status events: it is the system that decides them). The gateway queues only
    /// what a destination takes.
    fn takes(&self, kind: MessageKind) -> bool {
        let _ = kind;
        true
    }

    /// Whether [`Connector::verify_at_intake`] does anything (a call to the destination); when
    /// no destination of a dossier does, the gateway need not ask its store whether the dossier
    /// is a repeat before storing it.
    fn checks_at_intake(&self) -> bool {
        false
    }

    /// A check at intake that needs the destination itself (NBRS: does the enterprise an
    /// amendment names exist?). Called after [`Connector::check`], before the dossier is stored,
    /// and only for a dossier that is not an exact repeat of the stored one.
    async fn verify_at_intake(&self, body: &MessageBody) -> IntakeCheck {
        let _ = body;
        IntakeCheck::Passed
    }

    /// How many consecutive messages of `kind` (same dossier) one call may carry; 1 = no batching.
    fn batch_limit(&self, kind: MessageKind) -> usize {
        let _ = kind;
        1
    }

    /// Checks that a message can be rendered for this destination; called at intake so that a
    /// dossier that cannot be sent is refused at the counter, with the field named.
    fn check(&self, body: &MessageBody) -> Result<(), RenderError>;

    /// Renders a message as the destination will receive it (for `lienthong mapping render`).
    fn render(&self, body: &MessageBody) -> Result<serde_json::Value, RenderError>;

    /// Delivers a batch of messages of one dossier (at most [`Self::batch_limit`], same kind) in
    /// one exchange and classifies what happened. Never panics on a bad answer: every failure is
    /// an [`Outcome`].
    async fn deliver(&self, batch: &[OutboundMessage]) -> Outcome;

    /// Probes the destination without sending anything that changes it: reaches its endpoint
    /// (TCP, TLS with the destination's trust and identity) and, where it has one, runs its
    /// authentication step (a login, a token request).
    async fn healthcheck(&self) -> health::Health;
}
