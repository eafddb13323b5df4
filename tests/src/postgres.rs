//! A fresh PostgreSQL database per test, on the server the machine runs (CI: 127.0.0.1:5432,
//! trust authentication). `LIENTHONG_TEST_POSTGRES` names the server's maintenance database
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); a test database is created there and
//! dropped by [`TestDatabase::drop_database`].

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The server's maintenance database.
pub fn admin_url() -> String {
    std::env::var("LIENTHONG_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

fn url_of(admin: &str, name: &str) -> String {
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

impl TestDatabase {
    /// Creates an empty database.
    ///
    /// Panics when the server cannot be reached (PostgreSQL is part of the test machine; CI
    /// installs and starts it when it is missing).
    pub async fn create() -> Self {
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin} is not reachable ({e}); start it or set LIENTHONG_TEST_POSTGRES")
        });
        let name = format!("lienthong_t_{}", uuid::Uuid::now_v7().simple());
        // The name is ours (a UUID), not input: safe to put in the statement.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        Self {
            url: url_of(&admin, &name),
            name,
        }
    }

    /// Drops the database (connections to it are terminated first).
    pub async fn drop_database(self) {
        let mut conn = PgConnection::connect(&admin_url())
            .await
            .expect("maintenance connection");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .expect("drop database");
        conn.close().await.ok();
    }
}
