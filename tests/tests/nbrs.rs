//! NBRS through the real binary: a registration is submitted, its receipt number kept, and its
//! status polled until final; each change becomes one status event (sent on to DVCQG and EMC) and
//! one notice to the center, across a crash right after a change is recorded; polling keeps to
//! the configured rate; an amendment naming an unknown enterprise is refused at intake.

use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::center_sim::CenterSim;
use lienthong_tests::emc_sim::EmcSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use lienthong_tests::nbrs_sim::{KNOWN_ENTERPRISE, NbrsSim};
use serde_json::{Value, json};

struct Sims {
    dvcqg: DvcqgSim,
    nbrs: NbrsSim,
    emc: EmcSim,
    center: CenterSim,
}

impl Sims {
    async fn start() -> Self {
        Self {
            dvcqg: DvcqgSim::start().await.expect("dvcqg"),
            nbrs: NbrsSim::start().await.expect("nbrs"),
            emc: EmcSim::start().await.expect("emc"),
            center: CenterSim::start().await.expect("center"),
        }
    }

    /// Business registrations (field DKKD) → NBRS; everything → DVCQG and EMC.
    fn config(&self, dir: &std::path::Path, port: u16, interval: &str, rate: f64) -> String {
        let mut c = TestConfig::default().render(dir, port, &self.dvcqg);
        c = c.replace(
            "destinations = [\"dvcqg\"]",
            "destinations = [\"dvcqg\", \"emc\"]",
        );
        c.push_str(&self.nbrs.config_toml("nbrs", interval, rate));
        c.push_str(&self.emc.config_toml("emc", "H37"));
        c.push_str(&format!(
            "\n[destinations.center]\nkind = \"webhook\"\nurl = \"{}\"\n\n[callbacks]\nforward_to = [\"center\"]\n\n[[routes]]\nfield_code = \"DKKD\"\ndestinations = [\"nbrs\"]\n",
            self.center.url()
        ));
        c
    }
}

fn dossier(n: usize) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = json!(format!("000.02.01.H37-261130-{:04}", 100 + n));
    d
}

