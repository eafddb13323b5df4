//! The PostgreSQL side of the store (issue 6, in progress): its schema
//! (`migrations/postgres`, the same tables and meaning as the SQLite migrations, plus the
//! cluster's job leases) and the connection that applies it. The operations on it come next;
//! until then `store.url = "postgres://…"` is refused at start-up with that reason.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::StoreError;

/// Connects to `url` and brings its schema up to date (idempotent; several instances may do it
/// at once: sqlx takes an advisory lock around the migrations).
///
/// Errors: the database cannot be reached, or a migration fails.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    let result = sqlx::migrate!("./migrations/postgres").run(&pool).await;
    pool.close().await;
    result?;
    Ok(())
}

/// The delivery core of the PostgreSQL store (in progress: intake, reads and inbound are still
/// SQLite-only): queuing messages, claiming due lane heads across instances, and recording
/// attempts.
///
/// Claiming is one statement: the due heads of lanes (the oldest undelivered message of each
/// dossier and destination) are locked with `FOR UPDATE SKIP LOCKED`, so concurrent instances
/// never take the same row and never wait for each other, and set `in_flight` under this
/// instance's lease. While a head is in flight its lane has nothing else eligible, so no two
/// instances ever send two messages of one lane at once and the order is kept. A lease that ran
/// out (its instance died) makes the message due again for anyone.
pub struct PgDeliveries {
    pool: sqlx::PgPool,
}

