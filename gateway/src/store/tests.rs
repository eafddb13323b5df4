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

lienthong_tests::on_both_stores!(
    intake_outcomes,
    only_the_head_of_a_lane_is_claimed_and_progress_is_batched,
    release_returns_claims_and_replay_revives_dead_letters,
    data_survives_reopening,
    a_failing_operation_fails_alone_and_leaves_nothing,
    retention_purges_old_delivered_work_in_batches_and_keeps_the_rest,
    a_body_is_stored_once_for_all_its_destinations_and_purged_after_its_last_message,
    a_job_lease_is_held_by_one_owner_renewed_taken_over_when_it_runs_out_and_released,
    claimers_never_share_a_lane_keep_its_order_and_send_each_message_once,
    a_dead_instances_lease_is_taken_over_and_its_late_completion_ignored,
    a_job_runs_in_one_instance_at_a_time,
    concurrent_repeats_are_stored_once_and_get_the_original_answer,
    new_dossiers_written_together_get_the_answers_they_would_get_alone,
    completions_recorded_together_are_recorded_as_alone,
    audit_records_are_written_with_what_they_record_and_linked_in_order,
    deadlines_are_counted_as_of_a_moment,
    a_nonce_is_taken_once_within_its_window_and_survives_reopening,
    a_console_session_is_known_until_it_ends_or_expires,
    a_payment_key_with_other_content_is_a_new_state_but_never_unpays,
);

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

async fn intake_outcomes(f: Fixture) {
    let s = f.open().await;
    assert_eq!(
        s.intake_dossier(dossier("A", "x")).await.expect("ok"),
        IntakeOutcome::Accepted("answer-A".into())
    );
    assert_eq!(
        s.intake_dossier(dossier("A", "x")).await.expect("ok"),
        IntakeOutcome::Repeat("answer-A".into())
    );
    assert!(matches!(
        s.intake_dossier(dossier("A", "y")).await.expect("ok"),
        IntakeOutcome::Conflict(_)
    ));
    assert_eq!(
        s.intake_event(event("B", 1)).await.expect("ok"),
        IntakeOutcome::NotFound
    );
    assert!(matches!(
        s.intake_event(event("A", 1)).await.expect("ok"),
        IntakeOutcome::Accepted(_)
    ));
    assert!(matches!(
        s.intake_event(event("A", 1)).await.expect("ok"),
        IntakeOutcome::Repeat(_)
    ));
    let mut returned = event("A", 2);
    returned.status = DossierStatus::Returned;
    assert!(matches!(
        s.intake_event(returned).await.expect("ok"),
        IntakeOutcome::Accepted(_)
    ));
    assert!(matches!(
        s.intake_event(event("A", 3)).await.expect("ok"),
        IntakeOutcome::InvalidTransition { .. }
    ));
    assert_eq!(
        s.dossier("A").await.expect("read").expect("exists").status,
        "returned"
    );
    s.close().await;
    f.finish().await;
}

async fn only_the_head_of_a_lane_is_claimed_and_progress_is_batched(f: Fixture) {
    let s = f.open().await;
    s.intake_dossier(dossier("A", "x")).await.expect("ok");
    s.intake_dossier(dossier("B", "x")).await.expect("ok");
    for n in 0..12 {
        s.intake_event(event("A", n)).await.expect("ok");
    }
    // The dossier messages are the heads; A's progress waits behind A's dossier.
    let first = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(
        ids(&first),
        [vec!["A-d".to_owned()], vec!["B-d".to_owned()]]
    );
    assert!(
        s.claim(claim(10, 10)).await.expect("claim").is_empty(),
        "nothing else is eligible"
    );
    s.complete("t", vec![done(&first[0], Decision::Delivered, delivered())])
        .await
        .expect("complete");
    // Now A's progress entries go, ten at a time, in order.
    let next = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].kind, MessageKind::Progress);
    let expected: Vec<String> = (0..10).map(|n| format!("A-p{n}")).collect();
    assert_eq!(ids(&next)[0], expected);
    // A failed batch stays at the head of its lane.
    let later = now_ms() + 60_000;
    s.complete(
        "t",
        vec![done(
            &next[0],
            Decision::RetryAt {
                at_ms: later,
                delay_ms: 60_000,
            },
            Outcome::retry("503"),
        )],
    )
    .await
    .expect("complete");
    assert!(
        s.claim(claim(10, 10)).await.expect("claim").is_empty(),
        "A-p10 must not overtake A-p0..9"
    );
    let counts = s.delivery_counts().await.expect("counts");
    let get = |st: &str| {
        counts
            .iter()
            .find(|c| c.state.as_str() == st)
            .map_or(0, |c| c.count)
    };
    assert_eq!(
        (
            get("delivered"),
            get("retry_wait"),
            get("pending"),
            get("in_flight")
        ),
        (1, 10, 2, 1)
    );
    s.close().await;
    f.finish().await;
}

