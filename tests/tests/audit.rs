//! The audit log's hash chain, through the real binary: after a run (dossiers and status events
//! received from the center, sent to the DVCQG simulator) every message has its record and
//! `lienthong audit verify` accepts the chain; then one record is changed, one deleted, two
//! swapped directly in the SQLite store, and each time `audit verify` fails naming the record.

use std::path::Path;
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{
    Gateway, TestConfig, all_delivered, example, free_port, run_cli,
};
use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, Row};

async fn sql(db: &Path, statements: &[&'static str]) {
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .expect("open the store");
    for s in statements {
        sqlx::query(*s).execute(&mut c).await.expect(s);
    }
    c.close().await.expect("close");
}

async fn count(db: &Path, query: &'static str) -> i64 {
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .expect("open the store");
    let n: i64 = sqlx::query(query)
        .fetch_one(&mut c)
        .await
        .expect(query)
        .get(0);
    c.close().await.expect("close");
    n
}

fn verify(config: &Path) -> (bool, String) {
    let (ok, out, err) = run_cli(&[
        "audit",
        "verify",
        "--config",
        config.to_str().expect("utf-8"),
    ]);
    (ok, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_verifies_after_a_run_and_any_edit_is_named() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig::default().render(dir.path(), free_port(), &sim);
    let mut gw = Gateway::start(dir.path(), &config).await;
    for i in 1..=3 {
        let mut d = example("dossier-business-registration.json");
        let code = format!("AUDIT-{i}");
        d["code"] = Value::String(code.clone());
        let (s, v) = gw.post("/v1/dossiers", &d).await;
        assert_eq!(s, 202, "{v}");
        let event = json!({
            "id": format!("ev-{i}"),
            "at": "2026-12-01T09:00:00+07:00",
            "status": "accepted",
            "actor": {"name": "Nguyễn Văn A", "title": "Chuyên viên", "unit": "Bộ phận một cửa"},
            "note": "Tiếp nhận hồ sơ"
        });
        let (s, v) = gw
            .post(&format!("/v1/dossiers/{code}/events"), &event)
            .await;
        assert_eq!(s, 202, "{v}");
    }
    gw.wait_deliveries(Duration::from_secs(30), "all delivered", all_delivered)
        .await;
    assert_eq!(gw.terminate().await, Some(0));

    let db = dir.path().join("lienthong.db");
    // 6 received from the center (3 dossiers, 3 events), 6 sent (one attempt each).
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE direction = 'received' AND peer = 'center'"
        )
        .await,
        6
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM audit_log WHERE direction = 'sent' AND peer = 'dvcqg' AND outcome = 'delivered' AND payload_sha256 IS NOT NULL").await,
        6
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM audit_log WHERE seq IS NULL").await,
        0,
        "a clean stop links every record"
    );
    let (ok, out) = verify(&gw.config_path);
    assert!(ok, "{out}");
    assert!(out.contains("audit chain ok: 12 record(s)"), "{out}");

    // The store with its WAL files, to put back after each edit.
    let files: Vec<_> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| dir.path().join(format!("lienthong.db{s}")))
        .collect();
    let pristine: Vec<Option<Vec<u8>>> = files.iter().map(|f| std::fs::read(f).ok()).collect();
    let restore = || {
        for (f, bytes) in files.iter().zip(&pristine) {
            match bytes {
                Some(b) => std::fs::write(f, b).expect("restore the store"),
                None => {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
    };

    // A changed record.
    sql(
        &db,
        &["UPDATE audit_log SET outcome = 'rejected' WHERE seq = 5"],
    )
    .await;
    let (ok, out) = verify(&gw.config_path);
    assert!(!ok, "{out}");
    assert!(out.contains("record 5 was changed"), "{out}");
    restore();

    // A changed record whose hash was recomputed by someone without the rest of the chain: the
    // next record no longer follows it.
    sql(
        &db,
        &["UPDATE audit_log SET signature = 'forged', hash = 'ff' WHERE seq = 7"],
    )
    .await;
    let (ok, out) = verify(&gw.config_path);
    assert!(!ok, "{out}");
    assert!(out.contains("record 7 was changed"), "{out}");
    restore();

    // A deleted record.
    sql(&db, &["DELETE FROM audit_log WHERE seq = 4"]).await;
    let (ok, out) = verify(&gw.config_path);
    assert!(!ok, "{out}");
    assert!(out.contains("missing (deleted) before record 5"), "{out}");
    restore();

    // Two records swapped: their positions exchanged, contents and hashes kept.
    sql(
        &db,
        &[
            "UPDATE audit_log SET seq = -1 WHERE seq = 8",
            "UPDATE audit_log SET seq = 8 WHERE seq = 9",
            "UPDATE audit_log SET seq = 9 WHERE seq = -1",
        ],
    )
    .await;
    let (ok, out) = verify(&gw.config_path);
    assert!(!ok, "{out}");
    assert!(out.contains("record 8 was changed"), "{out}");
    restore();

    let (ok, out) = verify(&gw.config_path);
    assert!(ok, "restored: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tsa_outage_never_stops_traffic_and_the_head_is_stamped_when_it_returns() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let tsa = lienthong_tests::tsa_sim::TsaSim::start(&dir.path().join("tsa"))
        .await
        .expect("a local TSA (openssl)");
    tsa.set_down(true);
    let config = format!(
        "{}\n[audit.tsa]\nurl = \"{}\"\ncertificate = \"{}\"\ninterval = \"300ms\"\ntimeout = \"2s\"\n",
        TestConfig::default().render(dir.path(), free_port(), &sim),
        tsa.url(),
        tsa.certificate.display()
    );
    let mut gw = Gateway::start(dir.path(), &config).await;
    for i in 1..=3 {
        let mut d = example("dossier-business-registration.json");
        d["code"] = Value::String(format!("TSA-{i}"));
        let (s, v) = gw.post("/v1/dossiers", &d).await;
        assert_eq!(s, 202, "accepted while the TSA is down: {v}");
    }
    gw.wait_deliveries(
        Duration::from_secs(30),
        "delivered while the TSA is down",
        all_delivered,
    )
    .await;
    let metric = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(-1.0)
    };
    let start = std::time::Instant::now();
    loop {
        let m = gw.metrics().await;
        if tsa.refused() >= 2
            && metric(&m, "lienthong_audit_timestamp_failures_total") >= 1.0
            && metric(&m, "lienthong_audit_timestamp_lag_seconds") > 0.0
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no failed stamping seen:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(tsa.served(), 0);

    // The TSA comes back: the head is stamped and the lag falls to 0.
    tsa.set_down(false);
    let start = std::time::Instant::now();
    loop {
        let m = gw.metrics().await;
        if tsa.served() >= 1
            && metric(&m, "lienthong_audit_timestamp_lag_seconds") == 0.0
            && metric(&m, "lienthong_audit_chain_length") == 6.0
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "head never stamped:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(gw.terminate().await, Some(0));

    let (ok, out) = verify(&gw.config_path);
    assert!(ok, "{out}");
    assert!(
        out.contains("time-stamp(s) verified, the last of record 6"),
        "{out}"
    );

    // OpenSSL agrees with the stored token: imprint = SHA-256 of the head hash's hex text.
    let db = dir.path().join("lienthong.db");
    let (hash, token) = {
        let mut c = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .read_only(true)
            .connect()
            .await
            .expect("open");
        let row = sqlx::query("SELECT hash, token FROM audit_stamps ORDER BY seq DESC LIMIT 1")
            .fetch_one(&mut c)
            .await
            .expect("a stamp");
        (row.get::<String, _>(0), row.get::<Vec<u8>, _>(1))
    };
    std::fs::write(dir.path().join("head"), &hash).expect("write");
    std::fs::write(dir.path().join("token.der"), &token).expect("write");
    let out = std::process::Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-data",
            "head",
            "-in",
            "token.der",
            "-token_in",
            "-CAfile",
        ])
        .arg(&tsa.certificate)
        .current_dir(dir.path())
        .output()
        .expect("openssl ts -verify");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("Verification: OK"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The evidence bundle of one dossier verifies offline, and any edit to it is found.
    let bundle = dir.path().join("TSA-2.json");
    let (ok, out, err) = run_cli(&[
        "audit",
        "export",
        "--dossier",
        "TSA-2",
        "--out",
        bundle.to_str().expect("utf-8"),
        "--config",
        gw.config_path.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{out}{err}");
    let check = |path: &Path| {
        let (ok, out, err) =
            run_cli(&["audit", "verify", "--bundle", path.to_str().expect("utf-8")]);
        (ok, format!("{out}{err}"))
    };
    let (ok, out) = check(&bundle);
    assert!(ok, "{out}");
    assert!(
        out.contains("2 record(s), ")
            && out.contains("1 document(s) recorded")
            && out.contains("time-stamped at"),
        "{out}"
    );
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("read")).expect("json");
    assert!(original["links"].as_array().expect("links").len() >= 2);
    let tamper = |edit: &dyn Fn(&mut Value)| {
        let mut v = original.clone();
        edit(&mut v);
        let p = dir.path().join("tampered.json");
        std::fs::write(&p, serde_json::to_string(&v).expect("json")).expect("write");
        check(&p)
    };
    let (ok, out) = tamper(&|v| v["records"][1]["outcome"] = json!("rejected"));
    assert!(!ok && out.contains("was changed"), "{out}");
    let (ok, out) = tamper(&|v| v["documents"][0]["body"] = json!("{\"code\":\"TSA-2\"}"));
    assert!(!ok && out.contains("does not match its SHA-256"), "{out}");
    let (ok, out) = tamper(&|v| {
        let links = v["links"].as_array_mut().expect("links");
        let last = links.len() - 1;
        links[last]["content_sha256"] = json!("00".repeat(32));
    });
    assert!(!ok, "{out}");

    // Cutting the stamped head off the end of the chain is found by the stamp.
    sql(&db, &["DELETE FROM audit_log WHERE seq = 6"]).await;
    let (ok, out) = verify(&gw.config_path);
    assert!(!ok, "{out}");
    assert!(out.contains("records were deleted from its end"), "{out}");
}
