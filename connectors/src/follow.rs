//! Following what a destination took: some systems decide the dossier themselves and only
//! answer questions about it (NBRS's registration status). A destination that gave a reference
//! when it took a dossier ([`crate::PortalAnswer::reference`]) and implements [`Follow`] is
//! polled by the gateway until the status it reports is final.

use async_trait::async_trait;
use lienthong_mappings::DossierStatus;
use serde_json::Value;

use crate::Outcome;

/// How often and how fast a destination is polled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPace {
    /// How long after a poll a dossier is asked again.
    pub interval: std::time::Duration,
    /// At most this many requests per second.
    pub rate: f64,
    /// Dossiers taken per round.
    pub batch: u32,
}

/// What the destination reports about one followed dossier.
#[derive(Debug, Clone, PartialEq)]
pub struct Followed {
    /// The destination's own status code.
    pub code: String,
    /// The canonical status it means, when known.
    pub canonical: Option<DossierStatus>,
    /// Whether nothing more will change (the dossier stops being polled).
    pub is_final: bool,
    /// The destination's whole answer, told to the center.
    pub report: Value,
}

/// A destination whose dossiers are followed by polling.
#[async_trait]
pub trait Follow: Send + Sync {
    /// How it is polled.
    fn pace(&self) -> PollPace;

    /// Asks for the status of what it took under `reference`.
    ///
    /// Errors: the outcome of a failed call (retry: ask again later; reject: the destination
    /// does not know the reference).
    async fn status_of(&self, reference: &str) -> Result<Followed, Outcome>;
}
