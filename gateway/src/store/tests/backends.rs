//! One backend at a time: SQLite's checkpointer and query plans, PostgreSQL's schema.

use super::*;

/// The writer never checkpoints (its commits only append to the write-ahead log); the
/// checkpointer copies the log into the database file within about a second, while the store
/// stays open. Without it the file would keep its size until the store closed.
#[tokio::test]
async fn the_write_ahead_log_is_copied_into_the_database_while_the_store_is_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.db");
    let s = Store::open(&format!("sqlite://{}", file.display()), 64, 2)
        .await
        .expect("open");
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    // Let the first checkpoint (of the schema) pass, then write.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = size();
    let body = "x".repeat(2000);
    futures::future::join_all((0..200).map(|n| {
        s.intake_dossier(NewDossier {
            body: body.clone(),
            ..dossier(&format!("W{n}"), "w")
        })
    }))
    .await
    .into_iter()
    .for_each(|o| assert!(matches!(o, Ok(IntakeOutcome::Accepted(_))), "{o:?}"));
    let written = std::time::Instant::now();
    while size() < before + 200 * 2000 {
        assert!(
            written.elapsed() < std::time::Duration::from_secs(10),
            "the database file is still {} bytes (was {before})",
            size()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.close().await;
}

/// The chainer links each piece of records by primary key. SQLite 3.51 otherwise answered
/// `seq IS NULL` through the unique index on `seq` and walked every unlinked record once per
/// linked one (issue 27): the plan, not a time, is what is checked.
#[tokio::test]
async fn the_audit_chainer_finds_each_record_by_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    Store::open(&url, 64, 2).await.expect("open").close().await;
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    let sql = format!(
        "EXPLAIN QUERY PLAN WITH link (id, seq, prev_hash, hash) AS (VALUES (1, 1, 'a', 'b'), (2, 2, 'b', 'c'){}",
        super::sqlite::ops::audit::LINK_UPDATE
    );
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pool)
        .await
        .expect("plan")
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 3))
        .collect();
    pool.close().await;
    let plan = plan.join("\n");
    assert!(
        plan.contains("SEARCH audit_log USING INTEGER PRIMARY KEY"),
        "{plan}"
    );
    assert!(!plan.contains("sqlite_autoindex_audit_log"), "{plan}");
}

#[tokio::test]
async fn the_postgres_schema_applies_to_a_fresh_database_and_again() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    super::postgres::migrate(&db.url).await.expect("migrations");
    // A second instance starting on the same database finds nothing to do.
    super::postgres::migrate(&db.url).await.expect("idempotent");
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .expect("connect");
    // The trigger gives every message its pending delivery, as on SQLite.
    sqlx::query("INSERT INTO messages (id, dossier_code, destination, kind, body, created_at) VALUES ('m1', 'D', 'dvcqg', 'dossier', '{}', 5)")
        .execute(&mut conn)
        .await
        .expect("insert");
    let (state, due): (String, i64) = sqlx::query_as(
        "SELECT d.state, d.next_attempt_at FROM deliveries d JOIN messages m ON m.seq = d.message_seq WHERE m.id = 'm1'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("delivery");
    assert_eq!((state.as_str(), due), ("pending", 5));
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tables");
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for t in [
        "attempts",
        "callbacks_received",
        "deliveries",
        "dossiers",
        "exchange_received",
        "followups",
        "inbound_dedupe",
        "job_leases",
        "messages",
        "status_events",
    ] {
        assert!(names.contains(&t), "{t} missing: {names:?}");
    }
    conn.close().await.ok();
    db.drop_database().await;
}
