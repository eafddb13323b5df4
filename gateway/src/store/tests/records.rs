//! Audit records and deadlines as the store keeps and counts them.

use super::*;

lienthong_tests::on_both_stores!(
    audit_records_are_written_with_what_they_record_and_linked_in_order,
    deadlines_are_counted_as_of_a_moment,
);

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
