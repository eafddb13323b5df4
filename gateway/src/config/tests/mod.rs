use super::*;
use std::collections::BTreeSet;

mod callbacks;
mod example;

const EXAMPLE: &str = include_str!("../../../../deploy/config/lienthong.example.toml");

fn no_env() -> std::iter::Empty<(String, String)> {
    std::iter::empty()
}

fn keys(e: &ConfigErrors) -> Vec<String> {
    e.0.iter().map(|x| x.key.clone()).collect()
}

/// The example with its password file replaced by an inline password (the file does not exist here).
fn example() -> String {
    EXAMPLE.replace(
        "password_file = \"/etc/lienthong/dvcqg.pass\"",
        "password = \"x\"",
    )
}

#[test]
fn example_config_parses_with_contract_keys() {
    let c = Config::from_toml(&example(), no_env()).expect("example config is valid");
    assert_eq!(c.server.listen, "127.0.0.1:8440".parse().expect("addr"));
    assert_eq!(c.server.max_body, 10 * 1024 * 1024);
    assert_eq!(c.center.agency_code, "000.02.01.H37");
    let d = &c.destinations["dvcqg"];
    assert_eq!(d.retry.initial, Duration::from_secs(1));
    assert_eq!(d.retry.max_age, Duration::from_secs(72 * 3600));
    assert_eq!(d.retry.max_attempts, 25);
    assert_eq!(d.kind.name(), "dvcqg");
    assert_eq!(c.routes[0].destinations, ["dvcqg", "emc"]);
    assert_eq!(c.destinations["emc"].kind.name(), "emc");
    assert_eq!(c.destinations["nbrs"].kind.name(), "nbrs");
    assert_eq!(c.routes[1].field_code.as_deref(), Some("DKKD"));
    assert_eq!(c.routes[1].destinations, ["nbrs"]);
}

#[test]
fn env_overrides_set_nested_keys_and_keep_strings() {
    let env = vec![
        ("LIENTHONG_SERVER__MAX_BODY".to_owned(), "2MiB".to_owned()),
        (
            "LIENTHONG_STORE__URL".to_owned(),
            "sqlite:///srv/lt.db".to_owned(),
        ),
        (
            "LIENTHONG_DESTINATIONS__DVCQG__PASSWORD".to_owned(),
            "123456".to_owned(),
        ),
        (
            "LIENTHONG_DESTINATIONS__DVCQG__RETRY__MAX_ATTEMPTS".to_owned(),
            "7".to_owned(),
        ),
        ("LIENTHONG_CONFIG".to_owned(), "/ignored".to_owned()),
        // The test harness's own variables are not configuration.
        (
            "LIENTHONG_TEST_POSTGRES".to_owned(),
            "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
        ),
        ("LIENTHONG_SKIP_XMLSEC".to_owned(), "1".to_owned()),
        ("OTHER".to_owned(), "x".to_owned()),
    ];
    let c = Config::from_toml(&example(), env).expect("valid");
    assert_eq!(c.server.max_body, 2 * 1024 * 1024);
    assert_eq!(c.store.url, "sqlite:///srv/lt.db");
    assert_eq!(c.destinations["dvcqg"].retry.max_attempts, 7);
    let DestinationKind::Dvcqg(d) = &c.destinations["dvcqg"].kind else {
        panic!("dvcqg destination expected");
    };
    assert_eq!(d.password.as_ref().map(|p| p.expose()), Some("123456"));
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let text = example()
        .replace("max_body = \"10MiB\"", "max_body = \"ten megs\"")
        .replace("initial = \"1s\"", "initial = \"soon\"")
        .replace(
            "madonvi = \"000.00.00.H37\"",
            "madonvi = \"000.00.00.H37\"\nmadonvi_typo = 1",
        )
        .replace(
            "destinations = [\"dvcqg\", \"emc\"]",
            "destinations = [\"dvcqg\", \"nowhere\"]",
        )
        .replace("[log]", "[logging]");
    let e = Config::from_toml(&text, no_env()).expect_err("invalid");
    let k = keys(&e);
    assert!(k.contains(&"server.max_body".to_owned()), "{e}");
    assert!(
        k.contains(&"destinations.dvcqg.retry.initial".to_owned()),
        "{e}"
    );
    assert!(
        k.contains(&"destinations.dvcqg".to_owned())
            || k.iter().any(|x| x.contains("madonvi_typo")),
        "{e}"
    );
    assert!(k.contains(&"logging".to_owned()), "{e}");
    assert!(e.to_string().contains("madonvi_typo"), "{e}");
}

