//! Storing a push from a national system with its dedupe record and notices.

use super::Conn;
use super::dedupe::{original_answer, remember};
use super::intake::queue;
use crate::store::callbacks::{CallbackOutcome, CallbackReceipt};
use crate::store::intake::IntakeOutcome;
use crate::store::now_ms;

pub(super) async fn receive(
    conn: &mut Conn,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
    super::audit::append(
        conn,
        &crate::audit::AuditEntry {
            direction: crate::audit::Direction::Received,
            peer: source.clone(),
            dossier_code: r.dossier_code.clone(),
            message_id: r.dedupe_key.clone(),
            payload_sha256: Some(r.sha256.clone()),
            signature: None,
            peer_certificate_sha256: r.peer_certificate_sha256.clone(),
            outcome: "stored".to_owned(),
        },
    )
    .await?;
    if let Some(e) = &r.event_intake {
        // An event the dossier's state does not allow is not recorded; the push still is.
        let outcome = super::intake::event(conn, e).await?;
        if !matches!(
            outcome,
            IntakeOutcome::Accepted(_) | IntakeOutcome::Repeat(_)
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
