//! What `deploy/` ships stays true to the code: the Grafana dashboard and the alert rules name
//! only metrics the gateway exports, every alert has its runbook section, and the systemd unit
//! passes `systemd-analyze verify` (where systemd is installed) with the hardening the issue
//! asks for.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// `lienthong_…` metric names in `text` (histogram suffixes removed).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("lienthong_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.insert(base.to_owned());
        rest = &tail[end..];
    }
    out
}

/// Every metric name the gateway's source registers.
fn exported() -> BTreeSet<String> {
    let mut all = String::new();
    let mut dirs = vec![repo("gateway/src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                all.push_str(&std::fs::read_to_string(&p).expect("read"));
            }
        }
    }
    metric_names(&all)
}

#[test]
fn the_dashboard_and_the_alerts_name_exported_metrics_only() {
    let exported = exported();
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/lienthong-dashboard.json"))
            .expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut used = BTreeSet::new();
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            used.extend(metric_names(t["expr"].as_str().expect("expr")));
        }
    }
    let alerts = read("deploy/prometheus/alerts.yml");
    used.extend(metric_names(&alerts));
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "not exported by the gateway: {unknown:?}"
    );
    // The list: each has a panel.
    for m in [
        "lienthong_intake_total",
        "lienthong_delivery_attempts_total",
        "lienthong_delivery_attempt_seconds",
        "lienthong_deliveries",
        "lienthong_oldest_undelivered_age_seconds",
        "lienthong_circuit_state",
        "lienthong_callbacks_received_total",
        "lienthong_exchange_received_total",
        "lienthong_followup_polls_total",
        "lienthong_store_op_seconds",
        "lienthong_certificate_expiry_seconds",
        "lienthong_audit_chain_length",
        "lienthong_audit_timestamp_lag_seconds",
        "lienthong_build_info",
        "lienthong_dossiers_by_deadline",
    ] {
        assert!(used.contains(m), "no panel or alert uses {m}");
    }
}

#[test]
fn every_alert_has_its_runbook_section() {
    let alerts = read("deploy/prometheus/alerts.yml");
    let runbook = read("deploy/RUNBOOK.md");
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() >= 8);
    for n in names {
        assert!(
            runbook.contains(&format!("### {n}\n")),
            "RUNBOOK.md has no section {n}"
        );
        assert!(
            alerts.contains(&format!("RUNBOOK.md#{}", n.to_lowercase())),
            "{n} does not link its section"
        );
    }
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = read("deploy/systemd/lienthong.service");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "NotifyAccess=main",
        "User=lienthong",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "StateDirectory=lienthong",
        "ExecReload=",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze is not installed: verification skipped");
        return;
    };
    assert!(out.status.success());
    // Verify a copy whose binary path points at the one built here (verify checks it exists).
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = lienthong_tests::gateway_process::lienthong_bin();
    let copy = dir.path().join("lienthong.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/lienthong", &bin.display().to_string()),
    )
    .expect("write");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze verify");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(!said.contains("Unknown key"), "{said}");
}

#[test]
fn the_container_file_is_multi_stage_non_root_and_read_only_ready() {
    let c = read("deploy/container/Containerfile");
    assert_eq!(
        c.matches("\nFROM ").count() + usize::from(c.starts_with("FROM ")),
        2,
        "two stages"
    );
    assert!(c.contains("USER 10001:10001"));
    assert!(c.contains("--read-only"));
    let k = read("deploy/cluster/kubernetes/deployment.yaml");
    for s in [
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "livenessProbe",
        "readinessProbe",
        "secretKeyRef",
    ] {
        assert!(k.contains(s), "deployment.yaml lacks {s}");
    }
}
