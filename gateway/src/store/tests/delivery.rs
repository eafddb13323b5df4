//! Delivery: lanes and their heads, claims and completions, release and replay, concurrent claimers, lease take-over.

use super::*;

lienthong_tests::on_both_stores!(
    only_the_head_of_a_lane_is_claimed_and_progress_is_batched,
    release_returns_claims_and_replay_revives_dead_letters,
    claimers_never_share_a_lane_keep_its_order_and_send_each_message_once,
    a_dead_instances_lease_is_taken_over_and_its_late_completion_ignored,
    completions_recorded_together_are_recorded_as_alone,
);

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