#[test]
fn semantic_problems_are_all_reported() {
    let text = example()
        .replace(
            "sqlite:///var/lib/lienthong/lienthong.db",
            "sqlite://relative.db",
        )
        .replace(
            "destinations = [\"dvcqg\", \"emc\"]",
            "destinations = [\"dvcqg\", \"nowhere\"]",
        )
        .replace("max_attempts = 25", "max_attempts = 0")
        .replace(
            "base_url = \"https://dichvucong.example.gov.vn\"",
            "base_url = \"ftp://x\"",
        );
    let e = Config::from_toml(&text, no_env()).expect_err("invalid");
    let k = keys(&e);
    for key in [
        "store.url",
        "routes[0].destinations",
        "destinations.dvcqg.retry.max_attempts",
        "destinations.dvcqg.base_url",
    ] {
        assert!(k.contains(&key.to_owned()), "{key} missing in {e}");
    }
}

#[test]
fn missing_sections_and_kinds() {
    let e = Config::from_toml("[server]\n", no_env()).expect_err("invalid");
    assert_eq!(keys(&e), ["store", "center"]);
    let text = "[store]\nurl = \"sqlite:///x.db\"\n[center]\nagency_code = \"a\"\nagency_name = \"b\"\n[destinations.x]\nkind = \"fax\"\n";
    let e = Config::from_toml(text, no_env()).expect_err("invalid");
    assert_eq!(keys(&e), ["destinations.x.kind"]);
    let e = Config::from_toml("[store\n", no_env()).expect_err("syntax");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn postgres_urls_and_pool_settings() {
    let with = |url: &str, extra: &str| {
        example().replace(
            "url = \"sqlite:///var/lib/lienthong/lienthong.db\"",
            &format!("url = \"{url}\"\n{extra}"),
        )
    };
    let c = Config::from_toml(
        &with(
            "postgres://lt@db.example:5432/lienthong?sslmode=verify-full",
            "max_connections = 24\nacquire_timeout = \"2s\"\nstatement_timeout = \"10s\"",
        ),
        no_env(),
    )
    .expect("valid");
    assert_eq!(c.store.max_connections, 24);
    let o = c.store.options("node-a");
    assert_eq!(
        (o.acquire_timeout, o.statement_timeout, o.instance.as_str()),
        (
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(10),
            "node-a"
        )
    );
    assert!(Config::from_toml(&with("postgresql://lt@db/lt", ""), no_env()).is_ok());
    let e = Config::from_toml(&with("postgres:///lt", ""), no_env()).expect_err("no host");
    assert_eq!(keys(&e), ["store.url"]);
    assert!(e.to_string().contains("without a host"), "{e}");
    let e = Config::from_toml(
        &with(
            "postgres://lt@db/lt",
            "max_connections = 0\nstatement_timeout = \"0s\"",
        ),
        no_env(),
    )
    .expect_err("zero");
    assert_eq!(
        keys(&e),
        ["store.max_connections", "store.statement_timeout"]
    );
    let e = Config::from_toml(&with("mysql://x/y", ""), no_env()).expect_err("scheme");
    assert_eq!(keys(&e), ["store.url"]);
}

#[test]
fn exchange_pull_must_name_an_axis_peer() {
    let base = r#"
[store]
url = "sqlite:///tmp/x.db"
[center]
agency_code = "000.00.12.H37"
agency_name = "UBND xã"
[destinations.tinh]
kind = "peer"
url = "https://truc.example/edoc"
organ_id = "000.02.01.H37"
organ_name = "Tỉnh"
TRANSPORT
[exchange.pull]
axis = "AXIS"
interval = "30s"
max_backoff = "MAXB"
batch = BATCH
"#;
    let cfg = |transport: &str, axis: &str, max: &str, batch: &str| {
        let text = base
            .replace("TRANSPORT", transport)
            .replace("AXIS", axis)
            .replace("MAXB", max)
            .replace("BATCH", batch);
        Config::from_toml(&text, no_env())
    };
    let errors = |r: Result<Config, ConfigErrors>| -> Vec<String> {
        r.err()
            .map(|e| {
                e.0.iter()
                    .map(|e| format!("{}: {}", e.key, e.message))
                    .collect()
            })
            .unwrap_or_default()
    };
    // (No [signing] here: only the pull keys are looked at.)
    let ok = errors(cfg("transport = \"axis\"", "tinh", "10m", "20"));
    assert!(!ok.iter().any(|e| e.starts_with("exchange.pull")), "{ok:?}");
    let pull: ExchangeConfig = toml::from_str("[pull]\naxis = \"tinh\"").expect("pull");
    let pull = pull.pull.expect("pull");
    assert_eq!(pull.interval, std::time::Duration::from_secs(30));
    assert_eq!(pull.max_backoff, std::time::Duration::from_secs(600));
    assert_eq!(pull.max_age, std::time::Duration::from_secs(7 * 24 * 3600));
    assert_eq!(pull.batch, 20);
    let direct = errors(cfg("", "tinh", "10m", "20"));
    assert!(
        direct
            .iter()
            .any(|e| e.starts_with("exchange.pull.axis") && e.contains("transport")),
        "{direct:?}"
    );
    let unknown = errors(cfg("transport = \"axis\"", "huyen", "10m", "20"));
    assert!(
        unknown
            .iter()
            .any(|e| e.contains("unknown destination `huyen`")),
        "{unknown:?}"
    );
    let bad = errors(cfg("transport = \"axis\"", "tinh", "1s", "0"));
    assert!(
        bad.iter()
            .any(|e| e.starts_with("exchange.pull.max_backoff")),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|e| e.starts_with("exchange.pull.batch")),
        "{bad:?}"
    );
    let wrong = errors(cfg("transport = \"pigeon\"", "tinh", "10m", "20"));
    assert!(
        wrong
            .iter()
            .any(|e| e.contains("transport") || e.contains("pigeon")),
        "{wrong:?}"
    );
}