impl PgDeliveries {
    /// Connects (at most `max_connections`) and brings the schema up to date.
    ///
    /// Errors: the database cannot be reached, or a migration fails.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        migrate(url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Queues `messages` of dossier `dossier_code` (the trigger starts their deliveries).
    ///
    /// Errors: the database failed; nothing was queued.
    pub async fn queue(
        &self,
        dossier_code: &str,
        messages: &[super::NewMessage],
    ) -> Result<(), StoreError> {
        let now = super::now_ms();
        let mut tx = self.pool.begin().await?;
        for m in messages {
            sqlx::query(
                "INSERT INTO messages (id, dossier_code, destination, kind, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&m.id)
            .bind(dossier_code)
            .bind(&m.destination)
            .bind(m.kind.as_str())
            .bind(m.body.as_ref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `c.limit` due lane heads of `c.destination` (with the consecutive progress
    /// messages of a lane, up to `c.progress_batch`) for `c.owner`.
    ///
    /// Errors: the database failed; nothing was claimed.
    pub async fn claim(&self, c: &super::Claim) -> Result<Vec<super::ClaimedBatch>, StoreError> {
        use lienthong_connectors::MessageKind;
        use sqlx::Row;
        let now = super::now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retry_wait' END,
                    lease_owner = NULL, lease_until = NULL, next_attempt_at = $2, updated_at = $2
             WHERE destination = $1 AND state = 'in_flight' AND lease_until < $2",
        )
        .bind(&c.destination)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let heads = sqlx::query(
            "WITH heads AS (
                SELECT d.message_seq FROM deliveries d
                WHERE d.destination = $1 AND d.state IN ('pending', 'retry_wait') AND d.next_attempt_at <= $2
                  AND NOT EXISTS (
                    SELECT 1 FROM deliveries e
                    WHERE e.dossier_code = d.dossier_code AND e.destination = d.destination
                      AND e.message_seq < d.message_seq AND e.state NOT IN ('delivered', 'cancelled'))
                ORDER BY d.next_attempt_at, d.message_seq
                LIMIT $3
                FOR UPDATE SKIP LOCKED)
             UPDATE deliveries SET state = 'in_flight', lease_owner = $4, lease_until = $5, updated_at = $2
             FROM heads WHERE deliveries.message_seq = heads.message_seq
             RETURNING deliveries.message_seq, deliveries.dossier_code, deliveries.kind",
        )
        .bind(&c.destination)
        .bind(now)
        .bind(i64::try_from(c.limit).unwrap_or(i64::MAX))
        .bind(&c.owner)
        .bind(now.saturating_add(c.lease_ms))
        .fetch_all(&mut *tx)
        .await?;
        let mut batches = Vec::with_capacity(heads.len());
        for h in heads {
            let head: i64 = h.try_get(0)?;
            let dossier_code: String = h.try_get(1)?;
            let kind_text: String = h.try_get(2)?;
            let Some(kind) = MessageKind::parse(&kind_text) else {
                tracing::error!(seq = head, kind = kind_text, "store: unknown message kind");
                continue;
            };
            let mut seqs = vec![head];
            if kind == MessageKind::Progress && c.progress_batch > 1 {
                // The head is ours (in flight): nobody else can take the rest of its lane.
                let followers = sqlx::query(
                    "SELECT message_seq, kind, state FROM deliveries
                     WHERE dossier_code = $1 AND destination = $2 AND message_seq > $3
                       AND state NOT IN ('delivered', 'cancelled')
                     ORDER BY message_seq LIMIT $4",
                )
                .bind(&dossier_code)
                .bind(&c.destination)
                .bind(head)
                .bind(i64::try_from(c.progress_batch - 1).unwrap_or(0))
                .fetch_all(&mut *tx)
                .await?;
                for f in followers {
                    let (seq, k, state): (i64, String, String) =
                        (f.try_get(0)?, f.try_get(1)?, f.try_get(2)?);
                    if k != kind_text || !matches!(state.as_str(), "pending" | "retry_wait") {
                        break;
                    }
                    seqs.push(seq);
                }
                sqlx::query(
                    "UPDATE deliveries SET state = 'in_flight', lease_owner = $1, lease_until = $2, updated_at = $3
                     WHERE message_seq = ANY($4)",
                )
                .bind(&c.owner)
                .bind(now.saturating_add(c.lease_ms))
                .bind(now)
                .bind(&seqs[1..])
                .execute(&mut *tx)
                .await?;
            }
            let rows = sqlx::query(
                "SELECT m.seq, m.id, m.body, d.attempts, d.age_from FROM messages m
                 JOIN deliveries d ON d.message_seq = m.seq
                 WHERE m.seq = ANY($1) ORDER BY m.seq",
            )
            .bind(&seqs)
            .fetch_all(&mut *tx)
            .await?;
            let mut messages = Vec::with_capacity(rows.len());
            for r in rows {
                let attempts: i32 = r.try_get(3)?;
                messages.push(super::ClaimedMessage {
                    seq: r.try_get(0)?,
                    id: r.try_get(1)?,
                    body: r.try_get(2)?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    age_from: r.try_get(4)?,
                });
            }
            batches.push(super::ClaimedBatch {
                destination: c.destination.clone(),
                dossier_code,
                kind,
                messages,
            });
        }
        tx.commit().await?;
        Ok(batches)
    }

    /// Records attempts and their decisions for messages this instance holds (`owner`): a
    /// completion for a lease another instance has taken over changes nothing.
    ///
    /// Errors: the database failed; nothing was recorded.
    pub async fn complete(
        &self,
        owner: &str,
        completions: &[super::Completion],
    ) -> Result<(), StoreError> {
        let now = super::now_ms();
        let mut tx = self.pool.begin().await?;
        for c in completions {
            let (state, next, delay, delivered_at) = match c.decision {
                super::Decision::Delivered => ("delivered", now, None, Some(now)),
                super::Decision::RetryAt { at_ms, delay_ms } => {
                    ("retry_wait", at_ms, Some(delay_ms), None)
                }
                super::Decision::Dead => ("dead", now, None, None),
            };
            let portal = c.outcome.portal();
            let batch_size = i32::try_from(c.messages.len()).unwrap_or(1);
            for &(seq, attempt) in &c.messages {
                let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
                let updated = sqlx::query(
                    "UPDATE deliveries SET state = $1, attempts = $2, next_attempt_at = $3, lease_owner = NULL,
                            lease_until = NULL, last_error = $4, last_http_status = $5, portal_code = $6,
                            portal_message = $7, updated_at = $8, delivered_at = $9
                     WHERE message_seq = $10 AND state = 'in_flight' AND lease_owner = $11",
                )
                .bind(state)
                .bind(attempt)
                .bind(next)
                .bind(c.outcome.error())
                .bind(c.outcome.http_status().map(i32::from))
                .bind(portal.map(|p| p.code.as_str()))
                .bind(portal.map(|p| p.message.as_str()))
                .bind(now)
                .bind(delivered_at)
                .bind(seq)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    tracing::warn!(seq, owner, "completion for a lease taken over: ignored");
                    continue;
                }
                sqlx::query(
                    "INSERT INTO attempts (message_seq, attempt, started_at, duration_ms, outcome, decision,
                                           http_status, error, portal_code, portal_message, retry_delay_ms, batch_size)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(seq)
                .bind(attempt)
                .bind(c.started_at)
                .bind(c.duration_ms)
                .bind(c.outcome.label())
                .bind(state)
                .bind(c.outcome.http_status().map(i32::from))
                .bind(c.outcome.error())
                .bind(portal.map(|p| p.code.as_str()))
                .bind(portal.map(|p| p.message.as_str()))
                .bind(delay)
                .bind(batch_size)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

impl PgDeliveries {
    /// Takes `job` for `owner` for `lease`, or renews it; false while another owner's lease
    /// runs (the same rule as the SQLite store's, in one statement).
    ///
    /// Errors: the database failed.
    pub async fn acquire_job(
        &self,
        job: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = super::now_ms();
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
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
        .fetch_optional(&self.pool)
        .await?;
        Ok(holder.as_deref() == Some(owner))
    }

    /// Gives `job` up if `owner` holds it.
    ///
    /// Errors: the database failed (the lease then runs out by itself).
    pub async fn release_job(&self, job: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM job_leases WHERE job = $1 AND owner = $2")
            .bind(job)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl PgDeliveries {
    /// One retention round on PostgreSQL: the same plan and rules as the SQLite store's
    /// (delivered messages with their attempts, then dossiers with nothing left to deliver with
    /// what belongs to them, then old dedupe records), at most `plan.batch` of each, in one
    /// transaction.
    ///
    /// Errors: the database failed; nothing of the round was deleted.
    pub async fn purge(&self, plan: super::PurgePlan) -> Result<super::Purged, StoreError> {
        let limit = i64::from(plan.batch);
        let mut tx = self.pool.begin().await?;
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT message_seq FROM deliveries
             WHERE state IN ('delivered', 'cancelled') AND updated_at < $1
             LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(plan.delivered_before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM attempts WHERE message_seq = ANY($1)",
            "DELETE FROM deliveries WHERE message_seq = ANY($1)",
            "DELETE FROM messages WHERE seq = ANY($1)",
        ] {
            sqlx::query(sql).bind(&seqs).execute(&mut *tx).await?;
        }
        let codes: Vec<String> = sqlx::query_scalar(
            "SELECT code FROM dossiers d
             WHERE updated_at < $1
               AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dossier_code = d.code)
             LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(plan.dossiers_before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM status_events WHERE dossier_code = ANY($1)",
            "DELETE FROM exchange_received WHERE dossier_code = ANY($1)",
            "DELETE FROM callbacks_received WHERE dossier_code = ANY($1)",
            "DELETE FROM followups WHERE dossier_code = ANY($1)",
            "DELETE FROM dossiers WHERE code = ANY($1)",
        ] {
            sqlx::query(sql).bind(&codes).execute(&mut *tx).await?;
        }
        let dedupe = sqlx::query(
            "DELETE FROM inbound_dedupe WHERE ctid IN
               (SELECT ctid FROM inbound_dedupe WHERE received_at < $1 LIMIT $2)",
        )
        .bind(plan.dedupe_before)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(super::Purged {
            messages: u64::try_from(seqs.len()).unwrap_or(u64::MAX),
            dossiers: u64::try_from(codes.len()).unwrap_or(u64::MAX),
            dedupe,
        })
    }
}
