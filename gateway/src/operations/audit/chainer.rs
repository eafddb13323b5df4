//! The chainer: links audit records into the chain as they are written, and — with a
//! configured authority — time-stamps the chain head every interval ([`super::tsa`]).
//!
//! One instance links at a time (the `audit:chain` job lease), so the chain stays one line on a
//! shared store. Linking runs every `LINK_EVERY` in rounds of at most `LINK_BATCH` records;
//! a backlog is worked off round after round without waiting. A store failure skips the round;
//! records wait unlinked, never lost.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::operations::cluster::{JobLease, Rounds};
use crate::store::Store;

/// How often unlinked records are looked for.
const LINK_EVERY: Duration = Duration::from_millis(500);
/// Most records linked in one transaction.
const LINK_BATCH: i64 = 2000;
/// How long the chainer's lease lasts without renewal (it renews each round).
const JOB_LEASE: Duration = Duration::from_secs(30);

/// Runs the chainer until `stop`; with `stamper`, also time-stamps the head.
pub async fn run(
    store: Store,
    instance: String,
    stamper: Option<Arc<super::tsa::Stamper>>,
    stop: CancellationToken,
) {
    let lease = JobLease::new(store.clone(), "audit:chain", instance, JOB_LEASE);
    let mut next_stamp = tokio::time::Instant::now();
    let mut rounds = Rounds::new(&lease, LINK_EVERY, &stop);
    while rounds.next().await {
        let mut busy = false;
        match store.link_audit(LINK_BATCH).await {
            Ok(n) => busy = n == LINK_BATCH as u64,
            Err(e) => tracing::warn!(error = %e, "audit records not linked this round"),
        }
        if let Some(s) = &stamper
            && tokio::time::Instant::now() >= next_stamp
        {
            // A failure is counted and logged by the stamper; the next round is at the next
            // interval, and its stamp covers everything written meanwhile. Traffic does not
            // wait for it.
            s.stamp_head(&store).await;
            next_stamp = tokio::time::Instant::now() + s.interval();
        }
        rounds.wait(if busy { Duration::ZERO } else { LINK_EVERY });
    }
    // Link what the last requests wrote, so a clean stop leaves nothing unlinked.
    if lease.hold().await
        && let Err(e) = store.link_audit(LINK_BATCH).await
    {
        tracing::warn!(error = %e, "audit records left unlinked at shutdown (linked at the next start)");
    }
    lease.release().await;
}
