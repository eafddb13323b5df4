//! A dossier's whole life across every national system, through the real binary: intake →
//! DVCQG, NBRS, EMC, the investment system → the center's status events → NBRS's status by
//! polling, the investment decision by signed callback, a payment confirmation and a tax notice
//! pushed → everything that comes back delivered to the center's webhook, which is down for the
//! first part of it. Nothing is lost, nothing is told twice, order per dossier is kept.

use std::collections::BTreeMap;
use std::time::Duration;

use lienthong_tests::gateway_process::{Gateway, all_delivered, example, free_port};
use lienthong_tests::national::National;
use lienthong_tests::pushers::{
    DVCQG_KEY, PAYMENT_SECRET, payment_confirmation, portal_time, tax_notice,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

async fn push(gw: &Gateway, source: &str, body: String) -> (u16, Value) {
    let r = gw
        .http
        .post(format!("{}/v1/callbacks/{source}", gw.base_url))
        .body(body)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn event(id: &str, status: &str) -> Value {
    json!({ "id": id, "at": "2026-11-30T10:00:00+07:00", "status": status,
            "actor": { "name": "Lê Thị Hoa", "unit": "Bộ phận một cửa" }, "note": status })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossiers_life_across_all_destinations_with_the_center_down_for_a_while() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = National::start(dir.path()).await.expect("simulators");
    let gw = Gateway::start(dir.path(), &n.config(dir.path(), free_port(), "200ms")).await;
    n.center.set_down(true);

    let business = example("dossier-business-registration.json");
    let investment = example("dossier-investment.json");
    let (b, i) = (
        business["code"].as_str().expect("code").to_owned(),
        investment["code"].as_str().expect("code").to_owned(),
    );
    for (d, expected) in [
        (&business, vec!["dvcqg", "emc", "nbrs"]),
        (&investment, vec!["dvcqg", "emc", "investment"]),
    ] {
        let (st, body) = gw.post("/v1/dossiers", d).await;
        assert_eq!(st, 202, "{body}");
        let mut to: Vec<&str> = body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["destination"].as_str().expect("destination"))
            .collect();
        to.sort_unstable();
        assert_eq!(to, expected, "routing of {}", d["code"]);
    }
    for code in [&b, &i] {
        let (st, v) = gw
            .post(
                &format!("/v1/dossiers/{code}/events"),
                &event(&format!("{code}-1"), "processing"),
            )
            .await;
        assert_eq!(st, 202, "{v}");
    }

    // NBRS decides the registration (followed by polling): 1 → 2 → 4 (final).
    assert!(
        n.nbrs
            .wait_until(Duration::from_secs(20), |s| s.journal_no(&b).is_some())
            .await,
        "{}",
        gw.log()
    );
    let journal = n.nbrs.journal_no(&b).expect("journal");
    // Polling sees the states NBRS is in when asked: each is held until recorded.
    for code in ["1", "2", "4"] {
        n.nbrs.set_status(&journal, code);
        let id = format!("nbrs:{journal}:{code}");
        let mut recorded = false;
        for _ in 0..200 {
            let (_, view) = gw.get(&format!("/v1/dossiers/{b}")).await;
            if view["events"]
                .as_array()
                .is_some_and(|ev| ev.iter().any(|e| e["id"] == id))
            {
                recorded = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(recorded, "{id} not recorded:\n{}", gw.log());
    }

    // The investment system decides by signed callback; the payment platform and DVCQG push.
    assert!(
        n.investment
            .wait_registrations(1, Duration::from_secs(20))
            .await
    );
    let now = OffsetDateTime::now_utc();
    let result = n
        .investment
        .result(&i, Some(("7654321098", "GCN-2026-15")), &portal_time(now));
    assert_eq!(push(&gw, "investment", result).await.0, 200);
    let paid = payment_confirmation(&b, "GD-2026-0001", 50000, "00", now, PAYMENT_SECRET);
    assert_eq!(push(&gw, "payment", paid.to_string()).await.0, 200);
    assert_eq!(
        push(&gw, "dvcqg", tax_notice(&b, now, DVCQG_KEY).to_string())
            .await
            .0,
        200
    );

    // The center has been down all along: its notices wait, everything else is delivered.
    gw.wait_deliveries(
        Duration::from_secs(30),
        "all but the center delivered",
        |all| {
            all.iter()
                .filter(|d| d["destination"] != "center")
                .all(|d| d["state"] == "delivered")
                && all.iter().filter(|d| d["destination"] == "center").count() == 6
        },
    )
    .await;
    assert!(n.center.notices().is_empty());
    n.center.set_down(false);
    let all = gw
        .wait_deliveries(
            Duration::from_secs(60),
            "everything delivered",
            all_delivered,
        )
        .await;

    // The center got each notice once, in order per dossier.
    let counts = n.center.counts();
    assert!(
        counts.values().all(|&c| c == 1),
        "told once each: {counts:?}"
    );
    let mut by_dossier: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for notice in n.center.notices() {
        by_dossier
            .entry(notice.dossier_code.clone())
            .or_default()
            .push(match notice.event.as_str() {
                "nbrs.status" => {
                    format!("nbrs.status {}", notice.data["code"].as_str().unwrap_or(""))
                }
                e => e.to_owned(),
            });
    }
    assert_eq!(
        by_dossier[&b],
        [
            "nbrs.status 1",
            "nbrs.status 2",
            "nbrs.status 4",
            "payment.confirmed",
            "dvcqg.tax_notice"
        ],
        "{by_dossier:?}"
    );
    assert_eq!(by_dossier[&i], ["investment.result"]);
    // Each notice is what its published schema (GET /v1/schema/notices) says.
    let (st, schemas) = gw.get("/v1/schema/notices").await;
    assert_eq!(st, 200, "{schemas}");
    for notice in n.center.notices() {
        let schema = &schemas["events"][notice.event.as_str()];
        assert!(schema.is_object(), "no schema for {}", notice.event);
        if let Err(e) = lienthong_tests::conforms(&notice.data, schema) {
            panic!(
                "{} does not match its schema: {e}\n{}",
                notice.event, notice.data
            );
        }
    }

    // Both dossiers ended processed; DVCQG and EMC saw every step.
    for code in [&b, &i] {
        let (_, view) = gw.get(&format!("/v1/dossiers/{code}")).await;
        assert_eq!(view["status"], "processed", "{code}: {view}");
    }
    let trang_thai = |code: &str| -> Vec<String> {
        n.dvcqg
            .progress(code)
            .iter()
            .map(|p| p["TrangThai"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // center processing (4), NBRS 1 accepted (2) / 2 processing (4) / 4 processed (9).
    let b_steps = trang_thai(&b);
    assert_eq!(
        b_steps.first().map(String::as_str),
        Some("4"),
        "{b_steps:?}"
    );
    assert_eq!(b_steps.last().map(String::as_str), Some("9"), "{b_steps:?}");
    assert_eq!(b_steps.len(), 4, "{b_steps:?}");
    assert_eq!(trang_thai(&i), ["4", "9"]);
    let emc_steps = |code: &str| n.emc.reports_of(code).len();
    assert_eq!(emc_steps(&b), 5, "intake + 4 steps");
    assert_eq!(emc_steps(&i), 3, "intake + processing + the decision");
    assert!(n.dvcqg.hoso(&b).is_some() && n.dvcqg.hoso(&i).is_some());
    // NBRS and the investment system got the dossier and nothing else.
    let to_nbrs = all.iter().filter(|d| d["destination"] == "nbrs").count();
    let to_investment = all
        .iter()
        .filter(|d| d["destination"] == "investment")
        .count();
    assert_eq!((to_nbrs, to_investment), (1, 1));
}