/// The dossier's status events, as tracked.
async fn events(gw: &Gateway, code: &str) -> Vec<Value> {
    let (st, v) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(st, 200, "{v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_is_followed_until_final_each_change_recorded_once() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let text = sims.config(dir.path(), port, "200ms", 20.0);
    let mut gw = Gateway::start(dir.path(), &text).await;
    let d = dossier(1);
    let code = d["code"].as_str().expect("code").to_owned();
    let (st, body) = gw.post("/v1/dossiers", &d).await;
    assert_eq!(st, 202, "{body}");
    let mut routed: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["destination"].as_str().expect("destination"))
        .collect();
    routed.sort_unstable();
    assert_eq!(routed, ["dvcqg", "emc", "nbrs"]);

    // Submitted; NBRS says "1" (received): the dossier stays accepted, one event recorded.
    assert!(
        sims.nbrs
            .wait_until(Duration::from_secs(20), |s| s.journal_no(&code).is_some())
            .await,
        "{}",
        gw.log()
    );
    let journal = sims.nbrs.journal_no(&code).expect("journal");
    assert!(
        sims.center
            .wait_for(Duration::from_secs(20), |n| n
                .iter()
                .any(|n| n.event == "nbrs.status"))
            .await,
        "{}",
        gw.log()
    );
    // An event from the center in between is not sent to NBRS.
    let (st, body) = gw
        .post(
            &format!("/v1/dossiers/{code}/events"),
            &json!({ "id": "ev-center-1", "at": "2026-11-30T09:00:00+07:00", "status": "processing",
                     "actor": { "name": "Lê Thị Hoa" } }),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let to: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["destination"].as_str().expect("destination"))
        .collect();
    assert!(
        !to.contains(&"nbrs"),
        "status events are not NBRS's: {to:?}"
    );

    // NBRS moves to "2"; the gateway dies right after recording the change (before logging it).
    gw.terminate().await;
    let mut gw = Gateway::start_with_env(
        dir.path(),
        &text,
        &[("LIENTHONG_TEST_CRASH_AFTER_COMMIT", "followup")],
    )
    .await;
    sims.nbrs.set_status(&journal, "2");
    gw.wait_exit().await;
    assert!(
        gw.log().contains("aborting after the commit"),
        "{}",
        gw.log()
    );
    // Restarted: the "2" is recorded already and is not recorded again.
    let gw = Gateway::start(dir.path(), &text).await;
    let polls_before = sims.nbrs.polls(&journal).len();
    assert!(
        sims.nbrs
            .wait_until(Duration::from_secs(10), |s| s.polls(&journal).len()
                >= polls_before + 3)
            .await
    );
    sims.nbrs.set_status(&journal, "4");
    let mut final_seen = false;
    for _ in 0..200 {
        let ev = events(&gw, &code).await;
        if ev.iter().any(|e| e["id"] == format!("nbrs:{journal}:4")) {
            final_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(final_seen, "{}", gw.log());

    // Final: no more polls.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let polls_at_final = sims.nbrs.polls(&journal).len();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        sims.nbrs.polls(&journal).len(),
        polls_at_final,
        "a final registration is not polled"
    );

    let ev = events(&gw, &code).await;
    let nbrs_events: Vec<(String, String)> = ev
        .iter()
        .filter(|e| e["id"].as_str().is_some_and(|i| i.starts_with("nbrs:")))
        .map(|e| {
            (
                e["id"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        nbrs_events,
        [
            (format!("nbrs:{journal}:1"), "accepted".to_owned()),
            (format!("nbrs:{journal}:2"), "processing".to_owned()),
            (format!("nbrs:{journal}:4"), "processed".to_owned()),
        ],
        "each change once, in order: {ev:?}"
    );
    let (_, view) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(view["status"], "processed");

    // The center was told each change once; DVCQG and EMC got each as progress.
    assert!(
        sims.center
            .wait_for(Duration::from_secs(20), |n| n
                .iter()
                .filter(|n| n.event == "nbrs.status")
                .count()
                == 3)
            .await
    );
    let codes: Vec<Value> = sims
        .center
        .notices()
        .iter()
        .filter(|n| n.event == "nbrs.status")
        .map(|n| n.data["code"].clone())
        .collect();
    assert_eq!(codes, [json!("1"), json!("2"), json!("4")]);
    assert!(
        sims.emc
            .wait_until_count(&code, 5, Duration::from_secs(20))
            .await,
        "EMC: intake, center's processing, NBRS 1, 2, 4: {:?}",
        sims.emc.reports_of(&code)
    );
    let emc_status: Vec<i64> = sims
        .emc
        .reports_of(&code)
        .iter()
        .map(|r| r["Status"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(emc_status.len(), 5, "{emc_status:?}");
    assert!(
        sims.dvcqg
            .wait_progress(&code, 4, Duration::from_secs(20))
            .await,
        "{:?}",
        sims.dvcqg.progress(&code)
    );
    let trang_thai: Vec<Value> = sims
        .dvcqg
        .progress(&code)
        .iter()
        .map(|p| p["TrangThai"].clone())
        .collect();
    assert_eq!(trang_thai, [json!("2"), json!("4"), json!("4"), json!("9")]);

    // Each status polled from NBRS is a message received: one audit record per change.
    let polled: Vec<String> = {
        use sqlx::{ConnectOptions, Row};
        let mut c = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("lienthong.db"))
            .read_only(true)
            .connect()
            .await
            .expect("open the store");
        sqlx::query(
            "SELECT message_id FROM audit_log WHERE direction = 'received' AND peer = 'nbrs'
             AND dossier_code = $1 ORDER BY id",
        )
        .bind(&code)
        .fetch_all(&mut c)
        .await
        .expect("audit records")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
    };
    assert_eq!(
        polled,
        [1, 2, 4].map(|n| format!("{journal}:{n}")),
        "one record per status change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_keeps_to_the_rate_limit() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(
        dir.path(),
        &sims.config(dir.path(), free_port(), "100ms", 4.0),
    )
    .await;
    for n in 0..8 {
        assert_eq!(gw.post("/v1/dossiers", &dossier(10 + n)).await.0, 202);
    }
    assert!(
        sims.nbrs
            .wait_until(Duration::from_secs(30), |s| s.all_polls().len() >= 12)
            .await,
        "{}",
        gw.log()
    );
    let polls = sims.nbrs.all_polls();
    // 4 per second: consecutive requests at least ~250 ms apart (a lower bound with slack for
    // scheduling, not a timing target), even with 8 registrations due every 100 ms.
    let min_gap = polls
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .min()
        .expect("gaps");
    assert!(
        min_gap >= Duration::from_millis(200),
        "polls {min_gap:?} apart at a rate of 4/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amendment_must_name_an_enterprise_nbrs_knows() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = Gateway::start(dir.path(), &sims.config(dir.path(), free_port(), "1s", 5.0)).await;
    let mut unknown = dossier(30);
    unknown["business"]["enterprise_code"] = json!("0799999999");
    let (st, v) = gw.post("/v1/dossiers", &unknown).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["destination"], "nbrs");
    assert_eq!(v["field"], "business.enterprise_code");
    let (st, _) = gw
        .get(&format!(
            "/v1/dossiers/{}",
            unknown["code"].as_str().expect("code")
        ))
        .await;
    assert_eq!(st, 404, "nothing stored");

    let mut known = dossier(31);
    known["business"]["enterprise_code"] = json!(KNOWN_ENTERPRISE);
    let before = sims.nbrs.lookups();
    assert_eq!(gw.post("/v1/dossiers", &known).await.0, 202);
    assert_eq!(
        sims.nbrs.lookups(),
        before + 1,
        "a new amendment is looked up"
    );
    // The same dossier again is a repeat: answered from the store, NBRS not asked again.
    assert_eq!(gw.post("/v1/dossiers", &known).await.0, 200);
    assert_eq!(
        sims.nbrs.lookups(),
        before + 1,
        "a repeat is recognised before any lookup"
    );
    // A changed amendment (PUT) is looked up again.
    known["summary"] = json!("Đăng ký thay đổi nội dung đăng ký doanh nghiệp (bổ sung)");
    let code = known["code"].as_str().expect("code").to_owned();
    let (st, v) = gw.put(&format!("/v1/dossiers/{code}"), &known).await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(
        sims.nbrs.lookups(),
        before + 2,
        "a changed dossier is looked up"
    );

    // NBRS down: the check is skipped, the dossier taken (and submitted once NBRS is back).
    sims.nbrs.set_down(true);
    let mut later = dossier(32);
    later["business"]["enterprise_code"] = json!("0799999999");
    let (st, v) = gw.post("/v1/dossiers", &later).await;
    assert_eq!(st, 202, "{v}");
    assert!(gw.log().contains("intake check skipped"));
}