async fn release_returns_claims_and_replay_revives_dead_letters(f: Fixture) {
    let s = f.open().await;
    s.intake_dossier(dossier("A", "x")).await.expect("ok");
    s.intake_event(event("A", 1)).await.expect("ok");
    let c = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(s.release_abandoned("t").await.expect("release"), 1);
    let c2 = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(ids(&c2), ids(&c), "released deliveries are due again");
    s.complete(
        "t",
        vec![done(&c2[0], Decision::Dead, Outcome::reject("invalid"))],
    )
    .await
    .expect("complete");
    assert!(
        s.claim(claim(10, 10)).await.expect("claim").is_empty(),
        "dead holds its lane"
    );
    let dead = s
        .deliveries(&DeliveryFilter {
            state: Some(DeliveryState::Dead),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(dead.len(), 1);
    let held = s
        .deliveries(&DeliveryFilter {
            state: Some(DeliveryState::Pending),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(held[0].held_by.as_deref(), Some("A-d"));
    assert_eq!(
        s.replay("A-d").await.expect("replay"),
        ReplayOutcome::Replayed
    );
    assert_eq!(
        s.replay("A-d").await.expect("replay"),
        ReplayOutcome::NotReplayable(DeliveryState::Pending)
    );
    assert_eq!(
        s.replay("nope").await.expect("replay"),
        ReplayOutcome::NotFound
    );
    let c3 = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(c3[0].messages[0].attempts, 0, "replay gives fresh attempts");
    let attempts = s.attempts("A-d").await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "rejected");
    s.close().await;
    f.finish().await;
}

async fn data_survives_reopening(f: Fixture) {
    let s = f.open().await;
    s.intake_dossier(dossier("A", "x")).await.expect("ok");
    s.close().await;
    let s = f.open().await;
    assert!(s.dossier("A").await.expect("read").is_some());
    assert_eq!(s.claim(claim(10, 10)).await.expect("claim").len(), 1);
    s.close().await;
    f.finish().await;
}

async fn a_failing_operation_fails_alone_and_leaves_nothing(f: Fixture) {
    let s = f.open().await;
    for round in 0..5 {
        let a = format!("A{round}");
        let b = format!("B{round}");
        let mut ok = dossier(&a, "x");
        ok.messages = vec![msg(&format!("m{round}"), MessageKind::Dossier)];
        let mut bad = dossier(&b, "x");
        // The same message id twice violates messages.id UNIQUE in the middle of the operation.
        bad.messages = vec![
            msg(&format!("n{round}"), MessageKind::Dossier),
            msg(&format!("n{round}"), MessageKind::Dossier),
        ];
        let (r1, r2, r3) = tokio::join!(
            s.intake_dossier(ok),
            s.intake_dossier(bad),
            s.intake_dossier(dossier(&format!("C{round}"), "x"))
        );
        assert!(matches!(r1, Ok(IntakeOutcome::Accepted(_))), "{r1:?}");
        assert!(matches!(r2, Err(StoreError::Db(_))), "{r2:?}");
        assert!(matches!(r3, Ok(IntakeOutcome::Accepted(_))), "{r3:?}");
        assert!(
            s.dossier(&b).await.expect("read").is_none(),
            "the failed operation left its dossier behind"
        );
        assert!(s.dossier(&a).await.expect("read").is_some());
    }
    let all = s
        .deliveries(&DeliveryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        all.len(),
        10,
        "one delivery per accepted dossier, created by the trigger"
    );
    s.close().await;
    f.finish().await;
}

/// Moves every time of the store back by `ms` (as if it all happened that long ago).
async fn age_everything(f: &Fixture, ms: i64) {
    for sql in [
        "UPDATE deliveries SET updated_at = updated_at - $1",
        "UPDATE dossiers SET updated_at = updated_at - $1",
        "UPDATE inbound_dedupe SET received_at = received_at - $1",
    ] {
        f.execute(sql, ms).await;
    }
}

async fn retention_purges_old_delivered_work_in_batches_and_keeps_the_rest(f: Fixture) {
    let s = f.open().await;
    // A and B delivered; C dead; then a fresh D (delivered) after the ageing.
    for code in ["A", "B", "C"] {
        s.intake_dossier(dossier(code, "x")).await.expect("ok");
    }
    s.intake_event(event("A", 1)).await.expect("ok");
    loop {
        let c = s.claim(claim(10, 10)).await.expect("claim");
        if c.is_empty() {
            break;
        }
        let completions = c
            .iter()
            .map(|b| {
                if b.dossier_code == "C" {
                    done(b, Decision::Dead, Outcome::reject("invalid"))
                } else {
                    done(b, Decision::Delivered, delivered())
                }
            })
            .collect();
        s.complete("t", completions).await.expect("complete");
    }
    let push = || payment_push("ok", Vec::new());
    assert_eq!(
        s.receive_callback(push()).await.expect("push"),
        CallbackOutcome::Stored("ok".into())
    );
    let day = 24 * 3600 * 1000;
    age_everything(&f, 40 * day).await;
    s.intake_dossier(dossier("D", "x")).await.expect("ok");
    let c = s.claim(claim(10, 10)).await.expect("claim");
    s.complete("t", vec![done(&c[0], Decision::Delivered, delivered())])
        .await
        .expect("complete");

    let now = now_ms();
    let plan = |dossiers_days: i64| PurgePlan {
        delivered_before: now - 30 * day,
        dossiers_before: now - dossiers_days * day,
        dedupe_before: now - 30 * day,
        batch: 2,
    };
    // Dossiers kept a year: only the old delivered messages go, two per round.
    let first = s.purge(plan(365)).await.expect("purge");
    assert_eq!(first.messages, 2);
    assert_eq!(first.dedupe, 1, "the old push's dedupe record");
    assert!(first.full(2));
    let second = s.purge(plan(365)).await.expect("purge");
    assert_eq!(second.messages, 1, "A's dossier, A's event, B's dossier");
    assert_eq!(s.purge(plan(365)).await.expect("purge"), Purged::default());
    let left: Vec<String> = s
        .deliveries(&DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_iter()
        .map(|d| format!("{}:{}", d.dossier_code, d.state))
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.contains(&"C:dead".to_owned()),
        "dead letters are kept: {left:?}"
    );
    assert!(
        left.contains(&"D:delivered".to_owned()),
        "recent work is kept: {left:?}"
    );
    for code in ["A", "B", "C", "D"] {
        assert!(
            s.dossier(code).await.expect("read").is_some(),
            "{code} still queryable"
        );
    }

    // Dossiers kept 30 days: A and B go (nothing left to deliver); C waits for its dead letter.
    let p = s.purge(plan(30)).await.expect("purge");
    assert_eq!((p.messages, p.dossiers), (0, 2));
    assert!(s.dossier("A").await.expect("read").is_none());
    assert!(s.dossier("B").await.expect("read").is_none());
    assert!(
        s.dossier("C").await.expect("read").is_some(),
        "a dossier with a dead letter stays"
    );
    assert!(s.dossier("D").await.expect("read").is_some());
    assert!(s.attempts("A-d").await.expect("attempts").is_empty());
    // Its dedupe record gone, the same push is new again (the replay window refuses it first).
    assert_eq!(
        s.receive_callback(push()).await.expect("push"),
        CallbackOutcome::Stored("ok".into())
    );
    s.close().await;
    f.finish().await;
}

async fn a_body_is_stored_once_for_all_its_destinations_and_purged_after_its_last_message(
    f: Fixture,
) {
    let s = f.open().await;
    let destinations = ["dvcqg", "emc", "webhook"];
    let with_body = |code: &str, body: &str| shared_body(code, body, &destinations);
    let a_body = r#"{"op":"create","dossier":{"code":"A","note":"ba nơi nhận"}}"#;
    s.intake_dossier(with_body("A", a_body)).await.expect("ok");
    s.intake_dossier(with_body("B", r#"{"op":"create","dossier":{"code":"B"}}"#))
        .await
        .expect("ok");
    assert_eq!(
        f.count("SELECT COUNT(*) FROM message_bodies").await,
        2,
        "one body per dossier, not one per destination"
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM messages WHERE body <> ''")
            .await,
        0,
        "messages name their body, they do not copy it"
    );
    // A body only one message has stays in its row: no hashing, no second row.
    s.intake_dossier(dossier("C", "c")).await.expect("ok");
    assert_eq!(
        f.count("SELECT COUNT(*) FROM messages WHERE body <> '' AND body_sha256 IS NULL")
            .await,
        1
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM message_bodies").await, 2);
    // A message written before bodies were shared keeps its body inline and is still sent.
    f.execute(
        "INSERT INTO messages (id, dossier_code, destination, kind, body, created_at)
         VALUES ('old', 'O', 'webhook', 'dossier', '{\"inline\":true}', $1)",
        now_ms(),
    )
    .await;

    // Every destination reads the whole body; A's three deliveries are done, B's are not.
    let mut read = Vec::new();
    for d in destinations {
        let batches = s
            .claim(Claim {
                destination: d.into(),
                ..claim(10, 1)
            })
            .await
            .expect("claim");
        for b in &batches {
            for m in &b.messages {
                read.push((m.id.clone(), m.body.clone()));
            }
        }
        let completions = batches
            .iter()
            .filter(|b| b.dossier_code == "A")
            .map(|b| done(b, Decision::Delivered, delivered()))
            .collect();
        s.complete("t", completions).await.expect("complete");
    }
    read.sort();
    assert_eq!(read.len(), 8, "{read:?}");
    assert!(read.contains(&("C-d".to_owned(), "{}".to_owned())));
    for d in destinations {
        assert!(
            read.contains(&(format!("A-{d}"), a_body.to_owned())),
            "{read:?}"
        );
    }
    assert!(read.contains(&("old".to_owned(), r#"{"inline":true}"#.to_owned())));

    let day = 24 * 3600 * 1000;
    age_everything(&f, 40 * day).await;
    f.execute(
        "UPDATE message_bodies SET touched_at = touched_at - $1",
        40 * day,
    )
    .await;
    let now = now_ms();
    let p = s
        .purge(PurgePlan {
            delivered_before: now - 30 * day,
            dossiers_before: now - 365 * day,
            dedupe_before: now - 30 * day,
            batch: 10,
        })
        .await
        .expect("purge");
    assert_eq!(
        (p.messages, p.bodies),
        (3, 1),
        "A's messages, then A's body"
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM message_bodies").await,
        1,
        "B's body stays while its messages wait"
    );
    s.close().await;
    f.finish().await;
}

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

async fn a_job_lease_is_held_by_one_owner_renewed_taken_over_when_it_runs_out_and_released(
    f: Fixture,
) {
    let s = f.open().await;
    let long = std::time::Duration::from_secs(60);
    let short = std::time::Duration::from_millis(100);
    assert!(s.acquire_job("follow:nbrs", "a", long).await.expect("a"));
    assert!(
        !s.acquire_job("follow:nbrs", "b", long).await.expect("b"),
        "a holds it"
    );
    assert!(
        s.acquire_job("follow:nbrs", "a", short)
            .await
            .expect("a renews")
    );
    assert!(
        s.acquire_job("retention", "b", long)
            .await
            .expect("another job")
    );
    // a stops renewing: once its lease has run out, b takes the job over.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    assert!(s.acquire_job("follow:nbrs", "b", long).await.expect("b"));
    assert!(
        !s.acquire_job("follow:nbrs", "a", long).await.expect("a"),
        "b holds it now"
    );
    // Released at shutdown: the other takes it at once.
    s.release_job("follow:nbrs", "b").await.expect("release");
    assert!(s.acquire_job("follow:nbrs", "a", long).await.expect("a"));
    // Releasing a job one does not hold changes nothing.
    s.release_job("follow:nbrs", "b").await.expect("release");
    assert!(!s.acquire_job("follow:nbrs", "b", long).await.expect("b"));
    s.close().await;
    f.finish().await;
}

async fn a_nonce_is_taken_once_within_its_window_and_survives_reopening(f: Fixture) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let s = f.open().await;
    assert!(s.remember_nonce("k", "n1", now + 60).await.expect("first"));
    assert!(!s.remember_nonce("k", "n1", now + 60).await.expect("replay"));
    assert!(
        s.remember_nonce("other", "n1", now + 60)
            .await
            .expect("key"),
        "nonces are per key"
    );
    // An expired record is renewed: its signature is out of its window anyway.
    assert!(s.remember_nonce("k", "old", now - 1).await.expect("old"));
    assert!(s.remember_nonce("k", "old", now + 60).await.expect("renew"));
    s.close().await;
    // Another handle (another instance, or this one after a restart) sees it.
    let again = f.open().await;
    assert!(
        !again
            .remember_nonce("k", "n1", now + 60)
            .await
            .expect("seen")
    );
    again.close().await;
    f.finish().await;
}

/// One claimed-and-completed message, as concurrent claimers saw it.
#[derive(Debug, Clone)]
struct Sent {
    lane: String,
    seq: i64,
    owner: usize,
    from: std::time::Instant,
    to: std::time::Instant,
}

/// Three instances (three stores on one database; on SQLite three handles of one store) claim
/// 60 lanes of 4 messages at once.
async fn claimers_never_share_a_lane_keep_its_order_and_send_each_message_once(f: Fixture) {
    let stores = if f.is_postgres() {
        vec![f.open().await, f.open().await, f.open().await]
    } else {
        let s = f.open().await;
        vec![s.clone(), s.clone(), s]
    };
    for lane in 0..60 {
        let code = format!("L{lane:03}");
        let mut d = dossier(&code, "x");
        d.messages = (0..4)
            .map(|n| {
                msg(
                    &format!("{code}-{n}"),
                    if n == 0 {
                        MessageKind::Dossier
                    } else {
                        MessageKind::Progress
                    },
                )
            })
            .collect();
        stores[lane % 3].intake_dossier(d).await.expect("intake");
    }
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Sent>::new()));
    let mut tasks = Vec::new();
    for (owner, store) in stores.iter().cloned().enumerate() {
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let c = Claim {
                    owner: format!("instance-{owner}"),
                    ..claim(5, 1)
                };
                let batches = store.claim(c.clone()).await.expect("claim");
                if batches.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                let from = std::time::Instant::now();
                // "Sending" takes a moment, so claims of other instances overlap with it.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let completions: Vec<Completion> = batches
                    .iter()
                    .map(|b| done(b, Decision::Delivered, delivered()))
                    .collect();
                let to = std::time::Instant::now();
                {
                    let mut s = sent.lock().expect("lock");
                    for b in &batches {
                        for m in &b.messages {
                            s.push(Sent {
                                lane: b.dossier_code.clone(),
                                seq: m.seq,
                                owner,
                                from,
                                to,
                            });
                        }
                    }
                }
                store
                    .complete(&c.owner, completions)
                    .await
                    .expect("complete");
            }
        }));
    }
    for t in tasks {
        t.await.expect("claimer");
    }
    let sent = sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 240, "every message sent");
    let mut seqs: Vec<i64> = sent.iter().map(|s| s.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 240, "none sent twice");
    let owners: std::collections::BTreeSet<usize> = sent.iter().map(|s| s.owner).collect();
    assert_eq!(owners.len(), 3, "the three instances shared the work");
    let mut by_lane: std::collections::BTreeMap<&str, Vec<&Sent>> = Default::default();
    for s in &sent {
        by_lane.entry(s.lane.as_str()).or_default().push(s);
    }
    for (lane, mut items) in by_lane {
        items.sort_by_key(|s| s.from);
        let order: Vec<i64> = items.iter().map(|s| s.seq).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "{lane}: sent in order");
        for w in items.windows(2) {
            assert!(
                w[0].to <= w[1].from,
                "{lane}: two messages in flight at once ({} by {}, {} by {})",
                w[0].seq,
                w[0].owner,
                w[1].seq,
                w[1].owner
            );
        }
    }
    let counts = stores[0].delivery_counts().await.expect("counts");
    assert_eq!(
        counts,
        [StateCount {
            destination: "dvcqg".into(),
            state: DeliveryState::Delivered,
            count: 240
        }]
    );
    for s in stores {
        s.close().await;
    }
    f.finish().await;
}

