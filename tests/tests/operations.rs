//! Operations against the real binary: deadline statistics with a fixed clock (`as_of`), the
//! overdue listing, and the Prometheus exposition after a scripted run (parsed, values checked).

use std::collections::BTreeMap;
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::dvcqg_sim::Faults;
use lienthong_tests::gateway_process::{Gateway, TestConfig, all_delivered, example, free_port};
use serde_json::{Value, json};

/// The fixed moment the statistics are computed at.
const AS_OF: &str = "2026-12-10T00:00:00+07:00";

/// `AS_OF` shifted by `days` (whole or half days), RFC 3339 in +07:00.
fn day(days: f64) -> String {
    let t = time::OffsetDateTime::parse(AS_OF, &time::format_description::well_known::Rfc3339)
        .expect("AS_OF")
        + time::Duration::seconds_f64(days * 86_400.0);
    t.to_offset(time::macros::offset!(+7))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn dossier(code: &str, agency: &str, procedure: &str, due: Option<f64>) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = Value::String(code.into());
    d["agency"]["code"] = Value::String(agency.into());
    d["procedure"]["code"] = Value::String(procedure.into());
    d["received_at"] = Value::String(day(-20.0));
    d["submitted_at"] = Value::String(day(-20.0));
    match due {
        Some(days) => d["due_at"] = Value::String(day(days)),
        None => {
            d.as_object_mut().expect("object").remove("due_at");
        }
    }
    d
}

fn event(id: &str, status: &str, at: f64) -> Value {
    json!({
        "id": id,
        "at": day(at),
        "status": status,
        "actor": {"name": "Trần Thị B", "title": "Chuyên viên", "unit": "Bộ phận trả kết quả"},
        "note": "Cập nhật"
    })
}

