//! The store on a real SQLite file: intake outcomes, lane ordering, batching, release, replay.

use lienthong_connectors::{MessageKind, Outcome};
use lienthong_mappings::DossierStatus;

use super::*;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = Store::open(&url, 64, 2).await.expect("open");
    (dir, s)
}

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
    }
}

fn delivered() -> Outcome {
    Outcome::Delivered {
        http_status: Some(200),
        portal: None,
    }
}

#[tokio::test]
async fn intake_outcomes() {
    let (_d, s) = store().await;
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
}

#[tokio::test]
async fn only_the_head_of_a_lane_is_claimed_and_progress_is_batched() {
    let (_d, s) = store().await;
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
    s.complete(vec![done(&first[0], Decision::Delivered, delivered())])
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
    s.complete(vec![done(
        &next[0],
        Decision::RetryAt {
            at_ms: later,
            delay_ms: 60_000,
        },
        Outcome::retry("503"),
    )])
    .await
    .expect("complete");
    assert!(
        s.claim(claim(10, 10)).await.expect("claim").is_empty(),
        "A-p10 must not overtake A-p0..9"
    );
    let counts = s.delivery_counts().await.expect("counts");
    let get = |st: &str| counts.iter().find(|c| c.state == st).map_or(0, |c| c.count);
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
}