async fn a_dead_instances_lease_is_taken_over_and_its_late_completion_ignored(f: Fixture) {
    let store = f.open().await;
    store.intake_dossier(dossier("A", "x")).await.expect("ok");
    // Times with wide margins: the test machine may be busy with other tests.
    let ms = std::time::Duration::from_millis;
    let dying = Claim {
        owner: "dying".into(),
        lease_ms: 2000,
        ..claim(10, 1)
    };
    let held = store.claim(dying).await.expect("claim");
    assert_eq!(held.len(), 1);
    let other = Claim {
        owner: "other".into(),
        ..claim(10, 1)
    };
    assert!(
        store.claim(other.clone()).await.expect("claim").is_empty(),
        "leased"
    );
    // While the holder renews its lease, nobody takes the message.
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(
        store
            .renew("dying", vec![held[0].messages[0].seq], 2000)
            .await
            .expect("renew"),
        1
    );
    tokio::time::sleep(ms(1500)).await;
    assert!(
        store.claim(other.clone()).await.expect("claim").is_empty(),
        "renewed, still leased"
    );
    // Then it dies: once the lease has run out, another instance takes the message over.
    tokio::time::sleep(ms(1000)).await;
    let taken = store.claim(other.clone()).await.expect("claim");
    assert_eq!(taken.len(), 1, "the lease ran out: taken over");
    assert_eq!(taken[0].messages[0].id, "A-d");
    assert_eq!(
        store
            .renew("dying", vec![held[0].messages[0].seq], 2000)
            .await
            .expect("renew"),
        0,
        "the dead instance no longer holds it"
    );
    // The dead instance's late answer changes nothing; the new holder's is recorded.
    store
        .complete(
            "dying",
            vec![done(&held[0], Decision::Dead, Outcome::reject("late"))],
        )
        .await
        .expect("complete");
    store
        .complete(
            "other",
            vec![done(&taken[0], Decision::Delivered, delivered())],
        )
        .await
        .expect("complete");
    assert!(store.claim(other).await.expect("claim").is_empty());
    let attempts = store.attempts("A-d").await.expect("attempts");
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].decision, "delivered");
    store.close().await;
    f.finish().await;
}

