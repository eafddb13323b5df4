//! The store's behaviour, each test run on both backends: a SQLite file and a fresh PostgreSQL
//! database (`lienthong_tests::postgres`): intake outcomes, lane ordering, batching, release,
//! replay, retention, job leases, and on PostgreSQL concurrent claimers and lease take-over.

use lienthong_connectors::{MessageKind, Outcome};
use lienthong_mappings::DossierStatus;

use lienthong_tests::postgres::TestStore;

use super::*;

/// Where a test's store lives: the test store (SQLite or a fresh PostgreSQL database) and, for
/// SQLite, the directory of its file. Dropped (database included) by [`Fixture::finish`].
struct Fixture {
    store: TestStore,
    dir: tempfile::TempDir,
}

impl From<TestStore> for Fixture {
    fn from(store: TestStore) -> Self {
        Self {
            store,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

impl Fixture {
    fn is_postgres(&self) -> bool {
        matches!(self.store, TestStore::Postgres(_))
    }

    fn url(&self) -> String {
        self.store
            .url()
            .unwrap_or_else(|| format!("sqlite://{}", self.dir.path().join("t.db").display()))
    }

    async fn open(&self) -> Store {
        Store::open(&self.url(), 64, 2).await.expect("open")
    }

    /// Runs `sql` with `ms` bound as `$1` on a connection of its own (as another process would).
    async fn execute(&self, sql: &'static str, ms: i64) {
        if self.is_postgres() {
            let pool = sqlx::PgPool::connect(&self.url()).await.expect("connect");
            sqlx::query(sql).bind(ms).execute(&pool).await.expect("sql");
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url())
                .await
                .expect("connect");
            sqlx::query(sql).bind(ms).execute(&pool).await.expect("sql");
            pool.close().await;
        }
    }

    /// Counts the rows `sql` selects (a `SELECT COUNT(*)`), on a connection of its own.
    async fn count(&self, sql: &'static str) -> i64 {
        if self.is_postgres() {
            let pool = sqlx::PgPool::connect(&self.url()).await.expect("connect");
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.expect("sql");
            pool.close().await;
            n
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url())
                .await
                .expect("connect");
            let n = sqlx::query_scalar(sql).fetch_one(&pool).await.expect("sql");
            pool.close().await;
            n
        }
    }

    async fn finish(self) {
        self.store.finish().await;
    }
}

mod backends;
mod delivery;
mod intake;
mod leases;
mod records;
mod retention;

fn msg(id: &str, kind: MessageKind) -> NewMessage {
    NewMessage {
        id: id.into(),
        destination: "dvcqg".into(),
        kind,
        body: "{}".into(),
    }
}

fn dossier(code: &str, sha: &str) -> NewDossier {
    NewDossier {
        code: code.into(),
        body: "{}".into(),
        sha256: sha.into(),
        status: "accepted".into(),
        destinations: vec!["dvcqg".into()],
        answer: format!("answer-{code}"),
        messages: vec![msg(&format!("{code}-d"), MessageKind::Dossier)],
        facts: crate::records::deadlines::DossierFacts::default(),
    }
}

/// Dossier `code` routed to `destinations`, whose messages share one `body` (as the outbox
/// gives them).
fn shared_body(code: &str, body: &str, destinations: &[&str]) -> NewDossier {
    let body: std::sync::Arc<str> = body.into();
    NewDossier {
        destinations: destinations.iter().map(|d| (*d).to_owned()).collect(),
        messages: destinations
            .iter()
            .map(|d| NewMessage {
                id: format!("{code}-{d}"),
                destination: (*d).to_owned(),
                kind: MessageKind::Dossier,
                body: body.clone(),
            })
            .collect(),
        ..dossier(code, code)
    }
}

fn event(code: &str, n: u32) -> EventIntake {
    EventIntake {
        dossier_code: code.into(),
        event_id: format!("e{n}"),
        status: DossierStatus::Processing,
        body: "{}".into(),
        sha256: format!("sha-{n}"),
        answer: format!("ev-{n}"),
        messages: vec![msg(&format!("{code}-p{n}"), MessageKind::Progress)],
        facts: crate::records::deadlines::EventFacts::default(),
    }
}

fn claim(limit: usize, progress_batch: usize) -> Claim {
    Claim {
        destination: "dvcqg".into(),
        owner: "t".into(),
        limit,
        lease_ms: 60_000,
        progress_batch,
    }
}

fn ids(batches: &[ClaimedBatch]) -> Vec<Vec<String>> {
    batches
        .iter()
        .map(|b| b.messages.iter().map(|m| m.id.clone()).collect())
        .collect()
}

fn done(b: &ClaimedBatch, decision: Decision, outcome: Outcome) -> Completion {
    Completion {
        messages: b.messages.iter().map(|m| (m.seq, m.attempts + 1)).collect(),
        started_at: now_ms(),
        duration_ms: 1,
        outcome,
        decision,
        evidence: lienthong_connectors::evidence::Evidence::default(),
        follow_up: None,
    }
}

/// The payment platform's push GD-1 about dossier A.
fn payment_push(answer: &str, notices: Vec<NewMessage>) -> CallbackReceipt {
    CallbackReceipt {
        source: "payment".into(),
        event: "payment.confirmed".into(),
        dedupe_key: "GD-1".into(),
        dossier_code: "A".into(),
        body: "{}".into(),
        sha256: "s".into(),
        peer_certificate_sha256: Some("cd".repeat(32)),
        answer: answer.into(),
        notices,
        event_intake: None,
        on_change: crate::store::OnChange::NeverUnpay,
    }
}

fn delivered() -> Outcome {
    Outcome::Delivered {
        http_status: Some(200),
        portal: None,
    }
}
