//! Bad input gets the documented status and an RFC 9457 problem, and nothing is stored.

use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{Gateway, TestConfig, example, free_port};
use serde_json::{Value, json};

async fn raw(gw: &Gateway, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String, Value) {
    let r = gw
        .authorized(path, gw.http.post(format!("{}{path}", gw.base_url)))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, ct, r.json().await.unwrap_or(Value::Null))
}

fn problem(ct: &str, body: &Value, status: u16) {
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:lienthong:problem:")),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_documented_answers_and_store_nothing() {
    let sim = DvcqgSim::start().await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    // A mapping directory whose HoSo requires the applicant's e-mail: dossiers without one cannot
    // be rendered for DVCQG and must be refused at intake.
    let specs = dir.path().join("dvcqg-specs");
    std::fs::create_dir(&specs).expect("mkdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings/specs/dvcqg");
    for f in ["codes.toml", "hoso.toml", "tien-do.toml"] {
        let mut text = std::fs::read_to_string(src.join(f)).expect("spec");
        if f == "hoso.toml" {
            text = text.replace(
                "target = \"Email\"\nsource = \"applicant.email\"",
                "target = \"Email\"\nsource = \"applicant.email\"\nrequired = true",
            );
            assert!(
                text.contains("required = true\n\n[[fields]]\ntarget = \"Fax\""),
                "edit applied"
            );
        }
        std::fs::write(specs.join(f), text).expect("write");
    }
    let cfg = TestConfig {
        server_extra: "max_body = \"64KiB\"".into(),
        dvcqg_extra: format!("mappings_dir = \"{}\"", specs.display()),
        ..TestConfig::default()
    };
    let gw = Gateway::start(dir.path(), &cfg.render(dir.path(), free_port(), &sim)).await;
    let good = example("dossier-business-registration.json");
    let code = good["code"].as_str().expect("code").to_owned();

    // 400: not JSON.
    let (s, ct, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        b"{\"code\": ".to_vec(),
    )
    .await;
    assert_eq!(s, 400);
    problem(&ct, &b, 400);

    // 415: not JSON by media type.
    let (s, ct, b) = raw(
        &gw,
        "/v1/dossiers",
        "text/plain",
        serde_json::to_vec(&good).expect("json"),
    )
    .await;
    assert_eq!(s, 415);
    problem(&ct, &b, 415);

    // 413: too large (announced and streamed).
    let mut big = good.clone();
    big["summary"] = json!("Đ".repeat(40_000));
    let (s, ct, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        serde_json::to_vec(&big).expect("json"),
    )
    .await;
    assert_eq!(s, 413);
    problem(&ct, &b, 413);
    // The refused body is drained before the answer, so a client still writing it reads the 413
    // rather than a reset connection — every time.
    for _ in 0..20 {
        let (s, _, _) = raw(
            &gw,
            "/v1/dossiers",
            "application/json",
            serde_json::to_vec(&big).expect("json"),
        )
        .await;
        assert_eq!(s, 413);
    }

    // 422: missing required fields, each named.
    let mut missing = good.clone();
    missing["applicant"]["identity"]
        .as_object_mut()
        .expect("obj")
        .remove("number");
    let (s, ct, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        serde_json::to_vec(&missing).expect("json"),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    problem(&ct, &b, 422);
    assert_eq!(b["errors"][0]["path"], "applicant.identity.number");
    assert_eq!(b["detail"], "applicant.identity.number: required");

    // 422: unknown status.
    let mut unknown = good.clone();
    unknown["status"] = json!("lost_in_the_mail");
    let (s, _, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        serde_json::to_vec(&unknown).expect("json"),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(b["errors"][0]["path"], "status");

    // 422: cannot be rendered for DVCQG (the edited mapping requires an e-mail).
    let mut no_email = good.clone();
    no_email["applicant"]
        .as_object_mut()
        .expect("obj")
        .remove("email");
    let (s, ct, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        serde_json::to_vec(&no_email).expect("json"),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    problem(&ct, &b, 422);
    assert_eq!(b["destination"], "dvcqg");
    assert_eq!(b["field"], "applicant.email");
    assert_eq!(b["target"], "Email");

    // 422: explicit routing to a destination that does not exist.
    let mut routed = good.clone();
    routed["routing"] = json!({ "destinations": ["nbrs"] });
    let (s, _, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        serde_json::to_vec(&routed).expect("json"),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(b["field"], "routing.destinations[0]");
    assert_eq!(
        b["config_key"], "destinations.nbrs",
        "the key that would define it: {b}"
    );

    // None of the above was stored.
    let (s, _) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(s, 404);
    assert!(gw.deliveries().await.is_empty());

    // The good one is accepted; the same code with other data is a conflict.
    let (s, _, _) = raw(
        &gw,
        "/v1/dossiers",
        "application/json; charset=utf-8",
        serde_json::to_vec(&good).expect("json"),
    )
    .await;
    assert_eq!(s, 202);
    let mut changed = good.clone();
    changed["summary"] = json!("Một trích yếu khác");
    let (s, ct, b) = raw(
        &gw,
        "/v1/dossiers",
        "application/json",
        serde_json::to_vec(&changed).expect("json"),
    )
    .await;
    assert_eq!(s, 409);
    problem(&ct, &b, 409);

    // Events: unknown dossier, invalid event, duplicate id with other data.
    let ev = example("event-processing.json");
    let (s, _, _) = raw(
        &gw,
        "/v1/dossiers/KHONG-CO/events",
        "application/json",
        serde_json::to_vec(&ev).expect("json"),
    )
    .await;
    assert_eq!(s, 404);
    let mut bad_ev = ev.clone();
    bad_ev["status"] = json!("teleported");
    let (s, _, b) = raw(
        &gw,
        &format!("/v1/dossiers/{code}/events"),
        "application/json",
        serde_json::to_vec(&bad_ev).expect("json"),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(b["errors"][0]["path"], "status");
    let (s, _, _) = raw(
        &gw,
        &format!("/v1/dossiers/{code}/events"),
        "application/json",
        serde_json::to_vec(&ev).expect("json"),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _, _) = raw(
        &gw,
        &format!("/v1/dossiers/{code}/events"),
        "application/json",
        serde_json::to_vec(&ev).expect("json"),
    )
    .await;
    assert_eq!(s, 200, "identical event repeat");
    let mut ev2 = ev.clone();
    ev2["note"] = json!("khác");
    let (s, _, _) = raw(
        &gw,
        &format!("/v1/dossiers/{code}/events"),
        "application/json",
        serde_json::to_vec(&ev2).expect("json"),
    )
    .await;
    assert_eq!(s, 409);

    // Only the accepted dossier and the accepted event were queued, and the stored dossier is the
    // original.
    let all = gw.deliveries().await;
    assert_eq!(all.len(), 2, "{all:?}");
    let (_, view) = gw.get(&format!("/v1/dossiers/{code}")).await;
    assert_eq!(view["dossier"]["summary"], good["summary"]);
    assert_eq!(view["events"].as_array().map(Vec::len), Some(1));

    // Unknown endpoints and unknown delivery filters are problems too.
    let (s, _) = gw.get("/v1/nothing-here").await;
    assert_eq!(s, 404);
    let (s, b) = gw.get("/v1/deliveries?state=lost").await;
    assert_eq!(s, 400, "{b}");
    let (s, schema) = gw.get("/v1/schema/dossier").await;
    assert_eq!(s, 200);
    assert!(schema["properties"]["applicant"].is_object(), "{schema}");
}