async fn a_job_runs_in_one_instance_at_a_time(f: Fixture) {
    let mut stores = Vec::new();
    for _ in 0..10 {
        stores.push(f.open().await);
    }
    let long = std::time::Duration::from_secs(60);
    // Ten instances ask at once: exactly one gets the job.
    let mut asks = Vec::new();
    for (i, store) in stores.iter().cloned().enumerate() {
        asks.push(tokio::spawn(async move {
            store
                .acquire_job("follow:nbrs", &format!("i{i}"), long)
                .await
                .expect("acquire")
        }));
    }
    let mut winners = 0;
    for a in asks {
        if a.await.expect("task") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    for s in stores {
        s.close().await;
    }
    f.finish().await;
}

/// The same dossier, event and push handed to three instances at once: each is stored once, and
/// every instance answers with the original answer.
async fn concurrent_repeats_are_stored_once_and_get_the_original_answer(f: Fixture) {
    let stores = [f.open().await, f.open().await, f.open().await];
    let (a, b, c) = tokio::join!(
        stores[0].intake_dossier(dossier("A", "x")),
        stores[1].intake_dossier(dossier("A", "x")),
        stores[2].intake_dossier(dossier("A", "x")),
    );
    let outcomes = [a.expect("a"), b.expect("b"), c.expect("c")];
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, IntakeOutcome::Accepted(_)))
        .count();
    assert_eq!(accepted, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, IntakeOutcome::Accepted(a) | IntakeOutcome::Repeat(a) if a == "answer-A")),
        "{outcomes:?}"
    );
    let (a, b, c) = tokio::join!(
        stores[0].intake_event(event("A", 1)),
        stores[1].intake_event(event("A", 1)),
        stores[2].intake_event(event("A", 2)),
    );
    let labels = [a.expect("a"), b.expect("b"), c.expect("c")].map(|o| o.label());
    assert_eq!(
        labels.iter().filter(|l| **l == "accepted").count(),
        2,
        "e1 once, e2 once: {labels:?}"
    );
    assert_eq!(labels.iter().filter(|l| **l == "repeat").count(), 1);
    let view = stores[0]
        .dossier_view("A")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(view.events.len(), 2);
    let push = || {
        payment_push(
            "taken",
            vec![msg(
                &format!("n-{}", uuid::Uuid::now_v7()),
                MessageKind::Notice,
            )],
        )
    };
    let (a, b, c) = tokio::join!(
        stores[0].receive_callback(push()),
        stores[1].receive_callback(push()),
        stores[2].receive_callback(push()),
    );
    let outcomes = [a.expect("a"), b.expect("b"), c.expect("c")];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, CallbackOutcome::Stored(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(|o| matches!(o,
            CallbackOutcome::Stored(a) | CallbackOutcome::Repeat(a) if a == "taken")));
    let pushes = stores[1].callbacks_received("A").await.expect("read");
    assert_eq!(pushes.len(), 1, "stored once");
    for s in stores {
        s.close().await;
    }
    f.finish().await;
}

