//! LGSP access as platforms ask it (issue 26, part 2; format notes `lgsp-access.md`), through
//! the real binary delivering dossiers to DVCQG over its LGSP transport: `lgspaccesstoken` in
//! front of client credentials (variant A), the platform token in `X-Authentication-Token`
//! (variant B); a token that expires mid-run is renewed once; 403 is a dead letter naming the
//! service; 429 waits for `Retry-After`. The simulator checks each variant strictly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lienthong_tests::DvcqgSim;
use lienthong_tests::dvcqg_sim::{FailKind, LgspAccess, SimCredentials, lgsp_values};
use lienthong_tests::gateway_process::{Gateway, TestConfig, all_delivered, example, free_port};
use serde_json::Value;

/// Writes the five values as the operator's file (mode 0600).
fn credentials_file(dir: &Path, values: &[String; 5]) -> PathBuf {
    let path = dir.join("lgsp.json");
    let text = serde_json::json!({
        "AccessKey": values[0], "SecretKey": values[1], "AppName": values[2],
        "PartnerCode": values[3], "PartnerCodeCus": values[4],
    })
    .to_string();
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn dossier(code: &str) -> Value {
    let mut d = example("dossier-business-registration.json");
    d["code"] = Value::String(code.into());
    d
}

async fn gateway(dir: &Path, sim: &DvcqgSim, access: &str) -> Gateway {
    let config = TestConfig {
        transport: "lgsp".into(),
        dvcqg_extra: access.to_owned(),
        ..TestConfig::default()
    }
    .render(dir, free_port(), sim);
    Gateway::start(dir, &config).await
}

fn token_requests(sim: &DvcqgSim, answer: &str) -> usize {
    sim.calls()
        .iter()
        .filter(|c| c.service == "token" && c.answer == answer)
        .count()
}

#[tokio::test]
async fn lgsp_variant_a_sends_lgspaccesstoken_and_never_logs_it() {
    let sim = DvcqgSim::start_with(SimCredentials {
        lgsp_access: LgspAccess::AccessToken(lgsp_values()),
        ..SimCredentials::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let file = credentials_file(dir.path(), &lgsp_values());
    let gw = gateway(
        dir.path(),
        &sim,
        &format!(
            "access = \"lgspaccesstoken\"\nlgsp_credentials_file = \"{}\"",
            file.display()
        ),
    )
    .await;
    for code in ["LGSP-A-1", "LGSP-A-2"] {
        let (s, v) = gw.post("/v1/dossiers", &dossier(code)).await;
        assert_eq!(s, 202, "{v}");
    }
    gw.wait_deliveries(Duration::from_secs(20), "delivered", all_delivered)
        .await;
    assert!(sim.hoso("LGSP-A-2").is_some());
    assert_eq!(token_requests(&sim, "ok"), 1, "one token for both");
    let log = gw.log();
    assert!(
        !log.contains(&lgsp_values()[1]),
        "the SecretKey is in the log"
    );
    assert!(
        !log.contains("eyJBY2Nlc3NLZXki"),
        "the lgspaccesstoken is in the log"
    );
}

#[tokio::test]
async fn lgsp_variant_a_a_wrong_secret_key_inside_the_token_is_refused() {
    let sim = DvcqgSim::start_with(SimCredentials {
        lgsp_access: LgspAccess::AccessToken(lgsp_values()),
        ..SimCredentials::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let mut wrong = lgsp_values();
    wrong[1] = "SK-not-the-one".into();
    let file = credentials_file(dir.path(), &wrong);
    let gw = gateway(
        dir.path(),
        &sim,
        &format!(
            "access = \"lgspaccesstoken\"\nlgsp_credentials_file = \"{}\"",
            file.display()
        ),
    )
    .await;
    let (s, v) = gw.post("/v1/dossiers", &dossier("LGSP-A-3")).await;
    assert_eq!(s, 202, "{v}");
    let all = gw
        .wait_deliveries(Duration::from_secs(20), "a refused token", |all| {
            all.iter().any(|d| {
                d["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("token refused"))
            })
        })
        .await;
    assert_eq!(
        all[0]["state"], "retry_wait",
        "credentials get fixed: retried"
    );
    assert!(sim.hoso("LGSP-A-3").is_none());
    assert!(token_requests(&sim, "auth") >= 1);
    assert_eq!(token_requests(&sim, "ok"), 0);
}

#[tokio::test]
async fn lgsp_variant_b_platform_token_in_x_authentication_token() {
    let key = "static-platform-key-7c1d";
    let sim = DvcqgSim::start_with(SimCredentials {
        lgsp_access: LgspAccess::PlatformToken {
            values: lgsp_values(),
            platform_key: key.into(),
            user_id: "lienthong-h37".into(),
        },
        ..SimCredentials::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let file = credentials_file(dir.path(), &lgsp_values());
    let key_file = dir.path().join("platform.key");
    std::fs::write(&key_file, key).expect("key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = TestConfig {
        transport: "lgsp".into(),
        dvcqg_extra: format!(
            "access = \"x-authentication-token\"\nlgsp_credentials_file = \"{}\"\nplatform_key_file = \"{}\"",
            file.display(),
            key_file.display()
        ),
        ..TestConfig::default()
    }
    .render(dir.path(), free_port(), &sim)
    .replace(
        &format!("token_url = \"{}/lgsp/token\"", sim.base_url()),
        &format!("token_url = \"{}/lgsp/token/lienthong-h37\"", sim.base_url()),
    );
    let gw = Gateway::start(dir.path(), &config).await;
    let (s, v) = gw.post("/v1/dossiers", &dossier("LGSP-B-1")).await;
    assert_eq!(s, 202, "{v}");
    gw.wait_deliveries(Duration::from_secs(20), "delivered", all_delivered)
        .await;
    assert!(sim.hoso("LGSP-B-1").is_some());
    assert!(!gw.log().contains(key), "the platform key is in the log");
}

#[tokio::test]
async fn lgsp_a_token_that_expires_mid_run_is_renewed_once() {
    let sim = DvcqgSim::start_with(SimCredentials {
        lgsp_access: LgspAccess::AccessToken(lgsp_values()),
        ..SimCredentials::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let file = credentials_file(dir.path(), &lgsp_values());
    let gw = gateway(
        dir.path(),
        &sim,
        &format!(
            "access = \"lgspaccesstoken\"\nlgsp_credentials_file = \"{}\"",
            file.display()
        ),
    )
    .await;
    let (s, _) = gw.post("/v1/dossiers", &dossier("LGSP-E-1")).await;
    assert_eq!(s, 202);
    gw.wait_deliveries(Duration::from_secs(20), "first", all_delivered)
        .await;
    // The platform forgets its tokens (a restart): the next call is answered 401.
    sim.expire_sessions();
    let (s, _) = gw.post("/v1/dossiers", &dossier("LGSP-E-2")).await;
    assert_eq!(s, 202);
    let all = gw
        .wait_deliveries(Duration::from_secs(20), "second", |all| {
            all.len() == 2 && all_delivered(all)
        })
        .await;
    assert!(
        all.iter().all(|d| d["attempts"] == 1),
        "no attempt lost: {all:?}"
    );
    assert_eq!(token_requests(&sim, "ok"), 2, "renewed once");
    assert!(
        sim.calls()
            .iter()
            .any(|c| c.service == "lgsp:create" && c.answer == "auth")
    );
}

#[tokio::test]
async fn lgsp_403_is_a_dead_letter_naming_the_service_and_429_waits_its_retry_after() {
    let sim = DvcqgSim::start_with(SimCredentials {
        lgsp_access: LgspAccess::AccessToken(lgsp_values()),
        ..SimCredentials::default()
    })
    .await
    .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let file = credentials_file(dir.path(), &lgsp_values());
    let gw = gateway(
        dir.path(),
        &sim,
        &format!(
            "access = \"lgspaccesstoken\"\nlgsp_credentials_file = \"{}\"",
            file.display()
        ),
    )
    .await;
    // Get a token first, so that the injected failures land on the data calls.
    let (s, _) = gw.post("/v1/dossiers", &dossier("LGSP-F-0")).await;
    assert_eq!(s, 202);
    gw.wait_deliveries(Duration::from_secs(20), "first", all_delivered)
        .await;
    sim.update_faults(|f| {
        f.fail_next = 1;
        f.kind = FailKind::Forbidden;
    });
    let (s, _) = gw.post("/v1/dossiers", &dossier("LGSP-F-1")).await;
    assert_eq!(s, 202);
    let all = gw
        .wait_deliveries(Duration::from_secs(20), "a dead letter", |all| {
            all.iter().any(|d| d["state"] == "dead")
        })
        .await;
    let dead = all.iter().find(|d| d["state"] == "dead").expect("dead");
    let error = dead["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("HTTP 403") && error.contains("/lgsp/hoso/create"),
        "{dead}"
    );
    sim.update_faults(|f| {
        f.fail_next = 1;
        f.kind = FailKind::TooMany {
            retry_after_secs: 2,
        };
    });
    let (s, _) = gw.post("/v1/dossiers", &dossier("LGSP-F-2")).await;
    assert_eq!(s, 202);
    let all = gw
        .wait_deliveries(Duration::from_secs(30), "delivered after 429", |all| {
            all.iter()
                .any(|d| d["dossier_code"] == "LGSP-F-2" && d["state"] == "delivered")
        })
        .await;
    let d = all
        .iter()
        .find(|d| d["dossier_code"] == "LGSP-F-2")
        .expect("delivery");
    assert_eq!(d["attempts"], 2, "{d}");
    let (_, attempts) = gw
        .get(&format!(
            "/v1/deliveries/{}/attempts",
            d["id"].as_str().expect("id")
        ))
        .await;
    let first = &attempts["attempts"][0];
    assert_eq!(first["http_status"], 429, "{attempts}");
    assert!(
        first["retry_delay_ms"].as_i64().unwrap_or(0) >= 2000,
        "Retry-After honoured: {attempts}"
    );
}
