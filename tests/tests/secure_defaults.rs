//! Secure by default on the network (issue "Security II"), through the real binary: a gateway
//! others can reach does not start with an API left open; the center's API needs the center's
//! credentials; readiness detail and internal errors are for administrators and the log.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port, lienthong_bin};
use reqwest::{Client, RequestBuilder};
use serde_json::Value;

const CENTER_TOKEN: &str = "center-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e";
const ADMIN_TOKEN: &str = "admin-2b4d6f8a0c2e4a6c8e0b2d4f6a8c0e2b";

/// Writes a secret file with mode 0600, as an operator would.
fn secret(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).expect("write secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// The tests' configuration on every interface (`0.0.0.0`, as `deploy/cluster` has it), with
/// `server_extra` in `[server]`.
fn exposed(dir: &Path, sim: &DvcqgSim, server_extra: String) -> String {
    TestConfig {
        server_extra,
        ..TestConfig::default()
    }
    .render(dir, free_port(), sim)
    .replace("listen = \"127.0.0.1:", "listen = \"0.0.0.0:")
}

fn check_config(config: &Path) -> (bool, String) {
    let out = std::process::Command::new(lienthong_bin())
        .args(["check-config", "--config"])
        .arg(config)
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn an_exposed_listener_never_leaves_an_api_open() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let admin = secret(dir.path(), "admin.token", ADMIN_TOKEN);
    // The cluster example as it was: every interface, an admin token, the center's API with no
    // credential of its own: the first start generates the center's token, and says where.
    let config = exposed(
        dir.path(),
        &sim,
        format!("admin_token_file = \"{}\"", admin.display()),
    );
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, &config).expect("config");
    let (ok, out) = check_config(&path);
    assert!(ok, "{out}");
    let center_file = dir.path().join("center.token");
    assert!(
        out.contains("server.center_token_file: not set")
            && out.contains(&center_file.display().to_string()),
        "{out}"
    );
    assert!(!out.contains("server.admin_token_file: not set"), "{out}");
    let gw = Gateway::start(dir.path(), &config).await;
    assert_eq!(gw.admin_token.as_deref(), Some(ADMIN_TOKEN));
    let generated = gw.center_token.clone().expect("generated center token");
    assert_eq!(
        std::fs::read_to_string(&center_file).expect("copy").trim(),
        generated
    );
    let http = Client::new();
    let url = format!("{}/v1/dossiers", gw.base_url);
    let dossier = example("dossier-business-registration.json");
    let (status, _, _) = status_of(http.post(&url).json(&dossier)).await;
    assert_eq!(
        status, 401,
        "the center's API is open on an exposed listener"
    );
    let (status, body, _) = status_of(http.post(&url).bearer_auth(&generated).json(&dossier)).await;
    assert_eq!(status, 202, "{body}");
    drop(gw);

    // Nothing at all: both tokens generated, both named by check-config.
    std::fs::write(&path, exposed(dir.path(), &sim, String::new())).expect("config");
    let (ok, out) = check_config(&path);
    assert!(
        ok && out.contains("server.center_token_file: not set")
            && out.contains("server.admin_token_file: not set"),
        "{out}"
    );

    // A lab says so: it starts, and says what is open at every start.
    std::fs::write(
        &path,
        exposed(dir.path(), &sim, "allow_unauthenticated = true".into()),
    )
    .expect("config");
    let (ok, out) = check_config(&path);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning") && out.contains("allow_unauthenticated"),
        "{out}"
    );
    // A portal URL on this host is said (a warning, not a refusal: portals may be private).
    assert!(
        out.contains("warning: destinations.dvcqg.base_url: 127.0.0.1 is 127.0.0.1 (loopback)"),
        "{out}"
    );
    let lab = Gateway::start(dir.path(), &std::fs::read_to_string(&path).expect("config")).await;
    lab.wait_for_log("because server.allow_unauthenticated is set", 2)
        .await;

    // A short token is refused with its key.
    let short = secret(dir.path(), "short.token", "0123456789");
    std::fs::write(
        &path,
        exposed(
            dir.path(),
            &sim,
            format!(
                "admin_token_file = \"{}\"\ncenter_token_file = \"{}\"",
                admin.display(),
                short.display()
            ),
        ),
    )
    .expect("config");
    let (ok, out) = check_config(&path);
    assert!(
        !ok && out.contains("server.center_token_file") && out.contains("at least 32"),
        "{out}"
    );
}

/// A gateway on every interface with both tokens.
async fn protected(dir: &Path, sim: &DvcqgSim) -> Gateway {
    let admin = secret(dir, "admin.token", ADMIN_TOKEN);
    let center = secret(dir, "center.token", CENTER_TOKEN);
    let config = exposed(
        dir,
        sim,
        format!(
            "admin_token_file = \"{}\"\ncenter_token_file = \"{}\"",
            admin.display(),
            center.display()
        ),
    );
    Gateway::start(dir, &config).await
}

