//! Storing a push from a national system: the push as received, its dedupe record with the
//! answer, and the notices for the center — in one transaction, so the pusher is answered only
//! once all of it is durable and a repeat gets the original answer.

use sqlx::SqliteConnection;

use super::dedupe::{original_answer, remember};

use super::now_ms;
use super::writer::{EventIntake, NewMessage, queue};

/// A verified push ready to be stored.
#[derive(Debug, Clone)]
pub struct CallbackReceipt {
    /// Who pushed it (`dvcqg`, `payment`, …).
    pub source: String,
    /// What the center is told (`payment.confirmed`, …).
    pub event: String,
    /// Deduplication key within the source.
    pub dedupe_key: String,
    /// The dossier it concerns.
    pub dossier_code: String,
    /// The push as kept (secrets removed).
    pub body: String,
    /// Its SHA-256.
    pub sha256: String,
    /// The success answer, kept for repeats.
    pub answer: String,
    /// Notices for the center.
    pub notices: Vec<NewMessage>,
    /// The status event it means for the dossier (a national system's decision), if any.
    pub event_intake: Option<EventIntake>,
}

/// What storing a push came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Stored: the answer to send.
    Stored(String),
    /// Received before: the original answer.
    Repeat(String),
}

pub(super) async fn receive(
    conn: &mut SqliteConnection,
    r: &CallbackReceipt,
) -> Result<CallbackOutcome, sqlx::Error> {
    let source = format!("callback:{}", r.source);
    if let Some(answer) = original_answer(conn, &source, &r.dedupe_key).await? {
        return Ok(CallbackOutcome::Repeat(answer));
    }
    let now = now_ms();
    remember(conn, &source, &r.dedupe_key, &r.sha256, &r.answer, now).await?;
    sqlx::query(
        "INSERT INTO callbacks_received (source, event, dedupe_key, dossier_code, body_sha256, body, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.source)
    .bind(&r.event)
    .bind(&r.dedupe_key)
    .bind(&r.dossier_code)
    .bind(&r.sha256)
    .bind(&r.body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    queue(conn, &r.dossier_code, &r.notices, now).await?;
    if let Some(e) = &r.event_intake {
        // An event the dossier's state does not allow is not recorded; the push still is.
        let outcome = super::writer::event(conn, e).await?;
        if !matches!(
            outcome,
            super::writer::IntakeOutcome::Accepted(_) | super::writer::IntakeOutcome::Repeat(_)
        ) {
            tracing::warn!(
                dossier = r.dossier_code,
                outcome = outcome.label(),
                "the decision pushed is recorded but does not move the dossier"
            );
        }
    }
    Ok(CallbackOutcome::Stored(r.answer.clone()))
}
