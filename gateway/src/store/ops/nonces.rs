//! Nonces of verified request signatures, remembered in the store so that a signed request is
//! accepted once across restarts and across the instances sharing a PostgreSQL store.

use super::Conn;
use crate::store::now_ms;

/// How many expired nonces one call removes: enough to keep up with the rate they are added.
const PURGE_BATCH: i64 = 16;

/// Records `nonce` of `keyid` until `until_ms`; false when it is already recorded and not yet
/// expired (a replay). An expired record of the same nonce is renewed (its signature is out of
/// its window anyway). A few expired rows are removed on the way.
pub(super) async fn remember(
    conn: &mut Conn,
    keyid: &str,
    nonce: &str,
    until_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let fresh = sqlx::query(
        "INSERT INTO http_nonces (keyid, nonce, until_ms) VALUES ($1, $2, $3)
         ON CONFLICT (keyid, nonce) DO UPDATE SET until_ms = excluded.until_ms
         WHERE http_nonces.until_ms < $4",
    )
    .bind(keyid)
    .bind(nonce)
    .bind(until_ms)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    sqlx::query(
        "DELETE FROM http_nonces WHERE (keyid, nonce) IN
           (SELECT keyid, nonce FROM http_nonces WHERE until_ms < $1 LIMIT $2)",
    )
    .bind(now)
    .bind(PURGE_BATCH)
    .execute(&mut *conn)
    .await?;
    Ok(fresh)
}
