//! Leases of periodic jobs, so that each runs in one instance at a time across a cluster: a job
//! is run by whoever holds its lease; the holder renews it every round; a lease that has run out
//! (its holder died or hung) is taken by the next instance that asks.

use tokio::sync::oneshot;

use super::op::Op;
use super::{Store, StoreError};

impl Store {
    /// Takes or renews the lease of `job` for `owner` for `lease`; whether `owner` holds it.
    ///
    /// Errors: the store failed (the caller skips the round).
    pub async fn acquire_job(
        &self,
        job: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let (tx, rx) = oneshot::channel();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.submit(
            Op::AcquireJob(job.to_owned(), owner.to_owned(), lease_ms, tx),
            rx,
        )
        .await
    }

    /// Gives up the lease of `job` if `owner` holds it.
    ///
    /// Errors: the store failed (the lease then runs out by itself).
    pub async fn release_job(&self, job: &str, owner: &str) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Op::ReleaseJob(job.to_owned(), owner.to_owned(), tx), rx)
            .await
    }
}
