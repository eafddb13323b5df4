//! Retention: what is purged, when, in batches, and shared bodies.

use super::*;

lienthong_tests::on_both_stores!(
    retention_purges_old_delivered_work_in_batches_and_keeps_the_rest,
    a_body_is_stored_once_for_all_its_destinations_and_purged_after_its_last_message,
);

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
