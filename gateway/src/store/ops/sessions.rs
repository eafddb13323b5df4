//! Console sessions: started at sign-in, ended at sign-out or when they expire.

use super::Conn;
use crate::store::now_ms;

/// How many expired sessions one sign-in removes.
const PURGE_BATCH: i64 = 16;

/// Records a session (the SHA-256 of its id) with its role until `until_ms`; a few expired
/// sessions are removed on the way.
pub(super) async fn start(
    conn: &mut Conn,
    id_sha256: &str,
    role: &str,
    until_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO console_sessions (id_sha256, role, until_ms) VALUES ($1, $2, $3)")
        .bind(id_sha256)
        .bind(role)
        .bind(until_ms)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM console_sessions WHERE id_sha256 IN
           (SELECT id_sha256 FROM console_sessions WHERE until_ms < $1 LIMIT $2)",
    )
    .bind(now_ms())
    .bind(PURGE_BATCH)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends a session (sign-out).
pub(super) async fn end(conn: &mut Conn, id_sha256: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM console_sessions WHERE id_sha256 = $1")
        .bind(id_sha256)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
