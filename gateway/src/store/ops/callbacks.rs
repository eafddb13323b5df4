//! Storing a push from a national system with its dedupe record and notices.

use super::Conn;
use super::dedupe::{original, original_answer, remember};
use super::intake::queue;
use crate::store::callbacks::{CallbackOutcome, CallbackReceipt, OnChange};
use crate::store::intake::IntakeOutcome;
use crate::store::now_ms;

pub(super) async fn receive(
    conn: &mut Conn,
    r: &CallbackReceipt,
) -> Result<CallbackOutcome, sqlx::Error> {
    let source = format!("callback:{}", r.source);
    let now = now_ms();
    // A repeat is a repeat only when its content is the same: the key's first content, or a
    // later content of the same key seen before (remembered under `key#digest`).
    let changed = match original(conn, &source, &r.dedupe_key).await? {
        None => false,
        Some((sha256, answer)) if sha256 == r.sha256 => {
            return Ok(CallbackOutcome::Repeat(answer));
        }
        Some(_) => true,
    };
    let variant = format!("{}#{}", r.dedupe_key, &r.sha256[..r.sha256.len().min(16)]);
    if changed {
        if let Some(answer) = original_answer(conn, &source, &variant).await? {
            return Ok(CallbackOutcome::Repeat(answer));
        }
        remember(conn, &source, &variant, &r.sha256, &r.answer, now).await?;
    } else {
        remember(conn, &source, &r.dedupe_key, &r.sha256, &r.answer, now).await?;
    }
    let flagged = changed
        && r.on_change == OnChange::NeverUnpay
        && confirmed_before(conn, &r.dossier_code, &r.source, &r.dedupe_key).await?;
    let event = if flagged {
        "payment.conflict"
    } else {
        r.event.as_str()
    };
    sqlx::query(
        "INSERT INTO callbacks_received (source, event, dedupe_key, dossier_code, body_sha256, body, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&r.source)
    .bind(event)
    .bind(&r.dedupe_key)
    .bind(&r.dossier_code)
    .bind(&r.sha256)
    .bind(&r.body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if !flagged {
        queue(conn, &r.dossier_code, &r.notices, now).await?;
    }
    super::audit::append(
        conn,
        &crate::records::audit::AuditEntry {
            direction: crate::records::audit::Direction::Received,
            peer: source.clone(),
            dossier_code: r.dossier_code.clone(),
            message_id: r.dedupe_key.clone(),
            payload_sha256: Some(r.sha256.clone()),
            signature: None,
            peer_certificate_sha256: r.peer_certificate_sha256.clone(),
            outcome: if flagged { "flagged" } else { "stored" }.to_owned(),
        },
    )
    .await?;
    if flagged {
        return Ok(CallbackOutcome::Flagged(r.answer.clone()));
    }
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
    Ok(if changed {
        CallbackOutcome::Changed(r.answer.clone())
    } else {
        CallbackOutcome::Stored(r.answer.clone())
    })
}

/// Whether a push of `source` under `key` about `dossier` was stored as a confirmed payment.
async fn confirmed_before(
    conn: &mut Conn,
    dossier: &str,
    source: &str,
    key: &str,
) -> Result<bool, sqlx::Error> {
    let found: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM callbacks_received WHERE dossier_code = $1 AND source = $2
           AND dedupe_key = $3 AND event = 'payment.confirmed'",
    )
    .bind(dossier)
    .bind(source)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(found > 0)
}
