//! The axis poller (`[exchange.pull]`): for peers reached through the national document-exchange
//! axis, documents wait in the center's mailbox until taken.
//!
//! A round lists the mailbox and takes up to `batch` documents, one at a time: room in the
//! memory budget, fetch (bounded by `exchange.max_body`), [`super::prepare`] on the blocking
//! pool, [`super::commit`], and only then `done` — or `fail` with the reason for a document that
//! will never be accepted (malformed, badly signed, unknown sender, replay, too large, a dossier
//! that is not the sender's). Whatever is temporary (the axis or the store unavailable) ends the
//! round without an acknowledgement, so the document is listed again and, if it was already
//! stored, deduplicated: a crash between the commit and `done` loses nothing and stores nothing
//! twice. After a failed round the wait doubles from `interval` up to `max_backoff`; a full
//! batch is followed at once by the next round.

use std::sync::Arc;
use std::time::Duration;

use lienthong_connectors::peer::axis::{Ack, AxisClient, AxisDocument, AxisError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::{ExchangeSettings, ReceiveError};
use crate::config::PullConfig;
use crate::operations::cluster::{JobLease, Rounds};
use crate::store::Store;
use crate::trust::security::SecurityHandle;

/// What the poller needs.
pub struct Puller {
    /// The axis, as this center.
    pub axis: AxisClient,
    /// Where documents are stored.
    pub store: Store,
    /// Peers, trust stores and the answering identity (reloadable).
    pub security: Arc<SecurityHandle>,
    /// Limits and forwarding shared with `POST /v1/exchange`.
    pub settings: Arc<ExchangeSettings>,
    /// `[exchange.pull]`.
    pub config: PullConfig,
    /// This instance's id (the poller runs where its job lease is held).
    pub instance: String,
}

/// Why a round stopped early: nothing was acknowledged for the document in hand.
#[derive(Debug, thiserror::Error)]
enum Interrupted {
    #[error(transparent)]
    Axis(#[from] AxisError),
    #[error(transparent)]
    Receive(ReceiveError),
    #[error("shutting down")]
    Stopping,
}

/// The wait before the next round after `failures` failed rounds in a row: `interval`, doubled
/// per failure, at most `max_backoff`.
pub fn wait_after(failures: u32, interval: Duration, max_backoff: Duration) -> Duration {
    let factor = 2u32.saturating_pow(failures.min(20));
    interval.saturating_mul(factor).min(max_backoff)
}

/// Runs rounds until `stop`.
pub async fn run(p: Puller, stop: CancellationToken) {
    tracing::info!(interval = ?p.config.interval, batch = p.config.batch, "axis poller started");
    // Held across the longest wait between rounds, so a live holder keeps it.
    let lease = JobLease::new(
        p.store.clone(),
        "exchange.pull",
        p.instance.clone(),
        p.config
            .max_backoff
            .saturating_mul(2)
            .max(Duration::from_secs(60)),
    );
    let mut failures = 0u32;
    let mut rounds = Rounds::new(&lease, p.config.interval, &stop);
    while rounds.next().await {
        let wait = match p.round(&stop).await {
            Ok(taken) => {
                failures = 0;
                crate::monitoring::telemetry::pull_round("ok");
                if taken >= p.config.batch {
                    Duration::ZERO
                } else {
                    p.config.interval
                }
            }
            Err(Interrupted::Stopping) => break,
            Err(e) => {
                failures = failures.saturating_add(1);
                crate::monitoring::telemetry::pull_round("failed");
                let wait = wait_after(failures, p.config.interval, p.config.max_backoff);
                tracing::warn!(error = %e, failures, retry_in = ?wait, "axis poll failed");
                wait
            }
        };
        rounds.wait(wait);
    }
    lease.release().await;
}

impl Puller {
    /// One round: list, then take up to `batch` documents. Returns how many were taken.
    async fn round(&self, stop: &CancellationToken) -> Result<usize, Interrupted> {
        let listed = self.axis.list().await?;
        let mut taken = 0;
        for doc in listed.iter().take(self.config.batch) {
            if stop.is_cancelled() {
                return Err(Interrupted::Stopping);
            }
            self.take(doc, stop).await?;
            taken += 1;
        }
        Ok(taken)
    }

    /// Takes one document: stored (or already stored) → `done`; refused for good → `fail`.
    async fn take(&self, doc: &AxisDocument, stop: &CancellationToken) -> Result<(), Interrupted> {
        let limit = self.settings.max_body;
        let room = tokio::select! {
            () = stop.cancelled() => return Err(Interrupted::Stopping),
            r = self.settings.budget.clone().acquire_many_owned(self.settings.permits_for(limit)) => r,
        };
        let _room = room.map_err(|_| Interrupted::Stopping)?;
        let xml = match self.axis.fetch(&doc.doc_id, limit).await {
            Ok(xml) => xml,
            Err(e @ (AxisError::TooLarge { .. } | AxisError::Refused { .. })) => {
                return self.refuse(doc, e.to_string()).await;
            }
            Err(e) => return Err(e.into()),
        };
        let now = OffsetDateTime::now_utc();
        let max_age = time::Duration::try_from(self.config.max_age).unwrap_or(time::Duration::DAY);
        let (security, settings) = (self.security.current(), self.settings.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            super::prepare(xml, &security, &settings, now, max_age, None)
        })
        .await
        .map_err(|e| {
            Interrupted::Receive(ReceiveError::Internal(format!(
                "verification task failed: {e}"
            )))
        })?;
        let outcome = match prepared {
            Ok(prepared) => match prepared.believe(&self.security).await {
                Ok(receipt) => super::commit(&self.store, receipt, "pull").await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(_) => {
                self.axis.ack(&doc.doc_id, &Ack::Done).await?;
                Ok(())
            }
            Err(e) if e.is_temporary() => Err(Interrupted::Receive(e)),
            Err(e) => self.refuse(doc, e.to_string()).await,
        }
    }

    /// Marks a document `fail` with `reason` (it will never be accepted).
    async fn refuse(&self, doc: &AxisDocument, reason: String) -> Result<(), Interrupted> {
        tracing::warn!(
            doc = doc.doc_id,
            from = doc.from,
            reason,
            "axis document refused"
        );
        crate::monitoring::telemetry::exchange(
            if doc.from.is_empty() { "-" } else { &doc.from },
            "refused",
        );
        match self.axis.ack(&doc.doc_id, &Ack::Fail(reason)).await {
            Ok(()) => Ok(()),
            // The axis will not take the mark: listing it again would only fail it again.
            Err(AxisError::Refused { reason, .. }) => {
                tracing::warn!(doc = doc.doc_id, reason, "the axis refused the fail mark");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_failures_up_to_the_ceiling() {
        let i = Duration::from_secs(30);
        let max = Duration::from_secs(600);
        assert_eq!(wait_after(0, i, max), i);
        assert_eq!(wait_after(1, i, max), Duration::from_secs(60));
        assert_eq!(wait_after(3, i, max), Duration::from_secs(240));
        assert_eq!(wait_after(5, i, max), max);
        assert_eq!(wait_after(u32::MAX, i, max), max);
    }
}
