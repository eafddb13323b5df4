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