#[test]
fn emc_problems_are_named_with_their_keys() {
    let text = example()
        .replace("batch = 20 ", "batch = 0 ")
        .replace("site_id = \"H37\"", "site_id = \"\"")
        .replace(
            "token_url = \"https://lgsp.ninhbinh.example.gov.vn/token\"",
            "token_url = \"lgsp\"",
        );
    let e = Config::from_toml(&text, no_env()).expect_err("invalid");
    let k = keys(&e);
    for key in [
        "destinations.emc.batch",
        "destinations.emc.site_id",
        "destinations.emc.oauth.token_url",
    ] {
        assert!(k.contains(&key.to_owned()), "{key} missing in {e}");
    }
}

#[test]
fn retention_defaults_and_its_windows() {
    let c = Config::from_toml(&example(), no_env()).expect("valid");
    assert!(c.retention.enabled);
    assert_eq!(c.retention.delivered, Duration::from_secs(30 * 86400));
    assert_eq!(c.retention.dossiers, Duration::from_secs(1825 * 86400));
    let plan = crate::operations::retention::plan(&c.retention, 100 * 86_400_000);
    assert_eq!(plan.delivered_before, 70 * 86_400_000);
    assert_eq!(plan.batch, 500);

    let text = example()
        .replace("delivered = \"30d\"", "delivered = \"90d\"\nbatch = 0")
        .replace("dossiers = \"1825d\"", "dossiers = \"30d\"")
        .replace("dedupe = \"30d\"", "dedupe = \"1d\"");
    let e = Config::from_toml(&text, no_env()).expect_err("invalid");
    let msg = e.to_string();
    for expected in [
        "retention.batch: must be at least 1",
        "retention.dossiers: must be at least retention.delivered",
        "retention.dedupe: must be at least callbacks.max_age (7days)",
    ] {
        assert!(msg.contains(expected), "{expected} missing in {msg}");
    }
}

