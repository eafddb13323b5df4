//! Leases of periodic jobs: taken, renewed, or taken over once run out, in one statement.

use super::Conn;
use crate::store::now_ms;

/// Takes `job` for `owner` until `now + lease_ms`, or renews it; false when another owner holds
/// an unexpired lease (the upsert's condition fails and nothing is returned).
pub(super) async fn acquire(
    conn: &mut Conn,
    job: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let holder: Option<String> = sqlx::query_scalar(
        "INSERT INTO job_leases (job, owner, lease_until) VALUES ($1, $2, $3)
         ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
         WHERE job_leases.owner = excluded.owner OR job_leases.lease_until < $4
         RETURNING owner",
    )
    .bind(job)
    .bind(owner)
    .bind(now.saturating_add(lease_ms))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(holder.as_deref() == Some(owner))
}

/// Gives `job` up if `owner` holds it (at shutdown: another instance takes it at once).
pub(super) async fn release(conn: &mut Conn, job: &str, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM job_leases WHERE job = $1 AND owner = $2")
        .bind(job)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
