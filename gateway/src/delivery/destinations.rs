//! Builds the configured destinations: connector, retry policy, concurrency limit and breaker.
//!
//! A destination's *wiring* (connector with its mappings, credentials and TLS identity, follow-up
//! client, retry policy) can be swapped by a configuration reload ([`Destination::rewire`]); its
//! concurrency slots and circuit breaker stay, so a reload neither resets a paused destination
//! nor lets more deliveries in flight than before. Deliveries already running finish with the
//! connector they started with.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use lienthong_connectors::Connector;
use lienthong_connectors::follow::Follow;
use lienthong_connectors::kind::BuildContext;
use tokio::sync::Semaphore;

use crate::config::{Config, RetryPolicy};
use crate::delivery::breaker::Breaker;
use crate::trust::security::Security;

/// One destination, ready to deliver to.
pub struct Destination {
    /// Configured name.
    pub name: String,
    /// What a reload may replace.
    wiring: RwLock<Wiring>,
    /// Limits deliveries in flight.
    pub slots: Arc<Semaphore>,
    /// Concurrency limit (the semaphore's size).
    pub concurrency: usize,
    /// Circuit breaker.
    pub breaker: Breaker,
    /// Held back by a failure of this gateway's own (kept out of the breaker).
    pub hold: crate::delivery::hold::Hold,
}

/// The reloadable part of a destination.
#[derive(Clone)]
struct Wiring {
    connector: Arc<dyn Connector>,
    follow: Option<Arc<dyn Follow>>,
    retry: RetryPolicy,
}

impl Destination {
    /// The connector in force (mappings, credentials, outbound TLS of the last good configuration).
    pub fn connector(&self) -> Arc<dyn Connector> {
        self.wiring().connector
    }

    /// For a destination that decides dossiers itself (NBRS): how to ask it their status.
    pub fn follow(&self) -> Option<Arc<dyn Follow>> {
        self.wiring().follow
    }

    /// The retry schedule in force.
    pub fn retry(&self) -> RetryPolicy {
        self.wiring().retry
    }

    /// Takes the connector, follow-up client and retry policy of `newer` (the same destination
    /// built from a reloaded configuration); slots and breaker stay.
    pub fn rewire(&self, newer: &Destination) {
        let w = newer.wiring();
        *self.wiring.write().unwrap_or_else(|p| p.into_inner()) = w;
    }

    fn wiring(&self) -> Wiring {
        self.wiring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A destination could not be built.
#[derive(Debug, thiserror::Error)]
#[error("destinations.{name}: {source}")]
pub struct DestinationError {
    /// Name.
    pub name: String,
    /// Why.
    #[source]
    pub source: lienthong_connectors::BuildError,
}

/// Destinations that could not be built: every one, with its reason.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct DestinationErrors(pub Vec<DestinationError>);

/// Every configured destination, by name.
pub type Destinations = BTreeMap<String, Arc<Destination>>;

/// Destinations' loaded mapping sets, by destination name.
pub type MappingSets = BTreeMap<String, lienthong_mappings::MappingSet>;

/// Builds all destinations of a configuration, each with its outbound TLS and signer from
/// `security` and its mapping set from `mappings` (loaded with the configuration; a destination
/// absent from it loads its own).
///
/// Errors: every destination that cannot be built (bad credentials file, mappings…).
pub fn build(
    config: &Config,
    security: &Security,
    mappings: &MappingSets,
) -> Result<Destinations, DestinationErrors> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, d) in &config.destinations {
        let outbound = security.outbound.get(name).cloned().unwrap_or_default();
        let built = d
            .kind
            .config()
            .build(&BuildContext {
                outbound: &outbound,
                xml_signer: security.signing.as_ref().map(|s| Arc::new(s.xml.clone())),
                center_code: &config.center.agency_code,
                center_name: &config.center.agency_name,
                attachments: &config.attachments,
                loaded_mappings: mappings.get(name),
            })
            .map_err(|source| DestinationError {
                name: name.clone(),
                source,
            });
        let built = match built {
            Ok(b) => b,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let (connector, follow) = (built.connector, built.follow);
        out.insert(
            name.clone(),
            Arc::new(Destination {
                name: name.clone(),
                wiring: RwLock::new(Wiring {
                    connector,
                    follow,
                    retry: d.retry,
                }),
                slots: Arc::new(Semaphore::new(d.concurrency)),
                concurrency: d.concurrency,
                breaker: Breaker::new(d.circuit_breaker),
                hold: crate::delivery::hold::Hold::default(),
            }),
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(DestinationErrors(errors))
    }
}
