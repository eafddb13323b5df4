//! The operator's first hour (issue 29, part 3): the shipped example configuration, with its
//! secret files created as check-config says, starts the real binary, and every dossier of
//! `examples/` is taken (202) and reaches the portal simulator; `check-config` on the copy says ok.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::emc_sim::EmcSim;
use lienthong_tests::gateway_process::{Gateway, all_delivered, example, free_port, run_cli};
use lienthong_tests::nbrs_sim::NbrsSim;

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// Creates a secret file as the operator would (`install -m 600 /dev/null …`, then the secret).
fn secret(path: &Path, value: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, value).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[tokio::test]
async fn the_example_configuration_takes_every_example_dossier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let emc = EmcSim::start().await.expect("emc");
    let nbrs = NbrsSim::start().await.expect("nbrs");
    let creds = dvcqg.credentials();
    let port = free_port();
    // The example as an operator installs it: the paths under a directory of their own, the
    // portals' addresses and accounts those of the simulators.
    let text = std::fs::read_to_string(repo("deploy/config/lienthong.example.toml"))
        .expect("example")
        .replace("/etc/lienthong/", &format!("{}/etc/", d.display()))
        .replace(
            "sqlite:///var/lib/lienthong/lienthong.db",
            &format!("sqlite://{}/lienthong.db", d.display()),
        )
        .replace("127.0.0.1:8440", &format!("127.0.0.1:{port}"))
        .replace("https://dichvucong.example.gov.vn", &dvcqg.base_url())
        .replace(
            "username = \"lienthong-ninhbinh\"",
            &format!("username = \"{}\"", creds.username),
        )
        .replace(
            "madonvi = \"000.00.00.H37\"",
            &format!("madonvi = \"{}\"", creds.madonvi),
        )
        .replace(
            "https://emc.example.gov.vn/api/reports",
            &format!("{}/reports", emc.base_url()),
        )
        .replace(
            "https://lgsp.ninhbinh.example.gov.vn/nbrs",
            &nbrs.base_url(),
        )
        .replace("https://lgsp.ninhbinh.example.gov.vn", &nbrs.base_url());
    let config = d.join("lienthong.toml");
    std::fs::write(&config, &text).expect("write");

    // Before the secrets exist, check-config names each file once and how to create it.
    let (ok, _, err) = run_cli(&["check-config", "--config", config.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("install -m 600 /dev/null"), "{err}");
    assert!(err.trim_end().ends_with("2 problem(s) found"), "{err}");
    secret(&d.join("etc/dvcqg.pass"), &creds.password);
    secret(&d.join("etc/lgsp.secret"), "bi-mat");
    let (ok, out, err) = run_cli(&["check-config", "--config", config.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.contains(": ok ("), "{out}");

    let gw = Gateway::start(d, &text).await;
    let dossiers = [
        "dossier-business-registration.json",
        "dossier-investment.json",
        "dossier-civil-status-interlevel.json",
    ];
    for name in dossiers {
        let (st, body) = gw.post("/v1/dossiers", &example(name)).await;
        assert_eq!(st, 202, "{name}: {body}");
    }
    let code = example("dossier-business-registration.json")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let (st, body) = gw
        .post(
            &format!("/v1/dossiers/{code}/events"),
            &example("event-processing.json"),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    // DVCQG, behind its simulator, gets every dossier.
    gw.wait_deliveries(Duration::from_secs(30), "DVCQG delivered", |all| {
        all_delivered(
            &all.iter()
                .filter(|x| x["destination"] == "dvcqg")
                .cloned()
                .collect::<Vec<_>>(),
        )
    })
    .await;
    for name in dossiers {
        let code = example(name)["code"].as_str().expect("code").to_owned();
        assert!(dvcqg.hoso(&code).is_some(), "{code} at DVCQG");
    }
}

/// The README's "First requests" run as written (curl and the CLI, with the tokens the first
/// start generated) against a gateway on the example configuration: each prints JSON, none fails.
#[tokio::test]
async fn the_readmes_first_requests_work_as_written() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README");
    let start = readme
        .find("### First requests")
        .expect("a First requests section");
    let block = readme[start..]
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its shell block")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let dvcqg = DvcqgSim::start().await.expect("dvcqg");
    let port = free_port();
    let creds = dvcqg.credentials();
    let text = std::fs::read_to_string(repo("deploy/config/lienthong.example.toml"))
        .expect("example")
        .replace("/etc/lienthong/", &format!("{}/etc/", d.display()))
        .replace(
            "sqlite:///var/lib/lienthong/lienthong.db",
            &format!("sqlite://{}/lienthong.db", d.display()),
        )
        .replace("127.0.0.1:8440", &format!("127.0.0.1:{port}"))
        .replace("https://dichvucong.example.gov.vn", &dvcqg.base_url())
        .replace(
            "username = \"lienthong-ninhbinh\"",
            &format!("username = \"{}\"", creds.username),
        )
        .replace(
            "madonvi = \"000.00.00.H37\"",
            &format!("madonvi = \"{}\"", creds.madonvi),
        )
        .replace("https://emc.example.gov.vn", &dvcqg.base_url())
        .replace("https://lgsp.ninhbinh.example.gov.vn", &dvcqg.base_url());
    secret(&d.join("etc/dvcqg.pass"), &creds.password);
    secret(&d.join("etc/lgsp.secret"), "bi-mat");
    std::fs::write(d.join("etc/lienthong.toml"), &text).expect("write");
    let gw = Gateway::start(d, &text).await;
    std::os::unix::fs::symlink(repo("examples"), d.join("examples")).expect("examples");
    // Two dead letters to look at and replay: the portal refuses these two dossiers.
    let mut dead = Vec::new();
    for name in [
        "dossier-investment.json",
        "dossier-civil-status-interlevel.json",
    ] {
        let d = example(name);
        let code = d["code"].as_str().expect("code").to_owned();
        dvcqg.update_faults(|f| {
            f.reject_codes.insert(code.clone());
        });
        let (st, body) = gw.post("/v1/dossiers", &d).await;
        assert_eq!(st, 202, "{body}");
        let id = body["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["destination"] == "dvcqg"))
            .and_then(|m| m["id"].as_str())
            .expect("the DVCQG message")
            .to_owned();
        dead.push(id);
    }
    gw.wait_deliveries(Duration::from_secs(30), "two dead letters", |all| {
        dead.iter().all(|id| {
            all.iter()
                .any(|d| d["id"] == id.as_str() && d["state"] == "dead")
        })
    })
    .await;
    let script = format!(
        "set -euo pipefail\n{}",
        block
            .replace("http://127.0.0.1:8440", &gw.base_url)
            .lines()
            .map(|l| {
                let id = if l.starts_with("lienthong deliveries replay") {
                    &dead[1]
                } else {
                    &dead[0]
                };
                l.replace("<id>", id)
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    let bin = lienthong_tests::gateway_process::lienthong_bin();
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(d)
        .env("PATH", path)
        .env_remove("LIENTHONG_CONFIG")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The dossier was taken and then found; the lists and the replay answered in JSON.
    assert!(
        stdout.contains("\"code\":\"000.02.01.H37-261128-0001\""),
        "{stdout}"
    );
    assert!(stdout.contains("\"attempts\""), "{stdout}");
    assert!(
        stdout.contains(&dead[1]),
        "the CLI replayed the second: {stdout}"
    );
    let replayed = gw.deliveries().await;
    for id in &dead {
        let d = replayed
            .iter()
            .find(|d| d["id"] == id.as_str())
            .expect("delivery");
        assert_ne!(d["state"], "dead", "{id} was replayed: {d}");
    }
    let (st, _) = gw.get("/v1/dossiers/000.02.01.H37-261128-0001").await;
    assert_eq!(st, 200);
}
