//! Job leases, HTTP signature nonces and console sessions.

use super::*;

lienthong_tests::on_both_stores!(
    a_job_lease_is_held_by_one_owner_renewed_taken_over_when_it_runs_out_and_released,
    a_job_runs_in_one_instance_at_a_time,
    a_nonce_is_taken_once_within_its_window_and_survives_reopening,
    a_console_session_is_known_until_it_ends_or_expires,
);

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
