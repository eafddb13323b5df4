use super::*;
use http_body_util::BodyExt;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_millis(200),
        min_body_rate: 1000,
        max_connections: 10,
        max_connections_per_client: 4,
        max_requests_per_client: 2,
    }
}

#[test]
fn each_address_has_its_own_requests_in_flight() {
    let table = Arc::new(PerClient::default());
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let one = table.enter(a, 2).expect("first");
    let _two = table.enter(a, 2).expect("second");
    assert!(table.enter(a, 2).is_none(), "a third for the same address");
    assert!(
        table.enter(b, 2).is_some(),
        "another address is not affected"
    );
    drop(one);
    assert!(
        table.enter(a, 2).is_some(),
        "a finished request frees its slot"
    );
}

#[test]
fn the_body_budget_holds_the_total_and_each_addresss_share() {
    let budget = Arc::new(BodyBudget::new(100, 60));
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let first = budget.allowance(a);
    assert!(first.hold_at_least(50));
    let second = budget.allowance(a);
    assert!(!second.hold_at_least(20), "a's share is 60");
    assert!(second.hold_at_least(10));
    let other = budget.allowance(b);
    assert!(!other.hold_at_least(41), "the total is 100");
    assert!(other.hold_at_least(40));
    assert!(other.hold_at_least(30), "already held");
    assert_eq!(budget.in_use(), 100);
    drop(first);
    assert_eq!(budget.in_use(), 50);
    drop((second, other));
    assert_eq!(budget.in_use(), 0);
}

#[tokio::test]
async fn a_body_over_budget_is_refused_before_it_is_read() {
    let budget = Arc::new(BodyBudget::new(1000, 1000));
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let busy = budget.allowance(ip);
    assert!(busy.hold_at_least(900));
    // Announced 200: refused at once, the inner body never polled.
    let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(1);
    let body = BudgetedBody::new(rx, budget.allowance(ip), Some(200));
    let err = body.collect().await.unwrap_err();
    assert!(is_over_budget(err.as_ref()), "{err}");
    assert!(
        tx.send_data(Bytes::from_static(b"x")).await.is_err(),
        "nothing was read"
    );
    // Unannounced: taken as it arrives, cut where it stops fitting.
    let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(8);
    let allowance = budget.allowance(ip);
    let body = BudgetedBody::new(rx, allowance.clone(), None);
    let reader = tokio::spawn(async move { body.collect().await });
    for _ in 0..3 {
        let _ = tx.send_data(Bytes::from(vec![b'x'; 60])).await;
    }
    drop(tx);
    let err = reader.await.unwrap().unwrap_err();
    assert!(is_over_budget(err.as_ref()), "{err}");
    assert_eq!(budget.in_use(), 900 + 60, "the bytes that fitted stay held");
    drop((allowance, busy));
    assert_eq!(budget.in_use(), 0);
    // A body read only to be thrown away takes nothing.
    let refused = budget.allowance(ip);
    assert!(refused.hold_at_least(300));
    refused.discard();
    assert_eq!(budget.in_use(), 0);
    assert!(
        refused.hold_at_least(5000),
        "discarded bytes are not counted"
    );
    assert_eq!(budget.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_connection_is_idle_only_without_requests() {
    let activity = Arc::new(Activity::default());
    let guard = activity.start();
    let idle = activity.clone();
    let waiting = tokio::spawn(async move { idle.idle_for(Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!waiting.is_finished(), "a request in flight is not idle");
    drop(guard);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished(), "idle for 5 s of 10");
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert!(
        waiting.is_finished(),
        "idle for 10 s after the last request"
    );
}

#[tokio::test(start_paused = true)]
async fn a_trickling_body_fails_and_a_steady_one_does_not() {
    // 10 bytes then silence: cut after the grace and 10 ms earned.
    let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
    let body = DeadlineBody::new(rx, &limits());
    let reader = tokio::spawn(async move { body.collect().await });
    tx.send_data(Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let err = reader.await.unwrap().unwrap_err();
    assert!(is_too_slow(err.as_ref()), "{err}");

    // 100 bytes every 50 ms (2,000 bytes/s): never cut.
    let (mut tx, rx) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
    let body = DeadlineBody::new(rx, &limits());
    let reader = tokio::spawn(async move { body.collect().await });
    for _ in 0..100 {
        tx.send_data(Bytes::from(vec![b'x'; 100])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(tx);
    let got = reader.await.unwrap().expect("a steady body is read");
    assert_eq!(got.to_bytes().len(), 10_000);
}
