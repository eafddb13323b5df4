//! Periodic jobs run once across instances: a job (a follow-up poller, retention, the axis
//! poller) does a round only while its instance holds the job's lease in the store, renewing it
//! each time; a dead instance's lease runs out and another instance takes the job over. On one
//! SQLite node the lease is always this node's.

use std::time::Duration;

use crate::store::Store;

/// The lease of one job for this instance.
pub struct JobLease {
    store: Store,
    job: String,
    owner: String,
    lease: Duration,
}

impl JobLease {
    /// The lease of `job` for instance `owner`, each hold lasting `lease` (longer than the time
    /// between two rounds of the job, so a live holder keeps it).
    pub fn new(
        store: Store,
        job: impl Into<String>,
        owner: impl Into<String>,
        lease: Duration,
    ) -> Self {
        Self {
            store,
            job: job.into(),
            owner: owner.into(),
            lease,
        }
    }

    /// Whether this instance runs the job now (takes or renews the lease). A store failure
    /// counts as not holding it: the round is skipped rather than risk running it twice.
    pub async fn hold(&self) -> bool {
        match self
            .store
            .acquire_job(&self.job, &self.owner, self.lease)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(job = self.job, error = %e, "job lease unavailable: round skipped");
                false
            }
        }
    }

    /// Gives the job up (at shutdown), so another instance takes it at once.
    pub async fn release(&self) {
        if let Err(e) = self.store.release_job(&self.job, &self.owner).await {
            tracing::warn!(job = self.job, error = %e, "job lease not released: it runs out");
        }
    }
}

/// The rounds of a periodic job run once across instances: each round starts only while this
/// instance holds the job's lease. The one loop every periodic job uses (follow-up pollers,
/// retention, the audit chainer, the axis poller):
///
/// ```ignore
/// let mut rounds = Rounds::new(&lease, idle, &stop);
/// while rounds.next().await {
///     let wait = do_one_round().await;
///     rounds.wait(wait); // zero: the next round at once (a full batch)
/// }
/// lease.release().await;
/// ```
pub struct Rounds<'a> {
    lease: &'a JobLease,
    idle: Duration,
    stop: &'a tokio_util::sync::CancellationToken,
    wait: Duration,
}

impl<'a> Rounds<'a> {
    /// Rounds under `lease`, asking again every `idle` while another instance holds it, until
    /// `stop`.
    pub fn new(
        lease: &'a JobLease,
        idle: Duration,
        stop: &'a tokio_util::sync::CancellationToken,
    ) -> Self {
        Self {
            lease,
            idle,
            stop,
            wait: Duration::ZERO,
        }
    }

    /// Sets how long to wait before the next round (zero: at once).
    pub fn wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// Waits for the next round: the wait the last round asked for, then until this instance
    /// holds the lease. `false` once `stop` is signalled (a wait ends at once). The lease is not
    /// released here: the job may have a last thing to do under it (the audit chainer links
    /// what the last requests wrote), then calls [`JobLease::release`].
    pub async fn next(&mut self) -> bool {
        let mut wait = std::mem::take(&mut self.wait);
        loop {
            if self.stop.is_cancelled() {
                return false;
            }
            if !wait.is_zero() {
                tokio::select! {
                    () = self.stop.cancelled() => return false,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            if self.lease.hold().await {
                return true;
            }
            wait = self.idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio_util::sync::CancellationToken;

    use super::*;

    /// Rounds run only while this instance holds the lease, a round may ask for the next at
    /// once or after a wait, and stop ends the wait at once. (The assertions are about what
    /// cannot happen whatever the timing: a lease another instance holds for a minute, a
    /// wait of an hour.)
    #[tokio::test]
    async fn rounds_run_only_under_the_lease_and_stop_ends_the_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let store = Store::open(&url, 16, 1).await.expect("store");
        let lease =
            |owner: &str| JobLease::new(store.clone(), "job", owner, Duration::from_secs(60));
        let (ours, theirs) = (lease("a"), Arc::new(lease("b")));
        assert!(theirs.hold().await, "b takes the job first");

        let stop = CancellationToken::new();
        let rounds = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let runner = {
            let (stop, rounds, theirs) = (stop.clone(), rounds.clone(), theirs.clone());
            tokio::spawn(async move {
                let mut r = Rounds::new(&ours, Duration::from_millis(10), &stop);
                while r.next().await {
                    // b cannot take the job while a round runs: the lease is ours.
                    let b_could = theirs.hold().await;
                    let n = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                    tx.send(b_could).expect("the test listens");
                    // Two rounds at once (a full batch), then a long wait.
                    r.wait(if n < 3 {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(3600)
                    });
                }
                ours
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 0, "b holds the lease");
        theirs.release().await;
        for _ in 0..3 {
            let b_could = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("a round comes once b released the job")
                .expect("a round");
            assert!(!b_could, "a round ran without holding the lease");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 3, "then the hour's wait");
        stop.cancel();
        let ours = tokio::time::timeout(Duration::from_secs(30), runner)
            .await
            .expect("stop ends the wait")
            .expect("the runner");
        assert_eq!(rounds.load(Ordering::SeqCst), 3, "no round after stop");
        ours.release().await;
        assert!(theirs.hold().await, "released: b takes it");
    }
}
