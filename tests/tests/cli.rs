//! The command line: check-config, mapping check/render, exit codes and one-line errors.

use std::path::Path;

use lienthong_tests::gateway_process::run_cli as run;

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

#[test]
fn check_config_reports_every_problem_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(repo("deploy/config/lienthong.example.toml"))
        .expect("example")
        .replace("max_body = \"10MiB\"", "max_body = \"lots\"")
        .replace("destinations = [\"dvcqg\"]", "destinations = [\"emc\"]");
    std::fs::write(&bad, text).expect("write");
    let (ok, out, err) = run(&["check-config", "--config", bad.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("server.max_body"), "{err}");
    assert!(
        err.contains("destinations.dvcqg.password_file: /etc/lienthong/dvcqg.pass does not exist: create it with `install -m 600 /dev/null /etc/lienthong/dvcqg.pass`"),
        "the missing password file is reported too, with how to create it: {err}"
    );
    assert!(
        err.contains(
            "destinations.emc.oauth.client_secret_file: /etc/lienthong/lgsp.secret does not exist"
        ) && err.contains("also used by destinations.nbrs.oauth.client_secret_file"),
        "one line for the shared secret, naming every key that uses it: {err}"
    );
    assert!(err.trim_end().ends_with("3 problem(s) found"), "{err}");
    assert!(
        !out.contains("ok"),
        "nothing is ok before the problems are fixed: {out}"
    );

    // One file created, the other not; a certificate named but missing: every file still in one
    // run, nothing said to be ok, and the count.
    let half = dir.path().join("half.toml");
    std::fs::write(dir.path().join("dvcqg.pass"), "bi-mat\n").expect("write secret");
    let text = std::fs::read_to_string(repo("deploy/config/lienthong.example.toml"))
        .expect("example")
        .replace("/etc/lienthong/dvcqg.pass", &format!("{}/dvcqg.pass", dir.path().display()))
        .replace(
            "# [server.tls]\n# cert = \"/etc/lienthong/tls/server.pem\"       # chain, leaf first\n# key = \"/etc/lienthong/tls/server.key\"",
            "[server.tls]\ncert = \"/etc/lienthong/tls/server.pem\"\nkey = \"/etc/lienthong/tls/server.key\"",
        );
    assert!(
        text.contains("\n[server.tls]\n"),
        "the TLS block was uncommented"
    );
    std::fs::write(&half, text).expect("write");
    let (ok, out, err) = run(&["check-config", "--config", half.to_str().expect("path")]);
    assert!(!ok);
    for key in [
        "destinations.emc.oauth.client_secret_file",
        "server.tls.cert: /etc/lienthong/tls/server.pem does not exist",
        "server.tls.key: /etc/lienthong/tls/server.key does not exist",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    assert!(!err.contains("dvcqg.pass"), "{err}");
    assert!(err.trim_end().ends_with("3 problem(s) found"), "{err}");
    assert!(out.is_empty(), "nothing is said to be ok: {out}");

    // The example as installed: its secret files exist (check-config reads them, as serve does).
    let good = dir.path().join("good.toml");
    for f in ["dvcqg.pass", "lgsp.secret"] {
        std::fs::write(dir.path().join(f), "bi-mat\n").expect("write secret");
    }
    let text = std::fs::read_to_string(repo("deploy/config/lienthong.example.toml"))
        .expect("example")
        .replace("/etc/lienthong/", &format!("{}/", dir.path().display()));
    std::fs::write(&good, text).expect("write");
    let (ok, out, err) = run(&["check-config", "--config", good.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn mapping_check_and_render() {
    let (ok, out, err) = run(&[
        "mapping",
        "check",
        "--dir",
        repo("mappings/specs/dvcqg").to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("hoso") && out.contains("tien-do"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("codes.toml"),
        "[tables.status]\naccepted = \"2\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("hoso.toml"),
        "input = \"dossier\"\n\n[[fields]]\ntarget = \"MaHoSo\"\nsource = \"cod\"\n",
    )
    .expect("write");
    let (ok, _, err) = run(&[
        "mapping",
        "check",
        "--dir",
        dir.path().to_str().expect("path"),
    ]);
    assert!(!ok);
    assert!(
        err.contains("hoso.toml:5: unknown source path `cod`"),
        "{err}"
    );

    let missing_config = dir.path().join("none.toml");
    let input = repo("examples/dossier-business-registration.json");
    let (ok, out, err) = run(&[
        "mapping",
        "render",
        "--destination",
        "dvcqg",
        "--input",
        input.to_str().expect("path"),
        "--config",
        missing_config.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    let hoso: serde_json::Value = serde_json::from_str(&out).expect("JSON out");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("mappings/tests/expected/dvcqg-hoso-business.json"))
            .expect("expected"),
    )
    .expect("json");
    assert_eq!(hoso, expected);

    let event = repo("examples/event-processing.json");
    let (ok, out, err) = run(&[
        "mapping",
        "render",
        "--destination",
        "dvcqg",
        "--input",
        input.to_str().expect("path"),
        "--event",
        event.to_str().expect("path"),
        "--config",
        missing_config.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("\"TrangThai\": \"4\""), "{out}");

    // The investment system's registration is XML, printed as the document it signs and sends.
    let investment = repo("examples/dossier-investment.json");
    let (ok, out, err) = run(&[
        "mapping",
        "render",
        "--destination",
        "investment",
        "--input",
        investment.to_str().expect("path"),
        "--config",
        missing_config.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("<?xml"), "{out}");
    // A kind the registry has no rendering for, or a status event for a system that takes
    // dossiers only: one line, non-zero.
    for (destination, extra) in [("webhook", None), ("nbrs", Some(&event))] {
        let mut args = vec![
            "mapping",
            "render",
            "--destination",
            destination,
            "--input",
            input.to_str().expect("path"),
            "--config",
            missing_config.to_str().expect("path"),
        ];
        if let Some(e) = extra {
            args.extend(["--event", e.to_str().expect("path")]);
        }
        let (ok, _, err) = run(&args);
        assert!(!ok, "{destination}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("built-in mappings are dvcqg, emc, nbrs, investment, edxml")
                || err.contains("do not take progress messages"),
            "{err}"
        );
    }
}

#[test]
fn errors_are_one_line_with_non_zero_exit() {
    let (ok, _, err) = run(&["serve", "--config", "/nonexistent/lienthong.toml"]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    let (ok, _, err) = run(&[
        "mapping",
        "render",
        "--destination",
        "nbrs",
        "--input",
        "/nonexistent.json",
        "--config",
        "/nonexistent.toml",
    ]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (ok, out, _) = run(&["--help"]);
    assert!(ok && out.contains("demo") && out.contains("check-config"));
}

/// The README's first command: the demo runs end to end (HTTPS with client certificates,
/// an outage and its recovery, a replayed dead letter, signed edXML, the national systems) and
/// exits 0.
#[test]
fn demo_runs_end_to_end() {
    let (ok, out, err) = run(&["demo"]);
    assert!(ok, "demo failed:\n{out}\n{err}");
    for want in [
        "https://localhost:",
        "POST /v1/deliveries/",
        "403 (Client certificate required)",
        "verified, signer CN=Trung tam PVHCC",
        "refused (digest mismatch",
        "Summary per destination",
        "the commune answered with a signed edXML status 01",
        "statuses 03, 05, 06",
        "the province has the dossier processed",
        "with 3 files (3 identical by SHA-256)",
        "received at province           1         3               4",
        "NBRS took it: receipt number (IN_JOURNAL_NO) NB-000001",
        "NBRS PROCESS_STATUS 4 (registered) → status event `processed`",
        "a tampered decision: HTTP 401",
        "→ status event `processed`: Cấp Giấy chứng nhận đăng ký đầu tư số GCN-2026-15",
        "payment confirmation with a wrong MaXacThuc: HTTP 401",
        "payment confirmation GD-2026-000123 (50,000 VND): HTTP 200",
        "National systems summary",
        "notices: nbrs.status, nbrs.status, nbrs.status, investment.result, payment.confirmed",
        // The operator's language: the circuit in words, the portal's statuses named, the
        // temporary directory said to be one, the real wire.
        "circuit breaker is open: sending is paused after repeated failures (ngắt mạch",
        "10 đã trả KQ",
        "a temporary directory, deleted when the demo ends; run with --keep",
        "temporary failures",
        "sendEdoc 000.02.01.H37 → 000.00.12.H37",
        "X-Road-Client VN/GOV/000.02.01.H37/LIENTHONG and X-Road-Issue 000.02.01.H37-DEMO-XR01",
    ] {
        assert!(
            out.contains(want),
            "{want:?} missing from the demo output:\n{out}"
        );
    }
}

/// The daemon does not carry the demo: `lienthong demo` runs `lienthong-demo` from beside it, and
/// says so in one line when that program is not installed.
#[test]
fn demo_without_the_demo_program_says_how_to_get_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alone = dir.path().join("lienthong");
    std::fs::copy(lienthong_tests::gateway_process::lienthong_bin(), &alone).expect("copy");
    let out = std::process::Command::new(&alone)
        .arg("demo")
        .output()
        .expect("run lienthong");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("lienthong-demo"), "{err}");
}

#[test]
fn mapping_render_edxml_dossier_and_status_messages() {
    let input = repo("examples/dossier-business-registration.json");
    let (ok, out, err) = run(&[
        "--config",
        "/nonexistent/lienthong.toml",
        "mapping",
        "render",
        "--destination",
        "edxml",
        "--input",
        input.to_str().expect("path"),
        "--to",
        "000.00.99.H37",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML:edXML xmlns:edXML="),
        "{out}"
    );
    assert!(
        out.contains("<edXML:To><edXML:OrganId>000.00.99.H37</edXML:OrganId>"),
        "{out}"
    );
    assert!(out.contains("<edXML:ReferenceCodes>"), "{out}");
    let event = repo("examples/event-processing.json");
    let (ok, out, err) = run(&[
        "--config",
        "/nonexistent/lienthong.toml",
        "mapping",
        "render",
        "--destination",
        "edxml",
        "--input",
        input.to_str().expect("path"),
        "--event",
        event.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("<edXML:StatusCode>05</edXML:StatusCode>"),
        "{out}"
    );
    let (ok, out, _) = run(&[
        "--config",
        "/nonexistent/lienthong.toml",
        "mapping",
        "check",
    ]);
    assert!(ok && out.contains("edxml (built-in): ok"), "{out}");
}

#[test]
fn mapping_check_and_render_emc_reports() {
    let missing_config = repo("no-such-config.toml");
    let cfg = missing_config.to_str().expect("path");
    let (ok, out, err) = run(&["mapping", "check", "--config", cfg]);
    assert!(ok, "{err}");
    assert!(
        out.contains("emc (built-in): ok") && out.contains("bao-cao"),
        "{out}"
    );

    let input = repo("examples/dossier-business-registration.json");
    let event = repo("examples/event-processing.json");
    let (ok, out, err) = run(&[
        "mapping",
        "render",
        "--destination",
        "emc",
        "--input",
        input.to_str().expect("path"),
        "--event",
        event.to_str().expect("path"),
        "--config",
        cfg,
    ]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON out");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("mappings/tests/expected/emc-bao-cao-business.json"))
            .expect("expected"),
    )
    .expect("json");
    assert_eq!(report, expected);

    // Without an event: the new dossier as the step "received".
    let (ok, out, err) = run(&[
        "mapping",
        "render",
        "--destination",
        "emc",
        "--input",
        input.to_str().expect("path"),
        "--config",
        cfg,
    ]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON out");
    assert_eq!(report["Status"], 1);
    assert_eq!(report["Data"], "Tiếp nhận hồ sơ");
}

/// `lienthong init DIR`: a starting configuration with empty secret files of mode 0600 and the
/// list of what to fill in; check-config then names exactly those files; filled in, it is ok; a
/// second init does not overwrite.
#[test]
fn init_writes_a_starting_configuration_and_says_what_to_fill_in() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc");
    let state = dir.path().join("var");
    let (ok, out, err) = run(&[
        "init",
        etc.to_str().expect("path"),
        "--state-dir",
        state.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("attachments.allowed_urls") && out.contains("dvcqg.pass"),
        "{out}"
    );
    for f in ["dvcqg.pass", "lgsp.secret"] {
        let mode = std::fs::metadata(etc.join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let config = etc.join("lienthong.toml");
    let check = || run(&["check-config", "--config", config.to_str().expect("path")]);
    let (ok, _, err) = check();
    assert!(!ok);
    assert!(
        err.contains("destinations.dvcqg.password_file") && err.contains("is empty"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("2 problem(s) found"), "{err}");
    for f in ["dvcqg.pass", "lgsp.secret"] {
        std::fs::write(etc.join(f), "bi-mat\n").expect("secret");
    }
    let (ok, out, err) = check();
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{}: ok", config.display())), "{out}");
    assert!(
        out.contains(&state.display().to_string()),
        "the tokens will be generated in the state directory: {out}"
    );
    let (ok, _, err) = run(&["init", etc.to_str().expect("path")]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("does not overwrite"), "{err}");

    // Relative paths are written absolute: the service does not start where init ran.
    let here = dir.path().join("rel");
    std::fs::create_dir_all(&here).expect("dir");
    let out = std::process::Command::new(lienthong_tests::gateway_process::lienthong_bin())
        .args(["init", "./etc", "--state-dir", "./var"])
        .current_dir(&here)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(here.join("etc/lienthong.toml")).expect("config");
    assert!(
        text.contains(&format!("sqlite://{}/var/lienthong.db", here.display())),
        "the store's path is absolute"
    );
    assert!(text.contains(&format!(
        "password_file = \"{}/etc/dvcqg.pass\"",
        here.display()
    )));
}