/// Many new dossiers submitted at once are written in groups (multi-row statements, see
/// `ops::batch`): repeats and conflicts inside one group, against rows stored before it, and
/// bodies shared across dossiers of one group each get what they would get alone.
async fn new_dossiers_written_together_get_the_answers_they_would_get_alone(f: Fixture) {
    let s = f.open().await;
    s.intake_dossier(dossier("OLD-SAME", "o"))
        .await
        .expect("ok");
    s.intake_dossier(dossier("OLD-DIFF", "o"))
        .await
        .expect("ok");
    let shared = |code: &str, body: &str| shared_body(code, body, &["dvcqg", "emc"]);
    let mut batch = Vec::new();
    for round in 0..3 {
        for i in 0..40 {
            batch.push(dossier(&format!("N{round}-{i}"), "n"));
        }
        batch.push(dossier("TWICE", "t"));
        batch.push(NewDossier {
            body: format!("clash {round}"),
            ..dossier("CLASH", &format!("c{round}"))
        });
        batch.push(dossier("OLD-SAME", "o"));
        batch.push(dossier("OLD-DIFF", "other"));
        // The same body text in two dossiers: one row in message_bodies.
        batch.push(shared(&format!("S{round}-a"), "same body"));
        batch.push(shared(&format!("S{round}-b"), "same body"));
    }
    let outcomes = futures::future::join_all(batch.into_iter().map(|d| s.intake_dossier(d))).await;
    let outcomes: Vec<IntakeOutcome> = outcomes.into_iter().map(|o| o.expect("ok")).collect();
    // Which of a code's three submissions is stored first is the store's choice (on PostgreSQL
    // groups run side by side); how many of each answer there are is not.
    let per_code = |k: usize| -> Vec<&'static str> {
        let mut labels: Vec<&'static str> = (0..3)
            .map(|round| outcomes[round * 46 + 40 + k].label())
            .collect();
        labels.sort_unstable();
        labels
    };
    assert_eq!(per_code(0), ["accepted", "repeat", "repeat"], "TWICE");
    assert_eq!(per_code(1), ["accepted", "conflict", "conflict"], "CLASH");
    assert_eq!(per_code(2), ["repeat", "repeat", "repeat"], "OLD-SAME");
    assert_eq!(
        per_code(3),
        ["conflict", "conflict", "conflict"],
        "OLD-DIFF"
    );
    for round in 0..3 {
        for i in 0..40 {
            assert_eq!(
                outcomes[round * 46 + i],
                IntakeOutcome::Accepted(format!("answer-N{round}-{i}"))
            );
        }
    }
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, IntakeOutcome::Repeat(_)))
            .all(|o| matches!(o, IntakeOutcome::Repeat(a) if a == "answer-TWICE" || a == "answer-OLD-SAME")),
        "a repeat gets the original answer: {outcomes:?}"
    );
    // 2 before + 120 N + TWICE + CLASH + 6 S.
    assert_eq!(f.count("SELECT COUNT(*) FROM dossiers").await, 130);
    assert_eq!(f.count("SELECT COUNT(*) FROM messages").await, 2 + 122 + 12);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM deliveries").await,
        2 + 122 + 12,
        "every message has its delivery"
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM message_bodies").await, 1);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM audit_log WHERE peer = 'center' AND outcome = 'accepted'")
            .await,
        130,
        "one record per dossier stored, none for a repeat or a conflict"
    );
    // Linked in one round: several multi-row updates (128 + 2 records), one chain.
    assert_eq!(s.link_audit(1000).await.expect("link"), 130);
    let all = s.audit_page(0, 1000).await.expect("page");
    assert_eq!(crate::records::audit::verify(&all), Ok(130));
    let clash_accepted = (0..3)
        .find(|round| matches!(outcomes[round * 46 + 41], IntakeOutcome::Accepted(_)))
        .expect("one accepted");
    let stored = s.dossier("CLASH").await.expect("read").expect("exists");
    assert_eq!(
        stored.body,
        format!("clash {clash_accepted}"),
        "the accepted one is stored"
    );
    s.close().await;
    f.finish().await;
}

