//! The retention task (`[retention]`): every `interval`, purges what is old enough in rounds of
//! at most `batch` rows of each kind (one short transaction each, so intake and delivery are never
//! held up), until a round finds less than a full batch.

use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;
use crate::operations::cluster::{JobLease, Rounds};
use crate::store::{PurgePlan, Purged, Store, now_ms};

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The plan of a purge at `now` (store milliseconds).
pub fn plan(c: &RetentionConfig, now: i64) -> PurgePlan {
    PurgePlan {
        delivered_before: now.saturating_sub(ms(c.delivered)),
        dossiers_before: now.saturating_sub(ms(c.dossiers)),
        dedupe_before: now.saturating_sub(ms(c.dedupe)),
        batch: c.batch,
    }
}

/// Purges until nothing old is left (or `stop`); returns the totals.
///
/// Errors: the store failed (what earlier rounds deleted stays deleted).
pub async fn purge_all(
    store: &Store,
    c: &RetentionConfig,
    stop: &CancellationToken,
) -> Result<Purged, crate::store::StoreError> {
    let mut total = Purged::default();
    loop {
        let round = store.purge(plan(c, now_ms())).await?;
        total.messages += round.messages;
        total.bodies += round.bodies;
        total.dossiers += round.dossiers;
        total.dedupe += round.dedupe;
        if !round.full(c.batch) || stop.is_cancelled() {
            return Ok(total);
        }
        // Let other writers in between rounds.
        tokio::task::yield_now().await;
    }
}

/// Runs until `stop`, in the instance that holds the `retention` job lease.
pub async fn run(store: Store, c: RetentionConfig, instance: String, stop: CancellationToken) {
    if !c.enabled {
        tracing::info!("retention disabled: nothing is purged");
        return;
    }
    // Held across the wait between runs, so a live holder keeps it.
    let lease = JobLease::new(
        store.clone(),
        "retention",
        instance,
        c.interval
            .saturating_mul(2)
            .max(std::time::Duration::from_secs(60)),
    );
    let mut rounds = Rounds::new(&lease, c.interval, &stop);
    while rounds.next().await {
        match purge_all(&store, &c, &stop).await {
            Ok(p) => {
                for (what, n) in [
                    ("messages", p.messages),
                    ("bodies", p.bodies),
                    ("dossiers", p.dossiers),
                    ("dedupe", p.dedupe),
                ] {
                    crate::monitoring::telemetry::purged(what, n);
                }
                if p != Purged::default() {
                    tracing::info!(
                        messages = p.messages,
                        bodies = p.bodies,
                        dossiers = p.dossiers,
                        dedupe = p.dedupe,
                        "retention: purged"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention: purge failed; tried again later"),
        }
        rounds.wait(c.interval);
    }
    lease.release().await;
}
