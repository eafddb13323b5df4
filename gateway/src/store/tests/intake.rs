//! Intake: outcomes, repeats and conflicts, grouped writes, failures that fail alone, reopening, and pushes whose content changes.

use super::*;

lienthong_tests::on_both_stores!(
    intake_outcomes,
    data_survives_reopening,
    a_failing_operation_fails_alone_and_leaves_nothing,
    concurrent_repeats_are_stored_once_and_get_the_original_answer,
    new_dossiers_written_together_get_the_answers_they_would_get_alone,
    a_payment_key_with_other_content_is_a_new_state_but_never_unpays,
);

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