#[tokio::test]
async fn release_returns_claims_and_replay_revives_dead_letters() {
    let (_d, s) = store().await;
    s.intake_dossier(dossier("A", "x")).await.expect("ok");
    s.intake_event(event("A", 1)).await.expect("ok");
    let c = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(s.release_all().await.expect("release"), 1);
    let c2 = s.claim(claim(10, 10)).await.expect("claim");
    assert_eq!(ids(&c2), ids(&c), "released deliveries are due again");
    s.complete(vec![done(
        &c2[0],
        Decision::Dead,
        Outcome::reject("invalid"),
    )])
    .await
    .expect("complete");
    assert!(
        s.claim(claim(10, 10)).await.expect("claim").is_empty(),
        "dead holds its lane"
    );
    let dead = s
        .deliveries(&DeliveryFilter {
            state: Some("dead".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(dead.len(), 1);
    let held = s
        .deliveries(&DeliveryFilter {
            state: Some("pending".into()),
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
        ReplayOutcome::NotReplayable("pending".into())
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
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = Store::open(&url, 64, 2).await.expect("open");
    s.intake_dossier(dossier("A", "x")).await.expect("ok");
    s.close().await;
    let s = Store::open(&url, 64, 2).await.expect("reopen");
    assert!(s.dossier("A").await.expect("read").is_some());
    assert_eq!(s.claim(claim(10, 10)).await.expect("claim").len(), 1);
    s.close().await;
}

#[tokio::test]
async fn a_failing_operation_fails_alone_and_leaves_nothing() {
    let (_d, s) = store().await;
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
}

/// Moves every time of the store back by `ms` (as if it all happened that long ago).
async fn age_everything(dir: &std::path::Path, ms: i64) {
    let url = format!("sqlite://{}", dir.join("t.db").display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("second connection");
    for sql in [
        "UPDATE deliveries SET updated_at = updated_at - ?",
        "UPDATE dossiers SET updated_at = updated_at - ?",
        "UPDATE inbound_dedupe SET received_at = received_at - ?",
    ] {
        sqlx::query(sql).bind(ms).execute(&pool).await.expect("age");
    }
    pool.close().await;
}

#[tokio::test]
async fn retention_purges_old_delivered_work_in_batches_and_keeps_the_rest() {
    let (dir, s) = store().await;
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
        s.complete(completions).await.expect("complete");
    }
    let push = || CallbackReceipt {
        source: "payment".into(),
        event: "payment.confirmed".into(),
        dedupe_key: "GD-1".into(),
        dossier_code: "A".into(),
        body: "{}".into(),
        sha256: "s".into(),
        answer: "ok".into(),
        notices: Vec::new(),
        event_intake: None,
    };
    assert_eq!(
        s.receive_callback(push()).await.expect("push"),
        CallbackOutcome::Stored("ok".into())
    );
    let day = 24 * 3600 * 1000;
    age_everything(dir.path(), 40 * day).await;
    s.intake_dossier(dossier("D", "x")).await.expect("ok");
    let c = s.claim(claim(10, 10)).await.expect("claim");
    s.complete(vec![done(&c[0], Decision::Delivered, delivered())])
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

#[tokio::test]
async fn a_job_lease_is_held_by_one_owner_renewed_taken_over_when_it_runs_out_and_released() {
    let (_d, s) = store().await;
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
}

/// One claimed-and-completed message, as three PostgreSQL claimers saw it.
#[derive(Debug, Clone)]
struct Sent {
    lane: String,
    seq: i64,
    owner: usize,
    from: std::time::Instant,
    to: std::time::Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_claimers_never_share_a_lane_keep_its_order_and_send_each_message_once() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    let store = std::sync::Arc::new(
        super::postgres::PgDeliveries::connect(&db.url, 8)
            .await
            .expect("connect"),
    );
    // 60 lanes of 4 messages each (dossier then progress entries).
    for lane in 0..60 {
        let code = format!("L{lane:03}");
        let msgs: Vec<NewMessage> = (0..4)
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
        store.queue(&code, &msgs).await.expect("queue");
    }
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Sent>::new()));
    let mut tasks = Vec::new();
    for owner in 0..3 {
        let (store, sent) = (store.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let c = Claim {
                    owner: format!("instance-{owner}"),
                    ..claim(5, 1)
                };
                let batches = store.claim(&c).await.expect("claim");
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
                    .complete(&c.owner, &completions)
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
    db.drop_database().await;
}

#[tokio::test]
async fn postgres_a_dead_instances_lease_is_taken_over_and_its_late_completion_ignored() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    let store = super::postgres::PgDeliveries::connect(&db.url, 4)
        .await
        .expect("connect");
    store
        .queue("A", &[msg("A-1", MessageKind::Dossier)])
        .await
        .expect("queue");
    let dying = Claim {
        owner: "dying".into(),
        lease_ms: 100,
        ..claim(10, 1)
    };
    let held = store.claim(&dying).await.expect("claim");
    assert_eq!(held.len(), 1);
    let other = Claim {
        owner: "other".into(),
        ..claim(10, 1)
    };
    assert!(
        store.claim(&other).await.expect("claim").is_empty(),
        "leased"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let taken = store.claim(&other).await.expect("claim");
    assert_eq!(taken.len(), 1, "the lease ran out: taken over");
    assert_eq!(taken[0].messages[0].id, "A-1");
    // The dead instance's late answer changes nothing; the new holder's is recorded.
    store
        .complete(
            "dying",
            &[done(&held[0], Decision::Dead, Outcome::reject("late"))],
        )
        .await
        .expect("complete");
    store
        .complete(
            "other",
            &[done(&taken[0], Decision::Delivered, delivered())],
        )
        .await
        .expect("complete");
    assert!(store.claim(&other).await.expect("claim").is_empty());
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .expect("connect");
    let (state, attempts): (String, i64) = sqlx::query_as(
        "SELECT d.state, (SELECT COUNT(*) FROM attempts a WHERE a.message_seq = d.message_seq) FROM deliveries d",
    )
    .fetch_one(&mut conn)
    .await
    .expect("row");
    assert_eq!((state.as_str(), attempts), ("delivered", 1));
    conn.close().await.ok();
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_job_runs_in_one_instance_at_a_time() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    let store = std::sync::Arc::new(
        super::postgres::PgDeliveries::connect(&db.url, 8)
            .await
            .expect("connect"),
    );
    let long = std::time::Duration::from_secs(60);
    // Ten instances ask at once: exactly one gets the job.
    let mut asks = Vec::new();
    for i in 0..10 {
        let store = store.clone();
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
    // Renewal, take-over after it ran out, release.
    assert!(
        store
            .acquire_job("retention", "a", std::time::Duration::from_millis(100))
            .await
            .expect("a")
    );
    assert!(!store.acquire_job("retention", "b", long).await.expect("b"));
    assert!(
        store
            .acquire_job("retention", "a", std::time::Duration::from_millis(100))
            .await
            .expect("renew")
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        store
            .acquire_job("retention", "b", long)
            .await
            .expect("b takes over")
    );
    store.release_job("retention", "b").await.expect("release");
    assert!(
        store
            .acquire_job("retention", "a", long)
            .await
            .expect("a again")
    );
    db.drop_database().await;
}

#[tokio::test]
async fn postgres_retention_purges_delivered_work_and_keeps_dead_letters() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    let store = super::postgres::PgDeliveries::connect(&db.url, 4)
        .await
        .expect("connect");
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .expect("connect");
    for code in ["A", "B"] {
        sqlx::query("INSERT INTO dossiers (code, body, body_sha256, status, destinations, version, intake_answer, created_at, updated_at) VALUES ($1, '{}', 's', 'accepted', '[\"dvcqg\"]', 1, 'a', 0, 0)")
            .bind(code)
            .execute(&mut conn)
            .await
            .expect("dossier");
        store
            .queue(code, &[msg(&format!("{code}-1"), MessageKind::Dossier)])
            .await
            .expect("queue");
    }
    sqlx::query("INSERT INTO inbound_dedupe (source, message_id, body_sha256, answer, received_at) VALUES ('callback:payment', 'GD-1', 's', 'ok', 0)")
        .execute(&mut conn)
        .await
        .expect("dedupe");
    let c = claim(10, 1);
    let batches = store.claim(&c).await.expect("claim");
    let completions: Vec<Completion> = batches
        .iter()
        .map(|b| {
            if b.dossier_code == "A" {
                done(b, Decision::Delivered, delivered())
            } else {
                done(b, Decision::Dead, Outcome::reject("invalid"))
            }
        })
        .collect();
    store
        .complete(&c.owner, &completions)
        .await
        .expect("complete");
    // Everything happened long ago.
    sqlx::query("UPDATE deliveries SET updated_at = 0")
        .execute(&mut conn)
        .await
        .expect("age");
    let plan = PurgePlan {
        delivered_before: 1,
        dossiers_before: 1,
        dedupe_before: 1,
        batch: 10,
    };
    let first = store.purge(plan).await.expect("purge");
    assert_eq!(
        (first.messages, first.dossiers, first.dedupe),
        (1, 1, 1),
        "A's message, then A itself (nothing left to deliver), the old dedupe record"
    );
    assert_eq!(store.purge(plan).await.expect("purge"), Purged::default());
    let left: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.code, x.state FROM dossiers d JOIN deliveries x ON x.dossier_code = d.code",
    )
    .fetch_all(&mut conn)
    .await
    .expect("left");
    assert_eq!(
        left,
        [("B".to_owned(), "dead".to_owned())],
        "the dead letter and its dossier stay"
    );
    conn.close().await.ok();
    db.drop_database().await;
}
