//! Leases of periodic jobs, so that each runs in one instance at a time across a cluster: a job
//! is run by whoever holds its lease; the holder renews it every round; a lease that has run out
//! (its holder died or hung) is taken by the next instance that asks.

use sqlx::{Row, SqliteConnection};

use super::{Store, StoreError, now_ms};

/// Takes `job` for `owner` until `now + lease_ms`, or renews it; false when another owner holds
/// an unexpired lease.
pub(super) async fn acquire(
    conn: &mut SqliteConnection,
    job: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO job_leases (job, owner, lease_until) VALUES (?1, ?2, ?3)
         ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
         WHERE job_leases.owner = excluded.owner OR job_leases.lease_until < ?4",
    )
    .bind(job)
    .bind(owner)
    .bind(now.saturating_add(lease_ms))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let holder: String = sqlx::query("SELECT owner FROM job_leases WHERE job = ?")
        .bind(job)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    Ok(holder == owner)
}

/// Gives `job` up if `owner` holds it (at shutdown: another instance takes it at once).
pub(super) async fn release(
    conn: &mut SqliteConnection,
    job: &str,
    owner: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM job_leases WHERE job = ? AND owner = ?")
        .bind(job)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.submit(
            super::writer::Op::AcquireJob(job.to_owned(), owner.to_owned(), lease_ms, tx),
            rx,
        )
        .await
    }

    /// Gives up the lease of `job` if `owner` holds it.
    ///
    /// Errors: the store failed (the lease then runs out by itself).
    pub async fn release_job(&self, job: &str, owner: &str) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(
            super::writer::Op::ReleaseJob(job.to_owned(), owner.to_owned(), tx),
            rx,
        )
        .await
    }
}
