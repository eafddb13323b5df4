//! Inbound deduplication (`inbound_dedupe`): what came from outside, by `(source, key)`, with the
//! answer it got, so a resend gets the same answer and changes nothing. Shared by the exchange
//! (edXML from other centers) and the national systems' pushes.

use sqlx::Row;

use super::Conn;

/// The answer given to `(source, key)`, if it came before.
pub(super) async fn original_answer(
    conn: &mut Conn,
    source: &str,
    key: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT answer FROM inbound_dedupe WHERE source = $1 AND message_id = $2")
        .bind(source)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get(0))
        .transpose()
}

/// The body digest and answer of `(source, key)`, if it came before.
pub(super) async fn original(
    conn: &mut Conn,
    source: &str,
    key: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query(
        "SELECT body_sha256, answer FROM inbound_dedupe WHERE source = $1 AND message_id = $2",
    )
    .bind(source)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .transpose()
}

/// Records that `(source, key)` came (its body's digest) and was answered `answer`.
pub(super) async fn remember(
    conn: &mut Conn,
    source: &str,
    key: &str,
    sha256: &str,
    answer: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO inbound_dedupe (source, message_id, body_sha256, answer, received_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(source)
    .bind(key)
    .bind(sha256)
    .bind(answer)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