#[test]
fn the_instance_name_is_configured_or_the_host_name() {
    let c = Config::from_toml(&example(), no_env()).expect("valid");
    assert!(!c.server.instance_name().is_empty());
    let named = example().replace("[server]\n", "[server]\ninstance = \"lienthong-a\"\n");
    let c = Config::from_toml(&named, no_env()).expect("valid");
    assert_eq!(c.server.instance_name(), "lienthong-a");
}

/// No listener leaves an API open: the cluster example (every interface, no token in the file)
/// and the plain example exposed by the environment (as the container image does) are valid, and
/// both roles get a token generated at the first start; a configured token is still held to its
/// length; only a lab (`allow_unauthenticated`) generates nothing, warned about.
#[test]
fn exposed_listeners_get_generated_tokens() {
    use crate::auth::tokens::{TokenRole, needed};
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("lienthong-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, value) in [
        ("center.token", "short".to_owned()),
        ("dvcqg.password", "secret".to_owned()),
    ] {
        std::fs::write(dir.join(name), value).expect("write");
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let cluster = include_str!("../../../../deploy/cluster/lienthong.toml")
        .replace("/etc/lienthong/", &format!("{}/", dir.display()));
    let c = Config::from_toml(&cluster, no_env()).expect("the cluster example is valid");
    assert!(!c.server.listen.ip().is_loopback());
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    assert_eq!(needed(&c), [TokenRole::Admin, TokenRole::Center]);
    // A token of one's own is read (once) when the files are loaded, and held to its length.
    let own = cluster.replace(
        "[server]\n",
        &format!(
            "[server]\ncenter_token_file = \"{}\"\n",
            dir.join("center.token").display()
        ),
    );
    let c = Config::from_toml(&own, no_env()).expect("the text is valid");
    assert_eq!(needed(&c), [TokenRole::Admin]);
    let Err(e) = crate::loaded::Loaded::from_config(c) else {
        panic!("a short token is refused when the files are loaded");
    };
    assert_eq!(keys(&e), ["server.center_token_file"], "{e}");
    std::fs::remove_dir_all(&dir).expect("clean");

    let exposed = [(
        "LIENTHONG_SERVER__LISTEN".to_owned(),
        "0.0.0.0:8440".to_owned(),
    )];
    let c = Config::from_toml(&example(), exposed.clone()).expect("exposed: tokens are generated");
    assert_eq!(needed(&c), [TokenRole::Admin, TokenRole::Center]);
    let lab = [
        exposed[0].clone(),
        (
            "LIENTHONG_SERVER__ALLOW_UNAUTHENTICATED".to_owned(),
            "true".to_owned(),
        ),
    ];
    let c = Config::from_toml(&example(), lab).expect("a lab may");
    assert!(needed(&c).is_empty());
    let warned: Vec<String> = c.warnings().into_iter().map(|w| w.key).collect();
    assert_eq!(
        warned,
        [
            "server.center_token_file",
            "server.admin_token_file",
            "server.public_names"
        ]
    );
}

/// Parsing reads nothing but the text (it only looks whether secret files exist, so that
/// check-config names them with the text's own problems): what the files hold is read once,
/// when the configuration is loaded (`crate::loaded::Loaded`), which names every bad one.
#[test]
fn parsing_reads_no_file_and_loading_names_every_bad_one() {
    let text = format!(
        "{}\n[callbacks.dvcqg]\nsecret_file = \"/nonexistent/dvcqg.key\"\n",
        example().replace(
            "[destinations.dvcqg]",
            "[destinations.dvcqg]\nmappings_dir = \"/nonexistent/mappings\""
        )
    );
    let c = Config::from_toml(&text, no_env()).expect("the text alone is valid");
    let Err(e) = crate::loaded::Loaded::from_config(c) else {
        panic!("the files do not exist");
    };
    let keys = keys(&e);
    for key in ["destinations.dvcqg.mappings_dir", "callbacks.dvcqg.secret"] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {e}");
    }
}

