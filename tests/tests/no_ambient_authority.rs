//! Security III, item 1: no address is an identity (issue 25). Each attack was a 200 before:
//! a page re-pointed at 127.0.0.1 (DNS rebinding) adding `Authorization: Bearer junk`, a
//! request forwarded by a reverse proxy on the same host, a cross-site `text/plain` POST to
//! reload. Now the first start generates the tokens the configuration does not name, the Host
//! check holds with or without `Authorization`, and only a lab (`allow_unauthenticated`) is open.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{
    Gateway, TestConfig, example, free_port, run_cli, token_of,
};
use reqwest::Client;
use serde_json::Value;

async fn start(dir: &Path, sim: &DvcqgSim, server_extra: &str) -> Gateway {
    let config = TestConfig {
        server_extra: server_extra.to_owned(),
        ..TestConfig::default()
    }
    .render(dir, free_port(), sim);
    Gateway::start(dir, &config).await
}

/// Status and body of a request.
async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("answered");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_rebinding_page_with_a_junk_token_reaches_nothing() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let gw = start(dir.path(), &sim, "").await;
    let dossier = example("dossier-business-registration.json");
    let code = dossier["code"].as_str().expect("code").to_owned();
    let (status, body) = gw.post("/v1/dossiers", &dossier).await;
    assert_eq!(
        status, 202,
        "the center's generated token files a dossier: {body}"
    );

    let http = Client::new();
    let url = |p: &str| format!("{}{p}", gw.base_url);
    // The page's script runs under the attacker's name, now resolving to 127.0.0.1, and adds
    // an Authorization header of its own making: the Host check no longer steps aside.
    for (method, path) in [
        ("GET", "/v1/deliveries".to_owned()),
        ("GET", "/metrics".to_owned()),
        ("GET", format!("/v1/dossiers/{code}")),
        ("GET", "/console".to_owned()),
        ("GET", "/console/dead".to_owned()),
        ("POST", "/v1/admin/reload".to_owned()),
    ] {
        let r = http
            .request(method.parse().expect("method"), url(&path))
            .header("host", "evil.example")
            .bearer_auth("junk");
        let (status, body) = send(r).await;
        assert_eq!(status, 421, "{method} {path}: {body}");
        assert!(
            !body.to_string().contains("Trần Quốc Bảo"),
            "personal data: {body}"
        );
    }
    // Even the real admin token under a foreign name: readiness gives the status only.
    for token in ["junk", gw.admin_token.as_deref().expect("admin token")] {
        let r = http
            .get(url("/readyz"))
            .header("host", "evil.example")
            .bearer_auth(token);
        let (status, body) = send(r).await;
        assert_eq!(status, 200);
        assert_eq!(body, serde_json::json!({ "status": "ready" }), "{token}");
    }
    // From loopback, with the right name, with no or a junk token: nothing either.
    for token in [None, Some("junk")] {
        for path in ["/v1/deliveries", "/metrics", "/v1/stats"] {
            let mut r = http.get(url(path));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let (status, body) = send(r).await;
            assert_eq!(status, 401, "{path} {token:?}: {body}");
        }
        let mut r = http.get(url(&format!("/v1/dossiers/{code}")));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let (status, body) = send(r).await;
        assert_eq!(status, 401, "a dossier (personal data): {body}");
    }
    // A cross-site form (text/plain, no credentials) from any page the operator opens.
    let (status, body) = send(
        http.post(url("/v1/admin/reload"))
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .body("x"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let log = gw.log();
    assert!(
        !log.contains("configuration reloaded"),
        "a cross-site POST reloaded the configuration:\n{log}"
    );

    // The operator, with the generated token, is let in.
    let (status, body) = gw.get("/v1/deliveries").await;
    assert_eq!(status, 200, "{body}");
    let r = gw.admin(http.post(url("/v1/admin/reload")));
    let (status, body) = send(r).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_first_start_generates_private_tokens_and_says_where() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let mut gw = start(dir.path(), &sim, "").await;
    let admin = gw
        .admin_token
        .clone()
        .expect("an admin token was generated");
    let center = gw
        .center_token
        .clone()
        .expect("a center token was generated");
    assert_ne!(admin, center);
    for (role, token) in [("admin", &admin), ("center", &center)] {
        assert_eq!(token.len(), 64, "{role}: 256 bits, hex");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{role}");
        // Beside the store, mode 0600, holding the value `tokens show` prints.
        let file = dir.path().join(format!("{role}.token"));
        let text = std::fs::read_to_string(&file).expect("token file");
        assert_eq!(text.trim(), token.as_str(), "{role}");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{role} token file mode");
        let (ok, out, err) = run_cli(&[
            "tokens",
            "show",
            role,
            "--path",
            "--config",
            gw.config_path.to_str().expect("path"),
        ]);
        assert!(ok, "{err}");
        assert_eq!(out.trim(), file.display().to_string());
    }
    // Where it is is logged; the value never is.
    let log = gw.log();
    assert!(
        log.contains(&dir.path().join("admin.token").display().to_string()),
        "{log}"
    );
    assert!(
        !log.contains(&admin) && !log.contains(&center),
        "a token in the log"
    );

    // A restart keeps them (kept in the store), and an operator who deletes the file gets it
    // back, with the same value.
    gw.terminate().await;
    std::fs::remove_file(dir.path().join("admin.token")).expect("rm");
    let config = std::fs::read_to_string(&gw.config_path).expect("config");
    let again = Gateway::start(dir.path(), &config).await;
    assert_eq!(again.admin_token.as_deref(), Some(admin.as_str()));
    assert_eq!(again.center_token.as_deref(), Some(center.as_str()));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin.token"))
            .expect("rewritten")
            .trim(),
        admin
    );
    // The center's token is the center's: not an administrator's.
    let http = Client::new();
    let (status, _) = send(
        http.get(format!("{}/v1/deliveries", again.base_url))
            .bearer_auth(&center),
    )
    .await;
    assert_eq!(status, 401);
    // The schema is the center's API too (nothing but liveness and readiness is open).
    let (status, _) = send(http.get(format!("{}/v1/schema/dossier", again.base_url))).await;
    assert_eq!(status, 401);
    let (status, body) = again.get("/v1/schema/dossier").await;
    assert_eq!(status, 200, "{body}");
}