async fn post(gw: &Gateway, path: &str, body: &Value) {
    let (s, v) = gw.post(path, body).await;
    assert_eq!(s, 202, "{path}: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_are_counted_exactly_at_a_fixed_moment() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig::default().render(dir.path(), free_port(), &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    let (a, b) = ("000.00.12.H37", "000.00.14.H37");
    // code, agency, procedure, due (days from AS_OF), then what happens.
    post(
        &gw,
        "/v1/dossiers",
        &dossier("ON-TIME", a, "P1", Some(-1.0)),
    )
    .await;
    post(
        &gw,
        "/v1/dossiers/ON-TIME/events",
        &event("r1", "returned", -2.0),
    )
    .await;
    post(&gw, "/v1/dossiers", &dossier("LATE", a, "P1", Some(-3.0))).await;
    post(
        &gw,
        "/v1/dossiers/LATE/events",
        &event("r2", "returned", -1.0),
    )
    .await;
    post(
        &gw,
        "/v1/dossiers",
        &dossier("OVERDUE", a, "P2", Some(-1.0)),
    )
    .await;
    post(&gw, "/v1/dossiers", &dossier("SOON", b, "P1", Some(1.0))).await;
    post(&gw, "/v1/dossiers", &dossier("LATER", b, "P2", Some(10.0))).await;
    post(
        &gw,
        "/v1/dossiers",
        &dossier("REJECTED", b, "P2", Some(-5.0)),
    )
    .await;
    post(
        &gw,
        "/v1/dossiers/REJECTED/events",
        &event("x1", "rejected", -6.0),
    )
    .await;
    post(&gw, "/v1/dossiers", &dossier("NO-DUE", b, "P1", None)).await;
    // Returned after AS_OF: as of AS_OF it was still overdue.
    post(
        &gw,
        "/v1/dossiers",
        &dossier("RETURNED-AFTER", a, "P2", Some(-0.5)),
    )
    .await;
    post(
        &gw,
        "/v1/dossiers/RETURNED-AFTER/events",
        &event("r3", "returned", 1.0),
    )
    .await;
    // Extended: due -2 at intake, a supplement request moves it to +5.
    post(
        &gw,
        "/v1/dossiers",
        &dossier("EXTENDED", a, "P1", Some(-2.0)),
    )
    .await;
    let mut ext = event("s1", "supplement_requested", -3.0);
    ext["due_at"] = Value::String(day(5.0));
    post(&gw, "/v1/dossiers/EXTENDED/events", &ext).await;

    let q = format!("/v1/stats?as_of={}", urlencode(AS_OF));
    let (s, stats) = gw.get(&q).await;
    assert_eq!(s, 200, "{stats}");
    let totals = &stats["totals"];
    let expect = json!({
        "on_time": 1, "late": 1, "overdue": 2, "due_soon": 1, "in_progress": 2,
        "closed": 1, "no_due_date": 1, "total": 9
    });
    assert_eq!(totals, &expect, "{stats}");
    let by = |key: &str, code: &str| -> Value {
        stats[key]
            .as_array()
            .expect("breakdown")
            .iter()
            .find(|l| l["code"] == code)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let agency_a = by("by_agency", a);
    assert_eq!(
        (
            agency_a["on_time"].as_i64(),
            agency_a["late"].as_i64(),
            agency_a["overdue"].as_i64(),
            agency_a["in_progress"].as_i64(),
            agency_a["total"].as_i64()
        ),
        (Some(1), Some(1), Some(2), Some(1), Some(5)),
        "{stats}"
    );
    let agency_b = by("by_agency", b);
    assert_eq!(
        (
            agency_b["due_soon"].as_i64(),
            agency_b["in_progress"].as_i64(),
            agency_b["closed"].as_i64(),
            agency_b["no_due_date"].as_i64(),
            agency_b["total"].as_i64()
        ),
        (Some(1), Some(1), Some(1), Some(1), Some(4)),
        "{stats}"
    );
    assert_eq!(by("by_procedure", "P2")["overdue"], 2, "{stats}");
    assert_eq!(by("by_field", "DKKD")["total"], 9, "{stats}");

    // A narrower "due soon" window turns SOON into in progress.
    let (_, narrow) = gw.get(&format!("{q}&due_soon=12h")).await;
    assert_eq!(
        (
            narrow["totals"]["due_soon"].as_i64(),
            narrow["totals"]["in_progress"].as_i64()
        ),
        (Some(0), Some(3)),
        "{narrow}"
    );
    // The period is over the received time: nothing was received in the last 10 days.
    let (_, empty) = gw
        .get(&format!("{q}&from={}", urlencode(&day(-10.0))))
        .await;
    assert_eq!(empty["totals"]["total"], 0, "{empty}");

    let (s, list) = gw
        .get(&format!(
            "/v1/dossiers?overdue=true&as_of={}",
            urlencode(AS_OF)
        ))
        .await;
    assert_eq!(s, 200, "{list}");
    let codes: Vec<&str> = list["dossiers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        codes,
        ["OVERDUE", "RETURNED-AFTER"],
        "longest overdue first: {list}"
    );
    assert_eq!(list["dossiers"][0]["overdue_days"], 1);
    let (s, p) = gw.get("/v1/dossiers").await;
    assert_eq!(s, 400, "{p}");
    let (s, p) = gw.get("/v1/stats?as_of=yesterday").await;
    assert_eq!((s, p["field"].as_str()), (400, Some("as_of")), "{p}");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// Metric samples by their full name with labels, e.g. `a_total{x="y"}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_the_values_of_a_scripted_run() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig::default().render(dir.path(), free_port(), &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    // The portal fails the first two service calls with 503: two retries, then success.
    sim.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    });
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    for (code, due_days) in [("M-1", -1i64), ("M-2", 1), ("M-3", 30)] {
        let mut d = example("dossier-business-registration.json");
        d["code"] = Value::String(code.into());
        d["received_at"] = Value::String(rfc(now - time::Duration::days(5)));
        d["due_at"] = Value::String(rfc(now + time::Duration::days(due_days)));
        post(&gw, "/v1/dossiers", &d).await;
    }
    // A repeat (200, stored once) and a dossier that is not valid JSON (400).
    let mut again = example("dossier-business-registration.json");
    again["code"] = Value::String("M-1".into());
    again["received_at"] = Value::String(rfc(now - time::Duration::days(5)));
    again["due_at"] = Value::String(rfc(now + time::Duration::days(-1)));
    let (s, _) = gw.post("/v1/dossiers", &again).await;
    assert_eq!(s, 200);
    let r = gw
        .center(gw.http.post(format!("{}/v1/dossiers", gw.base_url)))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    gw.wait_deliveries(Duration::from_secs(30), "all delivered", all_delivered)
        .await;
    // Let the chainer link the last records.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let m = samples(&gw.metrics().await);
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no sample {k} in {m:#?}"))
    };
    assert_eq!(
        get(r#"lienthong_intake_total{kind="dossier",outcome="accepted"}"#),
        3.0
    );
    assert_eq!(
        get(r#"lienthong_intake_total{kind="dossier",outcome="repeat"}"#),
        1.0
    );
    assert_eq!(
        get(r#"lienthong_intake_total{kind="dossier",outcome="refused_400"}"#),
        1.0
    );
    assert_eq!(
        get(r#"lienthong_delivery_attempts_total{destination="dvcqg",outcome="retry"}"#),
        2.0
    );
    assert_eq!(
        get(r#"lienthong_delivery_attempts_total{destination="dvcqg",outcome="delivered"}"#),
        3.0
    );
    assert_eq!(
        get(r#"lienthong_delivery_attempt_seconds_count{destination="dvcqg"}"#),
        5.0
    );
    assert_eq!(
        get(r#"lienthong_deliveries{destination="dvcqg",state="delivered"}"#),
        3.0
    );
    assert_eq!(
        get(r#"lienthong_deliveries{destination="dvcqg",state="dead"}"#),
        0.0
    );
    assert_eq!(
        get(r#"lienthong_oldest_undelivered_age_seconds{destination="dvcqg"}"#),
        0.0
    );
    assert_eq!(get(r#"lienthong_circuit_state{destination="dvcqg"}"#), 0.0);
    // 3 dossiers received, 5 attempts sent.
    assert_eq!(get("lienthong_audit_chain_length"), 8.0);
    assert_eq!(get("lienthong_audit_unlinked"), 0.0);
    let agency = "000.00.12.H37";
    assert_eq!(
        get(&format!(
            r#"lienthong_dossiers_by_deadline{{agency="{agency}",state="overdue"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"lienthong_dossiers_by_deadline{{agency="{agency}",state="due_soon"}}"#
        )),
        1.0
    );
    assert_eq!(
        get(&format!(
            r#"lienthong_dossiers_by_deadline{{agency="{agency}",state="in_progress"}}"#
        )),
        1.0
    );
    assert!(get(r#"lienthong_store_op_seconds_count{op="intake_dossier"}"#) >= 4.0);
    assert_eq!(
        get(&format!(
            r#"lienthong_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_probe_prints_what_works() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let good = TestConfig::default().render(dir.path(), free_port(), &sim);
    let path = dir.path().join("lienthong.toml");
    let probe = |text: &str| {
        std::fs::write(&path, text).expect("write config");
        let (ok, out, err) = lienthong_tests::gateway_process::run_cli(&[
            "check-config",
            "--probe",
            "--config",
            path.to_str().expect("utf-8"),
        ]);
        (ok, format!("{out}{err}"))
    };
    let (ok, out) = probe(&good);
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("dvcqg "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains(" ok ") && row.contains("login accepted"),
        "{row}"
    );

    // A wrong password: reached, authentication fails, exit 1.
    let wrong = good.replace(
        &format!("password = \"{}\"", sim.credentials().password),
        "password = \"sai-mat-khau\"",
    );
    let (ok, out) = probe(&wrong);
    assert!(!ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("dvcqg "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains(" ok     FAIL "), "{row}");
    assert!(out.contains("1 destination(s) failed the probe"), "{out}");

    // Nothing listening: not reached.
    let closed = good.replace(
        &sim.base_url(),
        &format!("http://127.0.0.1:{}", free_port()),
    );
    let (ok, out) = probe(&closed);
    assert!(!ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("dvcqg "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains(" FAIL "), "{row}");

    // Without --probe nothing is contacted, and the same file passes.
    let before = sim.calls().len();
    let (ok, out, err) = lienthong_tests::gateway_process::run_cli(&[
        "check-config",
        "--config",
        path.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("destinations: ok"), "{out}");
    assert_eq!(sim.calls().len(), before);
}
