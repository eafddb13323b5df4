//! Intake: new dossiers, new data for a dossier, status events, and the messages they queue.

use sqlx::Row;

use super::{Conn, dialect};
use crate::store::intake::{EventIntake, IntakeOutcome, NewDossier, NewMessage, ReplaceDossier};
use crate::store::now_ms;

/// Writes `messages` of dossier `dossier_code`; the `messages_start_delivery` trigger creates
/// each one's pending delivery in the same statement.
///
/// A body that several of the messages share (the outbox gives a dossier's destinations one
/// body) is stored once in `message_bodies`, by its SHA-256, and each message names it; a body
/// only one message has stays in the message's row, as before (no hashing, no second row). A
/// body already stored is touched instead: on PostgreSQL that locks its row until this
/// transaction ends, so a retention round (which skips locked rows and keeps recently touched
/// ones) cannot remove it under a message being written.
pub(super) async fn queue(
    conn: &mut Conn,
    dossier_code: &str,
    messages: &[NewMessage],
    now: i64,
) -> Result<(), sqlx::Error> {
    super::batch::insert_messages(conn, &[(dossier_code, messages)], now).await
}

/// The answer to a new dossier whose code is already stored: the original answer when the data
/// is the same (a repeat), else a conflict.
pub(super) async fn existing(
    conn: &mut Conn,
    d: &NewDossier,
) -> Result<IntakeOutcome, sqlx::Error> {
    let row = sqlx::query("SELECT body_sha256, intake_answer FROM dossiers WHERE code = $1")
        .bind(&d.code)
        .fetch_one(&mut *conn)
        .await?;
    let sha: String = row.try_get(0)?;
    Ok(if sha == d.sha256 {
        IntakeOutcome::Repeat(row.try_get(1)?)
    } else {
        IntakeOutcome::Conflict(format!(
            "dossier {} already exists with different data; send changes with PUT /v1/dossiers/{}",
            d.code, d.code
        ))
    })
}

pub(super) async fn replace_dossier(
    conn: &mut Conn,
    d: &ReplaceDossier,
) -> Result<IntakeOutcome, sqlx::Error> {
    let Some(row) = sqlx::query(dialect(
        "SELECT body_sha256 FROM dossiers WHERE code = $1",
        "SELECT body_sha256 FROM dossiers WHERE code = $1 FOR UPDATE",
    ))
    .bind(&d.code)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(IntakeOutcome::NotFound);
    };
    let sha: String = row.try_get(0)?;
    if sha == d.sha256 {
        return Ok(IntakeOutcome::Repeat(
            serde_json::json!({ "code": d.code, "unchanged": true, "messages": [] }).to_string(),
        ));
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE dossiers SET body = $1, body_sha256 = $2, status = $3, version = version + 1, updated_at = $4,
                due_at = $6, received_at = $7, agency_code = $8, procedure_code = $9, field_code = $10
         WHERE code = $5",
    )
    .bind(&d.body)
    .bind(&d.sha256)
    .bind(&d.status)
    .bind(now)
    .bind(&d.code)
    .bind(d.facts.due_at)
    .bind(d.facts.received_at)
    .bind(&d.facts.agency_code)
    .bind(&d.facts.procedure_code)
    .bind(&d.facts.field_code)
    .execute(&mut *conn)
    .await?;
    queue(conn, &d.code, &d.messages, now).await?;
    Ok(IntakeOutcome::Accepted(d.answer.clone()))
}

/// Records a status event when the dossier's status allows it. On PostgreSQL the dossier's row
/// is locked first, so two instances taking events of one dossier at once check the transition
/// and number the events one after the other.
pub(super) async fn event(conn: &mut Conn, e: &EventIntake) -> Result<IntakeOutcome, sqlx::Error> {
    let Some(row) = sqlx::query(dialect(
        "SELECT d.status, ev.body_sha256, ev.answer FROM dossiers d
         LEFT JOIN status_events ev ON ev.dossier_code = d.code AND ev.event_id = $1
         WHERE d.code = $2",
        "SELECT d.status, ev.body_sha256, ev.answer FROM dossiers d
         LEFT JOIN status_events ev ON ev.dossier_code = d.code AND ev.event_id = $1
         WHERE d.code = $2 FOR UPDATE OF d",
    ))
    .bind(&e.event_id)
    .bind(&e.dossier_code)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(IntakeOutcome::NotFound);
    };
    let current: String = row.try_get(0)?;
    if let Some(sha) = row.try_get::<Option<String>, _>(1)? {
        return Ok(if sha == e.sha256 {
            IntakeOutcome::Repeat(row.try_get(2)?)
        } else {
            IntakeOutcome::Conflict(format!(
                "event {} of dossier {} already exists with different data",
                e.event_id, e.dossier_code
            ))
        });
    }
    let allowed =
        lienthong_mappings::DossierStatus::parse(&current).is_none_or(|c| c.allows(e.status));
    if !allowed {
        return Ok(IntakeOutcome::InvalidTransition {
            from: current,
            to: e.status.as_str().to_owned(),
        });
    }
    let now = now_ms();
    insert_event(
        conn,
        &e.dossier_code,
        &e.event_id,
        e.status.as_str(),
        (&e.body, &e.sha256, &e.answer),
        now,
    )
    .await?;
    set_status(conn, &e.dossier_code, e.status.as_str(), now).await?;
    if e.facts != crate::records::deadlines::EventFacts::default() {
        sqlx::query(
            "UPDATE dossiers SET due_at = COALESCE($1, due_at), returned_at = COALESCE($2, returned_at)
             WHERE code = $3",
        )
        .bind(e.facts.due_at)
        .bind(e.facts.returned_at)
        .bind(&e.dossier_code)
        .execute(&mut *conn)
        .await?;
    }
    queue(conn, &e.dossier_code, &e.messages, now).await?;
    Ok(IntakeOutcome::Accepted(e.answer.clone()))
}

/// Appends an event to a dossier's history, numbered after the last one.
pub(super) async fn insert_event(
    conn: &mut Conn,
    dossier_code: &str,
    event_id: &str,
    status: &str,
    (body, sha256, answer): (&str, &str, &str),
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO status_events (dossier_code, event_id, seq, status, body, body_sha256, answer, received_at)
         VALUES ($1, $2, (SELECT COUNT(*) + 1 FROM status_events WHERE dossier_code = $1), $3, $4, $5, $6, $7)",
    )
    .bind(dossier_code)
    .bind(event_id)
    .bind(status)
    .bind(body)
    .bind(sha256)
    .bind(answer)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets a dossier's status.
pub(super) async fn set_status(
    conn: &mut Conn,
    code: &str,
    status: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dossiers SET status = $1, updated_at = $2 WHERE code = $3")
        .bind(status)
        .bind(now)
        .bind(code)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