/// The registry of destination kinds is the one list: an unknown kind is refused naming every
/// kind it has, and each registered kind answers to its own name.
#[test]
fn the_kind_registry_names_every_kind_and_refuses_others() {
    let text = example().replace("kind = \"dvcqg\"", "kind = \"fax\"");
    let e = Config::from_toml(&text, no_env()).expect_err("an unknown kind");
    assert_eq!(keys(&e), ["destinations.dvcqg.kind"], "{e}");
    for name in DestinationKind::NAMES {
        assert!(e.to_string().contains(name), "{name} missing from {e}");
    }
    let c = Config::from_toml(&example(), no_env()).expect("the example");
    let kind = &c.destinations["dvcqg"].kind;
    assert_eq!(kind.name(), "dvcqg");
    assert!(kind.urls().iter().any(|(k, _)| *k == "base_url"));
    assert!(
        kind.mappings().is_some_and(|m| m.is_ok()),
        "built-in mappings"
    );
}

/// `mapping render` asks the registry, not a list of its own: every kind that renders with
/// mappings renders the example dossier with its built-in set, in the form it sends (JSON, or
/// XML for the investment system), and refuses what it does not take; the others have none.
#[test]
fn the_kind_registry_renders_each_kind_with_its_built_in_mappings() {
    use lienthong_connectors::kind::Preview;
    use lienthong_connectors::{DossierOp, MessageBody};
    let body = |text: &str| MessageBody::Dossier {
        op: DossierOp::Create,
        dossier: Box::new(
            lienthong_mappings::Dossier::from_json(serde_json::from_str(text).expect("JSON"))
                .expect("an example dossier"),
        ),
    };
    let business = body(include_str!(
        "../../../../examples/dossier-business-registration.json"
    ));
    let investment = body(include_str!("../../../../examples/dossier-investment.json"));
    let notice = MessageBody::Notice(lienthong_connectors::Notice {
        event: "test".into(),
        dossier_code: "X".into(),
        data: serde_json::Value::Null,
    });
    let mut rendered = Vec::new();
    for kind in DestinationKind::NAMES {
        let Some(rendering) = DestinationKind::rendering_of(kind) else {
            continue;
        };
        let set = (rendering.load)(None).expect("built-in mappings");
        let example = if *kind == "investment" {
            &investment
        } else {
            &business
        };
        let preview = (rendering.render)(&set, example).expect("renders the example");
        match (*kind, preview) {
            ("investment", Preview::Xml(xml)) => assert!(xml.starts_with("<?xml"), "{xml}"),
            ("dvcqg" | "emc" | "nbrs", Preview::Json(v)) => assert!(v.is_object(), "{v}"),
            (kind, other) => panic!("{kind} rendered {other:?}"),
        }
        let refused = (rendering.render)(&set, &notice).expect_err("a notice is not sent");
        assert!(refused.to_string().contains("notice"), "{kind}: {refused}");
        rendered.push(*kind);
    }
    assert_eq!(rendered, ["dvcqg", "emc", "nbrs", "investment"]);
    assert!(DestinationKind::rendering_of("webhook").is_none());
    assert!(DestinationKind::rendering_of("fax").is_none());
}

/// A peer's needs of other sections come from its kind (`KindConfig::needs`) and are reported at
/// parsing, with the key of what needs them: the `[signing]` it signs with, the trust store its
/// senders chain to.
#[test]
fn a_peer_needs_signing_and_a_known_signature_trust_store() {
    let peer = "\n[destinations.xa]\nkind = \"peer\"\nurl = \"https://xa.example/v1/exchange\"\norgan_id = \"000.00.12.H37\"\norgan_name = \"UBND xã\"\nsignature_trust = \"xa-ca\"\n";
    let e = Config::from_toml(&format!("{}{peer}", example()), no_env()).expect_err("invalid");
    let msg = e.to_string();
    assert!(
        msg.contains("destinations.xa.kind: a peer destination signs its edXML with the center's [signing] identity"),
        "{msg}"
    );
    let e = Config::from_toml(
        &format!(
            "{}{peer}[trust.other]\nanchors = [\"/dev/null\"]\n",
            example()
        ),
        no_env(),
    )
    .expect_err("invalid");
    assert!(
        e.to_string()
            .contains("destinations.xa.signature_trust: unknown trust store `xa-ca`"),
        "{e}"
    );
}