/// Completions that reach the writer together are recorded with multi-row statements: each
/// message gets its state, its attempt and its `sent` audit record as it would alone, and a
/// completion by an owner that no longer holds the lease is audited but not recorded.
async fn completions_recorded_together_are_recorded_as_alone(f: Fixture) {
    let s = f.open().await;
    for n in 0..12 {
        s.intake_dossier(dossier(&format!("D{n}"), "d"))
            .await
            .expect("intake");
    }
    let batches = s.claim(claim(12, 1)).await.expect("claim");
    assert_eq!(batches.len(), 12);
    let later = now_ms() + 60_000;
    let calls = batches.iter().enumerate().map(|(i, b)| {
        let (owner, decision, outcome) = match i % 4 {
            0 => ("t", Decision::Delivered, delivered()),
            1 => (
                "t",
                Decision::RetryAt {
                    at_ms: later,
                    delay_ms: 60_000,
                },
                Outcome::retry("503"),
            ),
            2 => ("t", Decision::Dead, Outcome::reject("invalid")),
            // Not the lease's owner: audited, not recorded.
            _ => ("someone-else", Decision::Delivered, delivered()),
        };
        s.complete(owner, vec![done(b, decision, outcome)])
    });
    for r in futures::future::join_all(calls).await {
        r.expect("complete");
    }
    let count = |sql| f.count(sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'").await,
        3
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM deliveries WHERE state = 'retry_wait' AND attempts = 1").await,
        3
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM deliveries WHERE state = 'dead' AND last_error IS NOT NULL")
            .await,
        3
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM deliveries WHERE state = 'in_flight' AND attempts = 0").await,
        3,
        "the other owner's completions changed nothing"
    );
    assert_eq!(count("SELECT COUNT(*) FROM attempts").await, 9);
    assert_eq!(
        count("SELECT COUNT(*) FROM attempts WHERE retry_delay_ms = 60000").await,
        3
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE direction = 'sent' AND peer = 'dvcqg'").await,
        12,
        "what went over the wire is audited, recorded or not"
    );
    // On SQLite (one writer, one group) the audit records are in the order the completions
    // were submitted; on PostgreSQL each completion is its own transaction, side by side.
    s.link_audit(100).await.expect("link");
    let sent: Vec<String> = s
        .audit_page(0, 100)
        .await
        .expect("page")
        .into_iter()
        .filter(|r| r.direction.as_str() == "sent")
        .map(|r| r.message_id)
        .collect();
    let submitted: Vec<String> = batches.iter().map(|b| b.messages[0].id.clone()).collect();
    if f.is_postgres() {
        let (mut sent, mut submitted) = (sent, submitted);
        sent.sort();
        submitted.sort();
        assert_eq!(sent, submitted);
    } else {
        assert_eq!(sent, submitted);
    }
    s.close().await;
    f.finish().await;
}

