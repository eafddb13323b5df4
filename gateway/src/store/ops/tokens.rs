//! Generated bearer tokens: the first instance to start writes its candidate, every other one
//! (and every later start) reads the one kept.

use super::Conn;
use crate::store::now_ms;

/// The token kept for `role`: `candidate` when none was kept yet.
pub(super) async fn ensure(
    conn: &mut Conn,
    role: &str,
    candidate: &str,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "INSERT INTO generated_tokens (role, token, created_ms) VALUES ($1, $2, $3)
         ON CONFLICT (role) DO NOTHING",
    )
    .bind(role)
    .bind(candidate)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("SELECT token FROM generated_tokens WHERE role = $1")
        .bind(role)
        .fetch_one(&mut *conn)
        .await
}
