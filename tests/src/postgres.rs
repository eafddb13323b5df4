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

/// A PostgreSQL server of the test's own (`initdb` into a temporary directory, started with
/// `pg_ctl` on a free loopback port), for tests that stop and restart the database without
/// disturbing the machine's server and the tests using it. Stopped when dropped.
///
/// The server programs are found under `LIENTHONG_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package, which CI installs). As root the
/// programs run as the `postgres` user (PostgreSQL refuses to run as root).
pub struct PrivateServer {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    port: u16,
    dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Creates and starts a server; panics when PostgreSQL's programs are missing.
    pub fn start() -> Self {
        let bin = std::env::var_os("LIENTHONG_TEST_PG_BIN")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|b| b.join("pg_ctl").exists())
                    .collect();
                versions.sort();
                versions.pop()
            })
            .expect("PostgreSQL's server programs (apt-get install postgresql) or LIENTHONG_TEST_PG_BIN");
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let port = crate::gateway_process::free_port();
        let server = Self {
            bin,
            data,
            port,
            dir,
        };
        if server.as_root() {
            // initdb and the server run as postgres: give it the directory.
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the server's directory to postgres");
        }
        server.run(
            "initdb",
            &[
                "-D",
                &server.data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        server.pg_ctl("start");
        server
    }

    /// Whether this process runs as root (then PostgreSQL's programs run as `postgres`).
    fn as_root(&self) -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }

    /// The command running `program` of the server's programs, as `postgres` when root.
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if self.as_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            std::process::Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl ACTION` (`start`, `stop`, `restart`), fast shutdown, waiting until it is done.
    pub fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data.display().to_string();
        let mut args = vec![action, "-D", &data, "-w", "-m", "fast", "-l", &log];
        if action != "stop" {
            args.extend(["-o", &options]);
        }
        self.run("pg_ctl", &args);
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-D", &data, "-m", "immediate", "-w"])
            .output();
    }
}

/// The store a test's gateways run on: a SQLite file in the test's directory (the default), or
/// a fresh PostgreSQL database, so one test body checks both backends ([`crate::on_both_stores`]).
pub enum TestStore {
    /// SQLite in the test's directory.
    Sqlite,
    /// A database made for this test.
    Postgres(TestDatabase),
}

impl TestStore {
    /// SQLite.
    pub fn sqlite() -> Self {
        Self::Sqlite
    }

    /// A fresh PostgreSQL database (panics when the server cannot be reached).
    pub async fn postgres() -> Self {
        Self::Postgres(TestDatabase::create().await)
    }

    /// `store.url` for [`crate::gateway_process::TestConfig::store_url`]: `None` for SQLite
    /// (the configuration's own file in the test directory).
    pub fn url(&self) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(db) => Some(db.url.clone()),
        }
    }

    /// Drops the PostgreSQL database, if any.
    pub async fn finish(self) {
        if let Self::Postgres(db) = self {
            db.drop_database().await;
        }
    }
}

/// Runs each named test, an `async fn(T)` where `T: From<TestStore>` (a `TestStore` itself, or a
/// test's own fixture built from one), on SQLite and on PostgreSQL, as `<name>::sqlite` and
/// `<name>::postgres`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::postgres::TestStore::sqlite().into()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::postgres::TestStore::postgres().await.into()).await;
            }
        }
    )*};
}