async fn status_of(r: RequestBuilder) -> (u16, Value, Option<String>) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let auth = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.json().await.unwrap_or(Value::Null), auth)
}

#[tokio::test]
async fn the_centers_api_answers_only_the_centers_credentials() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let gw = protected(dir.path(), &sim).await;
    let http = Client::new();
    let url = |p: &str| format!("{}{p}", gw.base_url);
    let dossier = example("dossier-business-registration.json");
    let code = dossier["code"].as_str().expect("code").to_owned();

    // Without credentials, with a wrong token, with the admin token: no intake.
    for token in [
        None,
        Some("wrong-token-wrong-token-wrong-token"),
        Some(ADMIN_TOKEN),
    ] {
        let mut r = http.post(url("/v1/dossiers")).json(&dossier);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let (status, body, auth) = status_of(r).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(
            body["type"],
            "urn:lienthong:problem:authentication-required"
        );
        assert!(auth.is_some_and(|a| a.starts_with("Bearer")), "{token:?}");
    }
    // Nothing was stored: the center's own read finds nothing.
    let (status, _, _) = status_of(
        http.get(url(&format!("/v1/dossiers/{code}")))
            .bearer_auth(CENTER_TOKEN),
    )
    .await;
    assert_eq!(status, 404);

    let (status, body, _) = status_of(
        http.post(url("/v1/dossiers"))
            .bearer_auth(CENTER_TOKEN)
            .json(&dossier),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    // Tracking: not to strangers (codes are sequential and could be walked).
    let (status, body, _) = status_of(http.get(url(&format!("/v1/dossiers/{code}")))).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        !body.to_string().contains("Trần Quốc Bảo"),
        "personal data leaked: {body}"
    );
    for token in [CENTER_TOKEN, ADMIN_TOKEN] {
        let (status, body, _) = status_of(
            http.get(url(&format!("/v1/dossiers/{code}")))
                .bearer_auth(token),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["code"], code.as_str(), "{body}");
    }
    // Statistics and the overdue list: the center's or an administrator's.
    for path in ["/v1/stats", "/v1/dossiers?overdue=true"] {
        let (status, _, _) = status_of(http.get(url(path))).await;
        assert_eq!(status, 401, "{path}");
        for token in [CENTER_TOKEN, ADMIN_TOKEN] {
            let (status, body, _) = status_of(http.get(url(path)).bearer_auth(token)).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    // The admin API: the center's token is not an admin's, and loopback proves nothing here.
    for token in [None, Some(CENTER_TOKEN)] {
        let mut r = http.get(url("/v1/deliveries"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let (status, body, _) = status_of(r).await;
        assert_eq!(status, 401, "{token:?}: {body}");
    }
    let (status, body, _) =
        status_of(http.get(url("/v1/deliveries")).bearer_auth(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
}

#[tokio::test]
async fn readiness_detail_is_for_administrators() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let gw = protected(dir.path(), &sim).await;
    let http = Client::new();
    let url = format!("{}/readyz", gw.base_url);
    let (status, body, _) = status_of(http.get(&url)).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ready" }));
    let (status, body, _) = status_of(http.get(&url).bearer_auth(CENTER_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "status": "ready" }));
    let (status, body, _) = status_of(http.get(&url).bearer_auth(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["circuits"]["dvcqg"], "closed", "{body}");
    assert!(body.get("last_reload").is_some(), "{body}");
}

/// A dossier naming a file outside the center's document store is refused at intake, naming
/// the field; the gateway's own admin API and the cloud metadata address are not fetchable.
#[tokio::test]
async fn a_dossier_cannot_name_a_file_outside_the_document_store() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let config = TestConfig::default().render(dir.path(), port, &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    let good = example("dossier-business-registration.json");
    for (i, url) in [
        format!("http://127.0.0.1:{port}/v1/deliveries"),
        "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
        "https://motcua.example.vn/files/../admin/x".to_owned(),
        "https://motcua.example.vn.attacker.example/files/x".to_owned(),
        "file:///etc/lienthong/admin.token".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut d = good.clone();
        d["code"] = serde_json::json!(format!("000.02.01.H37-261204-09{i:02}"));
        let last = d["documents"].as_array().map_or(0, Vec::len) - 1;
        d["documents"][last]["url"] = serde_json::json!(url);
        let (status, body) = gw.post("/v1/dossiers", &d).await;
        assert_eq!(status, 422, "{url}: {body}");
        // The model refuses what is not http(s) (invalid-dossier, field in errors[]), the
        // file policy the rest.
        assert!(
            body["type"] == "urn:lienthong:problem:file-url-not-allowed"
                || body["type"] == "urn:lienthong:problem:invalid-dossier",
            "{body}"
        );
        assert!(
            body.to_string().contains(&format!("documents[{last}].url")),
            "{url}: {body}"
        );
        let (status, _) = gw
            .get(&format!("/v1/dossiers/000.02.01.H37-261204-09{i:02}"))
            .await;
        assert_eq!(status, 404, "{url}: nothing stored");
    }
    let (status, body) = gw.post("/v1/dossiers", &good).await;
    assert_eq!(status, 202, "a file in the document store is taken: {body}");
}

/// A file that cannot be fetched (the document store down) fails that delivery — a dead letter
/// naming the file — and does not pause the peer: the next dossier goes out.
#[tokio::test]
async fn an_unfetchable_file_fails_its_delivery_not_the_destination() {
    use lienthong_tests::file_server::FileServer;
    use lienthong_tests::two_level::{dossier, files, province_and_commune};
    let (province, commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone()).await.expect("files");
    // The store's prefix and a second store on a port where nothing listens.
    let down = free_port();
    let attachments = format!(
        "\n[attachments]\nallowed_urls = [\"{}\", \"http://127.0.0.1:{down}/files/\"]\nallowed_networks = [\"127.0.0.0/8\"]\n",
        store.url(""),
    );
    let retry = "\n[destinations.xa-gia-vien.circuit_breaker]\nfailures = 2\ncool_down = \"30s\"\n";
    let p = province
        .start(&(province.config(&commune, &commune.exchange_url(), &attachments) + retry))
        .await;
    let _c = commune
        .start(&commune.config(&province, &province.exchange_url(), ""))
        .await;
    for n in 0..3 {
        let mut d = dossier(&format!("000.02.01.H37-261204-070{n}"), &store, &files);
        d["documents"][0]["url"] =
            serde_json::json!(format!("http://127.0.0.1:{down}/files/don.pdf"));
        let (status, body) = p.post("/v1/dossiers", &d).await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, body) = p
        .post(
            "/v1/dossiers",
            &dossier("000.02.01.H37-261204-0710", &store, &files),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let all = p
        .wait_deliveries(Duration::from_secs(20), "three dead, one delivered", |ds| {
            ds.iter().filter(|d| d["state"] == "dead").count() == 3
                && ds.iter().any(|d| d["state"] == "delivered")
        })
        .await;
    for d in all.iter().filter(|d| d["state"] == "dead") {
        let error = d["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("attachment tp-0") && error.contains(&format!("127.0.0.1:{down}")),
            "the dead letter names the file: {d}"
        );
        assert_eq!(d["attempts"], 1, "not retried against the peer: {d}");
    }
    let (_, ready) = p.get("/readyz").await;
    assert_eq!(
        ready["circuits"]["xa-gia-vien"], "closed",
        "the peer's circuit stays closed: {ready}"
    );
}

const VIEWER_TOKEN: &str = "viewer-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a";

/// A request's `Host` must be a name the gateway is reached by: a page whose name was
/// re-pointed at 127.0.0.1 (DNS rebinding) cannot reach the console or the admin API.
#[tokio::test]
async fn a_foreign_host_name_is_refused() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let config = TestConfig::default().render(dir.path(), port, &sim);
    let gw = Gateway::start(dir.path(), &config).await;
    let http = Client::new();
    for (host, want) in [
        ("evil.example", 421),
        (&format!("evil.example:{port}") as &str, 421),
        (&format!("127.0.0.1:{port}"), 200),
        (&format!("localhost:{port}"), 200),
    ] {
        let r = http
            .get(format!("{}/console/dead", gw.base_url))
            .header("host", host)
            .send()
            .await
            .expect("answered");
        assert_eq!(r.status().as_u16(), want, "Host {host}");
    }
    let r = http
        .get(format!("{}/v1/deliveries", gw.base_url))
        .header("host", "rebound.attacker.example")
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status().as_u16(), 421);
}

fn cookie_of(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn sign_in(http: &Client, base: &str, token: &str) -> (u16, Option<String>, Option<String>) {
    let r = http
        .post(format!("{base}/console/login"))
        .header("origin", base)
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), cookie_of(&r), location)
}

/// The console signs in with a server-side session (not the token in a cookie), which works
/// after a restart and ends at sign-out; a session cannot change state through the API
/// (CSRF); the viewer role reads the statistics screens only; failed sign-ins are limited.
#[tokio::test]
async fn console_sessions_roles_and_csrf() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let admin = secret(dir.path(), "admin.token", ADMIN_TOKEN);
    let viewer = secret(dir.path(), "viewer.token", VIEWER_TOKEN);
    let center = secret(dir.path(), "center.token", CENTER_TOKEN);
    let port = free_port();
    let config = TestConfig {
        server_extra: format!(
            "admin_token_file = \"{}\"\nviewer_token_file = \"{}\"\ncenter_token_file = \"{}\"\npublic_url = \"https://127.0.0.1:{port}\"",
            admin.display(),
            viewer.display(),
            center.display()
        ),
        ..TestConfig::default()
    }
    .render(dir.path(), port, &sim);
    let mut gw = Gateway::start(dir.path(), &config).await;
    let base = gw.base_url.clone();
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let (status, cookie, location) = sign_in(&http, &base, ADMIN_TOKEN).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/console"));
    let cookie = cookie.expect("a session cookie");
    assert!(
        !cookie.contains(ADMIN_TOKEN),
        "the token is not the cookie: {cookie}"
    );
    for attribute in [
        "lienthong_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=",
        "Secure",
    ] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    let session = cookie.split(';').next().expect("pair").to_owned();
    let page = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", session.clone())
    };
    assert_eq!(
        page("/console/dead").send().await.expect("page").status(),
        200
    );

    // A session cannot change state through the API (a cookie rides along cross-site).
    let r = http
        .post(format!("{base}/v1/admin/reload"))
        .header("cookie", session.clone())
        .header("origin", base.clone())
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await.expect("problem");
    assert_eq!(body["type"], "urn:lienthong:problem:csrf");
    // The console's own form needs its CSRF token and this origin.
    for (origin, csrf) in [(base.as_str(), "wrong"), ("https://evil.example", "wrong")] {
        let r = http
            .post(format!("{base}/console/replay/nothing"))
            .header("cookie", session.clone())
            .header("origin", origin)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .expect("replay");
        assert_eq!(r.status().as_u16(), 403, "{origin}");
    }
    // The bearer token still does.
    let r = http
        .post(format!("{base}/v1/admin/reload"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 200);

    // The session survives a restart (it is in the store), and ends at sign-out.
    gw.terminate().await;
    let gw = Gateway::start(dir.path(), &config).await;
    assert_eq!(
        page("/console/dead").send().await.expect("page").status(),
        200
    );
    let r = http
        .post(format!("{base}/console/logout"))
        .header("cookie", session.clone())
        .header("origin", base.clone())
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status().as_u16(), 303);
    assert!(cookie_of(&r).is_some_and(|c| c.contains("Max-Age=0")));
    let r = page("/console/dead").send().await.expect("page");
    assert_eq!(
        r.status().as_u16(),
        303,
        "signed out: back to the sign-in page"
    );

    // The viewer: statistics screens only.
    let (status, cookie, location) = sign_in(&http, &base, VIEWER_TOKEN).await;
    assert_eq!((status, location.as_deref()), (303, Some("/console/stats")));
    let viewer_session = cookie
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    for (path, want) in [
        ("/console/stats", 200),
        ("/console", 200),
        ("/console/dead", 403),
        ("/console/dossier?code=000.02.01.H37-261128-0001", 403),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .header("cookie", viewer_session.clone())
            .send()
            .await
            .expect("page");
        assert_eq!(r.status().as_u16(), want, "viewer {path}");
    }
    for (path, want) in [
        ("/v1/stats", 200),
        ("/v1/deliveries", 403),
        ("/v1/dossiers/000.02.01.H37-261128-0001", 401),
        ("/metrics", 403),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .expect("api");
        assert_eq!(r.status().as_u16(), want, "viewer {path}");
    }
    let r = http
        .post(format!("{base}/v1/admin/reload"))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 403, "the viewer cannot reload");

    // Failed sign-ins are limited per address.
    for n in 0..5 {
        let (status, cookie, _) =
            sign_in(&http, &base, "guess-guess-guess-guess-guess-guess").await;
        assert_eq!((status, cookie), (401, None), "attempt {n}");
    }
    let (status, _, _) = sign_in(&http, &base, ADMIN_TOKEN).await;
    assert_eq!(
        status, 429,
        "even the right token waits after five failures"
    );
    drop(gw);
}

/// Secret files every user of the host can read are warned about, at check-config and at
/// every start (like key files).
#[tokio::test]
async fn world_readable_secret_files_are_warned_about() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let admin = secret(dir.path(), "admin.token", ADMIN_TOKEN);
    std::fs::set_permissions(&admin, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = TestConfig {
        server_extra: format!("admin_token_file = \"{}\"", admin.display()),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, &config).expect("config");
    let (ok, out) = check_config(&path);
    assert!(ok, "a warning, not a refusal: {out}");
    assert!(
        out.contains("warning: server.admin_token_file") && out.contains("644"),
        "{out}"
    );
    let gw = Gateway::start(dir.path(), &config).await;
    gw.wait_for_log("every user of the host can read this secret", 1)
        .await;
    std::fs::set_permissions(&admin, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let (_, out) = check_config(&path);
    assert!(
        !out.contains("server.admin_token_file"),
        "0640 is fine: {out}"
    );
}