async fn audit_records_are_written_with_what_they_record_and_linked_in_order(f: Fixture) {
    let s = f.open().await;
    s.intake_dossier(dossier("A", "sha-a"))
        .await
        .expect("intake");
    // A repeat stores nothing new, so it has no record.
    s.intake_dossier(dossier("A", "sha-a"))
        .await
        .expect("repeat");
    s.intake_event(event("A", 1)).await.expect("event");
    let batches = s.claim(claim(10, 10)).await.expect("claim");
    let mut c = done(&batches[0], Decision::Delivered, delivered());
    c.evidence = lienthong_connectors::evidence::Evidence {
        payload_sha256: Some("ab".repeat(32)),
        signature: Some("sig1=:x:".into()),
        peer_certificate_sha256: Some("ef".repeat(32)),
        xroad: None,
    };
    s.complete("t", vec![c]).await.expect("complete");
    s.receive_callback(payment_push("ok", vec![]))
        .await
        .expect("push");
    assert_eq!(s.audit_status().await.expect("status").unlinked, 4);
    assert_eq!(s.link_audit(2).await.expect("link"), 2, "at most the limit");
    assert_eq!(s.link_audit(100).await.expect("link"), 2);
    assert_eq!(s.link_audit(100).await.expect("link"), 0);
    let all = s.audit_page(0, 100).await.expect("page");
    assert_eq!(crate::records::audit::verify(&all), Ok(4));
    let summary: Vec<_> = all
        .iter()
        .map(|r| {
            (
                r.seq,
                r.direction.as_str(),
                r.peer.as_str(),
                r.message_id.as_str(),
                r.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "received", "center", "A", "accepted"),
            (2, "received", "center", "e1", "accepted"),
            (3, "sent", "dvcqg", "A-d", "delivered"),
            (4, "received", "callback:payment", "GD-1", "stored"),
        ]
    );
    assert_eq!(all[0].payload_sha256.as_deref(), Some("sha-a"));
    assert_eq!(all[2].signature.as_deref(), Some("sig1=:x:"));
    assert_eq!(all[2].peer_certificate_sha256, Some("ef".repeat(32)));
    assert_eq!(all[3].peer_certificate_sha256, Some("cd".repeat(32)));
    let status = s.audit_status().await.expect("status");
    assert_eq!((status.length, status.unlinked), (4, 0));
    assert_eq!(status.head_hash.as_deref(), Some(all[3].hash.as_str()));
    assert_eq!(s.audit_of_dossier("A").await.expect("dossier").len(), 4);
    s.close().await;
    f.finish().await;
}

