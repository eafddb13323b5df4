//! The listener's certificate with a stapled OCSP answer (RFC 6066 `status_request`): clients
//! learn that the gateway's certificate is not revoked from the handshake itself, without asking
//! its CA. The answer is fetched and refreshed outside the handshake (the gateway's background
//! task); this resolver only hands out the current certificate, with the last good answer.

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Hands every handshake the listener's certificate and, once one is set, the OCSP answer to
/// staple. Replacing the answer never disturbs handshakes in progress (each holds its `Arc`).
#[derive(Debug)]
pub struct StaplingResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl StaplingResolver {
    /// A resolver for `key`, with no answer stapled yet.
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self {
            current: RwLock::new(key),
        }
    }

    /// Staples `answer` (a DER `OCSPResponse`) from now on; `None` stops stapling.
    pub fn staple(&self, answer: Option<Vec<u8>>) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut next = CertifiedKey::clone(&current);
        next.ocsp = answer;
        *current = Arc::new(next);
    }

    /// Whether an answer is stapled.
    pub fn is_stapling(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ocsp
            .is_some()
    }
}

impl ResolvesServerCert for StaplingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}
