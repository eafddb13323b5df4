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