async fn deadlines_are_counted_as_of_a_moment(f: Fixture) {
    let s = f.open().await;
    let day = 86_400_000;
    let t = 1_800_000_000_000;
    let facts = |agency: &str, due: Option<i64>| crate::records::deadlines::DossierFacts {
        due_at: due,
        received_at: t - 20 * day,
        agency_code: agency.into(),
        procedure_code: "P".into(),
        field_code: None,
    };
    for (code, agency, due) in [
        ("ON", "A", Some(t - day)),
        ("LATE", "A", Some(t - 3 * day)),
        ("OVER", "B", Some(t - day)),
        ("SOON", "B", Some(t + day)),
        ("FAR", "B", Some(t + 10 * day)),
        ("NONE", "B", None),
    ] {
        let mut d = dossier(code, "x");
        d.facts = facts(agency, due);
        s.intake_dossier(d).await.expect("intake");
    }
    for (code, at) in [("ON", t - 2 * day), ("LATE", t - day)] {
        let mut e = event(code, 1);
        e.status = DossierStatus::Returned;
        e.facts.returned_at = Some(at);
        s.intake_event(e).await.expect("returned");
    }
    let groups = s
        .deadline_counts((i64::MIN, i64::MAX), t, 2 * day)
        .await
        .expect("counts");
    let stats = crate::records::deadlines::Stats::from_groups(&groups);
    let c = stats.totals;
    assert_eq!(
        (
            c.on_time,
            c.late,
            c.overdue,
            c.due_soon,
            c.in_progress,
            c.no_due_date,
            c.total
        ),
        (1, 1, 1, 1, 1, 1, 6)
    );
    assert_eq!(stats.by_agency.len(), 2);
    assert_eq!(stats.by_agency[0].counts.total, 2);
    // Before the returns happened, both returned dossiers were still in progress or overdue.
    let earlier = crate::records::deadlines::Stats::from_groups(
        &s.deadline_counts((i64::MIN, i64::MAX), t - 4 * day, 2 * day)
            .await
            .expect("counts"),
    );
    assert_eq!((earlier.totals.on_time, earlier.totals.late), (0, 0));
    let overdue = s.overdue(t, 10).await.expect("overdue");
    assert_eq!(
        overdue.iter().map(|o| o.code.as_str()).collect::<Vec<_>>(),
        ["OVER"]
    );
    s.close().await;
    f.finish().await;
}

async fn a_console_session_is_known_until_it_ends_or_expires(f: Fixture) {
    let now = crate::store::now_ms();
    let s = f.open().await;
    s.start_session("a", "operator", now + 60_000)
        .await
        .expect("start");
    s.start_session("b", "viewer", now + 60_000)
        .await
        .expect("start");
    s.start_session("old", "operator", now - 1)
        .await
        .expect("start");
    assert_eq!(
        s.session_role("a").await.expect("a").as_deref(),
        Some("operator")
    );
    assert_eq!(
        s.session_role("b").await.expect("b").as_deref(),
        Some("viewer")
    );
    assert_eq!(s.session_role("old").await.expect("old"), None, "expired");
    assert_eq!(s.session_role("nope").await.expect("nope"), None);
    s.end_session("a").await.expect("end");
    assert_eq!(s.session_role("a").await.expect("a"), None, "ended");
    s.close().await;
    // Another opening (a restart, another instance) knows the session.
    let s = f.open().await;
    assert_eq!(
        s.session_role("b").await.expect("b").as_deref(),
        Some("viewer")
    );
    s.close().await;
    f.finish().await;
}

/// A repeat is a repeat only when its content is the same: the same transaction failed first,
/// paid later is a new state (stored and forwarded); paid, then failed, is kept and flagged,
/// not forwarded; each content resent is a repeat with its own answer.
async fn a_payment_key_with_other_content_is_a_new_state_but_never_unpays(f: Fixture) {
    let s = f.open().await;
    let push = |event: &str, sha: &str| CallbackReceipt {
        event: event.into(),
        sha256: sha.repeat(64 / sha.len()),
        notices: vec![msg(&format!("notice-{event}-{sha}"), MessageKind::Notice)],
        ..payment_push("00", Vec::new())
    };
    // Failed, then paid: both stored, both forwarded.
    assert_eq!(
        s.receive_callback(push("payment.failed", "f"))
            .await
            .expect("failed"),
        CallbackOutcome::Stored("00".into())
    );
    assert_eq!(
        s.receive_callback(push("payment.confirmed", "p"))
            .await
            .expect("paid"),
        CallbackOutcome::Changed("00".into())
    );
    // Each resent as it was: a repeat.
    for (event, sha) in [("payment.failed", "f"), ("payment.confirmed", "p")] {
        assert!(matches!(
            s.receive_callback(push(event, sha)).await.expect("repeat"),
            CallbackOutcome::Repeat(_)
        ));
    }
    // Paid, then failed (another content): kept, flagged, not forwarded.
    assert_eq!(
        s.receive_callback(push("payment.failed", "x"))
            .await
            .expect("late failure"),
        CallbackOutcome::Flagged("00".into())
    );
    assert!(matches!(
        s.receive_callback(push("payment.failed", "x"))
            .await
            .expect("again"),
        CallbackOutcome::Repeat(_)
    ));
    let kept = s.callbacks_received("A").await.expect("read");
    let events: Vec<String> = kept.iter().map(|k| k.event.clone()).collect();
    assert_eq!(
        events,
        ["payment.failed", "payment.confirmed", "payment.conflict"],
        "{kept:?}"
    );
    let notices = f
        .count("SELECT COUNT(*) FROM messages WHERE id LIKE 'notice-%'")
        .await;
    assert_eq!(notices, 2, "the flagged push is not forwarded");
    drop(s);
    f.finish().await;
}