/// Behind a reverse proxy on the same host every client arrives from loopback, with the public
/// name in `Host`: the address proves nothing, so nothing is open, and check-config says which
/// tokens the first start generates.
#[tokio::test]
async fn behind_a_reverse_proxy_loopback_proves_nothing() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let gw = start(
        dir.path(),
        &sim,
        "public_url = \"https://lienthong.ninhbinh.gov.vn\"",
    )
    .await;
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = |p: &str| format!("{}{p}", gw.base_url);
    // What nginx forwards: the public name, from 127.0.0.1.
    let forwarded = |r: reqwest::RequestBuilder| {
        r.header("host", "lienthong.ninhbinh.gov.vn")
            .header("x-forwarded-for", "203.0.113.7")
    };
    for path in ["/v1/deliveries", "/metrics", "/v1/stats"] {
        let (status, body) = send(forwarded(http.get(url(path)))).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let (status, body) = send(forwarded(http.post(url("/v1/admin/reload")))).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(
        forwarded(http.post(url("/v1/dossiers")))
            .json(&example("dossier-business-registration.json")),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // The console sends a browser to its sign-in page.
    let r = forwarded(http.get(url("/console")))
        .send()
        .await
        .expect("console");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/console/login")
    );
    // With the token, through the proxy: served.
    let (status, _) = send(gw.admin(forwarded(http.get(url("/v1/deliveries"))))).await;
    assert_eq!(status, 200);

    let (ok, out, err) = run_cli(&[
        "check-config",
        "--config",
        gw.config_path.to_str().expect("path"),
    ]);
    assert!(ok, "{out}{err}");
    for role in ["admin", "center"] {
        assert!(
            out.contains(
                &dir.path()
                    .join(format!("{role}.token"))
                    .display()
                    .to_string()
            ),
            "check-config does not say where the {role} token is:\n{out}"
        );
    }
}

/// A lab: `allow_unauthenticated` generates nothing, leaves the APIs open to everyone (not only
/// to loopback) and says so at every start.
#[tokio::test]
async fn a_lab_is_open_and_says_so_at_every_start() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let mut gw = start(dir.path(), &sim, "allow_unauthenticated = true").await;
    assert!(gw.admin_token.is_none() && gw.center_token.is_none());
    assert!(!dir.path().join("admin.token").exists());
    let (status, _) = send(Client::new().get(format!("{}/v1/deliveries", gw.base_url))).await;
    assert_eq!(status, 200);
    gw.wait_for_log("allow_unauthenticated", 1).await;
    gw.terminate().await;
    let config = std::fs::read_to_string(&gw.config_path).expect("config");
    let again = Gateway::start(dir.path(), &config).await;
    again.wait_for_log("allow_unauthenticated", 2).await;
    assert!(
        token_of(&again.config_path, "admin").is_none(),
        "no token in a lab"
    );
}

/// Instances sharing a PostgreSQL store accept the same generated tokens: the first to start
/// keeps its own, the next finds them (behind a load balancer, a token works on every instance).
#[tokio::test]
async fn instances_on_one_store_share_the_generated_tokens() {
    let db = lienthong_tests::postgres::TestDatabase::create().await;
    let sim = DvcqgSim::start().await.expect("sim");
    let (a, b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let start_on = |dir: &Path, name: &str| {
        TestConfig {
            server_extra: format!("instance = \"{name}\"\nstate_dir = \"{}\"", dir.display()),
            store_url: Some(db.url.clone()),
            ..TestConfig::default()
        }
        .render(dir, free_port(), &sim)
    };
    let first = Gateway::start(a.path(), &start_on(a.path(), "node-a")).await;
    let second = Gateway::start(b.path(), &start_on(b.path(), "node-b")).await;
    assert!(first.admin_token.is_some());
    assert_eq!(first.admin_token, second.admin_token);
    assert_eq!(first.center_token, second.center_token);
    // Each instance has its own copy for its operator.
    for dir in [a.path(), b.path()] {
        let copy = std::fs::read_to_string(dir.join("admin.token")).expect("copy");
        assert_eq!(Some(copy.trim()), first.admin_token.as_deref());
    }
    // A dossier filed through one is read through the other with the same token.
    let dossier = example("dossier-business-registration.json");
    let code = dossier["code"].as_str().expect("code").to_owned();
    let (status, body) = first.post("/v1/dossiers", &dossier).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = second.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(status, 200, "{body}");
    drop((first, second));
    db.drop_database().await;
}
