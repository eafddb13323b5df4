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
