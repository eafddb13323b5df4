use super::*;
use std::collections::BTreeSet;

const EXAMPLE: &str = include_str!("../../../deploy/config/lienthong.example.toml");

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
fn callbacks_need_webhooks_and_one_secret_each() {
    let text = format!(
        "{}\n[callbacks]\nforward_to = [\"dvcqg\", \"nowhere\"]\nmax_body = 0\n[callbacks.dvcqg]\nsecret = \"a\"\nsecret_file = \"/x\"\n[callbacks.payment]\n",
        example()
    );
    let e = Config::from_toml(&text, no_env()).expect_err("invalid");
    let msg = e.to_string();
    for expected in [
        "callbacks.forward_to: `dvcqg` is not a webhook destination",
        "callbacks.forward_to: unknown destination `nowhere`",
        "callbacks.max_body: must be more than 0",
        "callbacks.dvcqg.secret: give secret or secret_file, not both",
        "callbacks.payment.secret: missing secret (or secret_file)",
    ] {
        assert!(msg.contains(expected), "{expected} missing in {msg}");
    }
    let ok = Config::from_toml(
        &format!("{}\n[callbacks.payment]\nsecret = \"k\"\n", example()),
        no_env(),
    )
    .expect("valid");
    assert_eq!(ok.callbacks.max_body, 32 * 1024 * 1024);
    assert_eq!(ok.callbacks.max_age, Duration::from_secs(7 * 24 * 3600));
}

#[test]
fn investment_needs_signing_and_its_callback_a_known_trust_store() {
    let text = format!(
        "{}\n[destinations.investment]\nkind = \"investment\"\nurl = \"https://dautu.example/x\"\n[callbacks.investment]\ntrust = \"nowhere\"\n",
        example()
    );
    let e = Config::from_toml(&text, no_env()).expect_err("invalid");
    let msg = e.to_string();
    assert!(
        msg.contains("destinations.investment.kind: an investment destination signs its registrations: add [signing]"),
        "{msg}"
    );
    assert!(
        msg.contains("callbacks.investment.trust: unknown trust store `nowhere`"),
        "{msg}"
    );
    assert!(
        msg.contains("callbacks.investment.signers: required"),
        "without signers any certificate of the store would be believed: {msg}"
    );
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
    let cluster = include_str!("../../../deploy/cluster/lienthong.toml")
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
        "../../../examples/dossier-business-registration.json"
    ));
    let investment = body(include_str!("../../../examples/dossier-investment.json"));
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

/// The commented block of the example starting at `first` (a line without its `# `), uncommented
/// and without trailing comments.
fn uncommented(text: &str, first: &str) -> String {
    let start = text
        .find(&format!("# {first}\n"))
        .or_else(|| text.find(&format!("# {first} ")))
        .unwrap_or_else(|| panic!("the example has a `{first}` block"));
    text[start..]
        .lines()
        .take_while(|l| l.starts_with("# "))
        .map(|l| {
            let l = l.trim_start_matches("# ");
            // Drop the trailing comment of each line.
            match l.find("  #") {
                Some(i) => l[..i].trim_end().to_owned(),
                None => l.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_examples_xroad_blocks_are_valid() {
    let text = example();
    let route = uncommented(&text, "[destinations.dvcqg.xroad]");
    let relay = uncommented(&text, "path_prefix = \"/v1/dossiers\"");
    let relay = format!("[[server.client_auth]]\n{relay}");
    let c = Config::from_toml(&format!("{text}\n{route}\n{relay}\n"), no_env())
        .expect("the example's X-Road blocks, uncommented, are valid");
    let x = c.destinations["dvcqg"].xroad.as_ref().expect("xroad");
    assert!(x.problems().is_empty(), "{:?}", x.problems());
    assert_eq!(
        x.request_hash,
        lienthong_connectors::xroad::RequestHash::Check
    );
    let rule = c.server.client_auth.last().expect("the relay rule");
    assert!(rule.relays_xroad() && rule.required && !rule.allowed_subjects.is_empty());
}

/// The example's commented `[exchange]` block is valid once uncommented and says the defaults
/// (a receiver copying it gets what it reads).
#[test]
fn the_examples_exchange_block_is_valid_and_states_the_defaults() {
    let text = example();
    let block = uncommented(&text, "[exchange]");
    assert!(block.contains("[exchange.pull]"), "{block}");
    // The pull names an axis peer: give the example one.
    let peer = "\n[destinations.tinh-khac]\nkind = \"peer\"\ntransport = \"axis\"\nurl = \"https://truc.example.gov.vn/vdxp\"\norgan_id = \"000.00.00.H41\"\norgan_name = \"UBND tỉnh khác\"\n[destinations.tinh-khac.axis]\nsystem_id = \"000.02.01.H37\"\nsecret_file = \"/etc/hostname\"\n[destinations.center]\nkind = \"webhook\"\nurl = \"https://motcua.example.gov.vn/lienthong\"\n[signing]\ncert = \"/etc/hostname\"\nkey = \"/etc/hostname\"\n";
    let c = Config::from_toml(&format!("{text}\n{block}\n{peer}"), no_env())
        .expect("the example's [exchange] block, uncommented, is valid");
    let d = ExchangeConfig::default();
    let e = &c.exchange;
    assert_eq!(
        (
            e.max_body,
            e.memory_budget,
            e.body_timeout,
            e.min_body_rate,
            e.max_age,
            e.max_skew
        ),
        (
            d.max_body,
            d.memory_budget,
            d.body_timeout,
            d.min_body_rate,
            d.max_age,
            d.max_skew
        ),
        "the example states the defaults"
    );
    let pull = e.pull.as_ref().expect("pull");
    assert_eq!(pull.max_backoff, Duration::from_secs(600));
    assert_eq!(pull.interval, Duration::from_secs(30));
}

/// The keys serde accepts for `T` (the list `deny_unknown_fields` checks against): the
/// configuration's own list, taken from the types rather than written again here.
fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
    use std::cell::Cell;
    struct Fields<'a>(&'a Cell<&'static [&'static str]>);
    impl<'de> serde::Deserializer<'de> for Fields<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(serde::de::Error::custom("fields collected"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let found = Cell::new(&[][..]);
    let _ = T::deserialize(Fields(&found));
    let fields = found.get().to_vec();
    assert!(
        !fields.is_empty(),
        "{} is not a struct",
        std::any::type_name::<T>()
    );
    fields
}

/// Sub-tables of a destination that belong to its kind (others are shared by every kind).
const KIND_TABLES: &[&str] = &["axis", "poll"];

/// The keys the example documents, set or commented out, as `(table, key)`. A destination's
/// table is named by its kind (`destinations.<dvcqg>`), its shared sub-tables by none
/// (`destinations.<any>.retry`), a trust store `trust.<name>`, and `[[x]]` is `x`; a table header
/// documents its own name as a key of its parent.
fn documented_keys(text: &str) -> BTreeSet<(String, String)> {
    let header = |l: &str| -> Option<String> {
        let h = l.strip_prefix('[')?;
        Some(h.trim_start_matches('[').split(']').next()?.to_owned())
    };
    let line_of = |line: &str| line.strip_prefix("# ").unwrap_or(line).trim().to_owned();
    // Each example destination's kind.
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        let l = line_of(line);
        if let Some(h) = header(&l) {
            table = h;
        } else if let (Some(k), Some(name)) = (
            l.strip_prefix("kind = \""),
            table.strip_prefix("destinations."),
        ) {
            let kind = k.split('"').next().unwrap_or_default();
            kinds.insert(name.to_owned(), kind.to_owned());
        }
    }
    let norm = |parts: &[&str]| -> String {
        let mut out: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
        if out.len() > 1 && out[0] == "trust" {
            out[1] = "<name>".into();
        }
        if out.len() > 1 && out[0] == "destinations" {
            let kind = kinds.get(&out[1]).cloned().unwrap_or_default();
            out[1] = match out.get(2) {
                Some(sub) if !KIND_TABLES.contains(&sub.as_str()) => "<any>".into(),
                _ => format!("<{kind}>"),
            };
        }
        out.join(".")
    };
    let mut out = BTreeSet::new();
    let mut add = |parts: &[&str], key: &str| {
        out.insert((norm(parts), key.to_owned()));
        // A destination's shared keys, whatever its kind.
        if parts.len() == 2 && parts[0] == "destinations" {
            out.insert(("destinations.<any>".to_owned(), key.to_owned()));
        }
    };
    for line in text.lines() {
        let l = line_of(line);
        if let Some(h) = header(&l) {
            table = h;
            let parts: Vec<&str> = table.split('.').collect();
            add(&[], parts[0]);
            for i in 1..parts.len() {
                add(&parts[..i], parts[i]);
            }
            continue;
        }
        let Some((key, _)) = l.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let is_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if is_key && !table.is_empty() {
            let parts: Vec<&str> = table.split('.').collect();
            add(&parts, key);
        }
    }
    out
}

/// The example documents every key the configuration accepts (set, or commented out with its
/// default), and nothing else: a key added to the configuration without a line in the example
/// fails here. The configuration's list comes from its types (serde's field lists), the
/// top-level [`super::SECTIONS`] and the destinations' [`super::destinations::SHARED_KEYS`].
#[test]
fn the_example_documents_every_key_of_the_configuration() {
    let documented = documented_keys(EXAMPLE);
    let known: BTreeSet<(String, String)> = configuration_keys().into_iter().collect();
    let missing: Vec<String> = known
        .iter()
        .filter(|k| !documented.contains(*k))
        .map(|(t, k)| format!("{t} {k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "keys the configuration accepts that deploy/config/lienthong.example.toml does not document: {missing:#?}"
    );
    let shared = |t: &str, k: &str| {
        t.starts_with("destinations.<") && super::destinations::SHARED_KEYS.contains(&k)
    };
    let unknown: Vec<String> = documented
        .iter()
        .filter(|(t, k)| {
            // Names chosen by the operator (destinations, trust stores) are not keys; a
            // destination's keys are judged by its kind's table.
            t != "destinations"
                && t != "trust"
                && t != "destinations.<any>"
                && !known.contains(&(t.clone(), k.clone()))
                && !shared(t, k)
        })
        .map(|(t, k)| format!("{t} {k}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "deploy/config/lienthong.example.toml documents keys the configuration does not have: {unknown:#?}"
    );
}

/// Every key the configuration accepts has a reload policy: the walk of
/// [`super::on_reload::changes`] meets it, or a table above it.
#[test]
fn every_key_has_a_reload_policy() {
    let base = Config::from_toml(&example(), no_env()).expect("example");
    let walk = super::on_reload::changes(&base, &base);
    assert!(walk.needs_restart.is_empty(), "{:?}", walk.needs_restart);
    // A destination's policy does not depend on its kind (but for its kind's restart-only keys,
    // which the nbrs destination of the example shows).
    let of_kind = |kind: &str| {
        base.destinations
            .iter()
            .find(|(_, d)| d.kind.name() == kind)
            .map_or_else(|| "dvcqg".to_owned(), |(n, _)| n.clone())
    };
    let mut unclassified = Vec::new();
    for (table, key) in configuration_keys() {
        let mut parts: Vec<String> = table.split('.').map(str::to_owned).collect();
        if parts.len() > 1 && parts[0] == "destinations" {
            let kind = parts[1].trim_matches(['<', '>']).to_owned();
            parts[1] = if kind == "any" {
                "dvcqg".into()
            } else {
                of_kind(&kind)
            };
        }
        if parts.len() > 1 && parts[0] == "trust" {
            parts[1] = "portals".into();
        }
        let path = [parts.join("."), key.clone()]
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(".");
        if !walk.covers(&path) {
            unclassified.push(path);
        }
    }
    assert!(
        unclassified.is_empty(),
        "keys a reload says nothing about: {unclassified:#?}"
    );
}

/// `value` changed into another value of the same kind (a longer duration, a larger size, another
/// path or URL…), or `None` when there is nothing to change.
fn changed(value: &toml::Value) -> Option<toml::Value> {
    use toml::Value as V;
    Some(match value {
        V::Boolean(b) => V::Boolean(!b),
        V::Integer(i) => V::Integer(i + 1),
        V::Float(f) => V::Float(f + 0.5),
        V::String(s) => {
            if let Ok(d) = humantime::parse_duration(s) {
                V::String(humantime::format_duration(d + Duration::from_secs(1)).to_string())
            } else if let Ok(b) = s.parse::<bytesize::ByteSize>()
                && s.chars().any(|c| c.is_ascii_alphabetic())
            {
                V::Integer(i64::try_from(b.as_u64()).ok()? + 1024)
            } else if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
                V::String(std::net::SocketAddr::new(addr.ip(), addr.port() + 1).to_string())
            } else if s.starts_with("http") || s.starts_with("sqlite:") {
                V::String(format!("{s}x"))
            } else {
                // A path, a name, a code: another one.
                V::String(format!("{s}2"))
            }
        }
        V::Array(a) => {
            let last = a.last()?;
            let mut a = a.clone();
            a.push(changed(last)?);
            V::Array(a)
        }
        V::Table(_) | V::Datetime(_) => return None,
    })
}

/// Every key the example sets, with its path (an array of tables is one key: `routes`).
fn set_keys(table: &toml::Table, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => set_keys(t, &path, out),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(t) = item {
                        for key in t.keys() {
                            out.push((path.clone(), vec![k.clone(), i.to_string(), key.clone()]));
                        }
                    }
                }
            }
            _ => out.push((path.clone(), path.split('.').map(str::to_owned).collect())),
        }
    }
}

/// Follows `steps` (table keys and array indexes) in `root`.
fn value_at<'a>(root: &'a mut toml::Value, steps: &[String]) -> Option<&'a mut toml::Value> {
    steps.iter().try_fold(root, |v, step| match v {
        toml::Value::Table(t) => t.get_mut(step),
        toml::Value::Array(a) => a.get_mut(step.parse::<usize>().ok()?),
        _ => None,
    })
}

/// For every key the example configuration sets, a change of its value is either applied by a
/// reload (its policy is live, and nothing is reported) or named in `needs_restart`.
#[test]
fn a_changed_key_is_applied_or_named_as_needing_a_restart() {
    let text = example();
    let base = Config::from_toml(&text, no_env()).expect("example");
    let root: toml::Value = toml::from_str(&text).expect("toml");
    let mut keys = Vec::new();
    if let toml::Value::Table(t) = &root {
        set_keys(t, "", &mut keys);
    }
    let (mut tried, mut refused) = (0, Vec::new());
    for (path, steps) in keys {
        let mut mutated = root.clone();
        let Some(slot) = value_at(&mut mutated, &steps) else {
            continue;
        };
        let Some(newer) = changed(slot) else {
            continue;
        };
        *slot = newer;
        let Ok(new) = Config::from_toml(&toml::to_string(&mutated).expect("toml"), no_env()) else {
            // Not a valid value of that key (a kind, a log level…): nothing to reload.
            refused.push(path);
            continue;
        };
        tried += 1;
        let walk = super::on_reload::changes(&base, &new);
        let named = walk
            .needs_restart
            .iter()
            .any(|k| path == *k || path.starts_with(&format!("{k}.")));
        match walk.policy_of(&path) {
            Some(super::on_reload::Policy::Restart) => {
                assert!(
                    named,
                    "{path} changed: needs_restart is {:?}",
                    walk.needs_restart
                )
            }
            Some(super::on_reload::Policy::Live) => assert!(
                walk.needs_restart.is_empty(),
                "{path} is applied live, yet needs_restart says {:?}",
                walk.needs_restart
            ),
            None => panic!("{path}: no reload policy"),
        }
    }
    assert!(
        tried >= 40,
        "only {tried} keys could be changed (refused: {refused:?})"
    );
}

/// Every key the configuration accepts, as `(table, key)` with the example's table naming
/// (`destinations.<kind>`, `destinations.<any>.retry`, `trust.<name>`): from its types (serde's
/// field list of each section), [`super::SECTIONS`] and [`super::destinations::SHARED_KEYS`].
fn configuration_keys() -> Vec<(String, String)> {
    use lienthong_connectors::{dvcqg, emc, investment, nbrs, oauth, peer, webhook, xroad};
    let expected: Vec<(&str, Vec<&'static str>)> = vec![
        ("", super::SECTIONS.to_vec()),
        ("server", fields_of::<ServerConfig>()),
        ("server.tls", fields_of::<ListenerTlsConfig>()),
        ("server.client_auth", fields_of::<ClientAuthRule>()),
        ("server.signed_routes", fields_of::<SignedRouteRule>()),
        ("store", fields_of::<StoreConfig>()),
        ("center", fields_of::<CenterConfig>()),
        ("dispatcher", fields_of::<DispatcherConfig>()),
        ("log", fields_of::<LogConfig>()),
        ("trust.<name>", fields_of::<TrustStoreConfig>()),
        ("signing", fields_of::<SigningConfig>()),
        ("exchange", fields_of::<ExchangeConfig>()),
        ("exchange.pull", fields_of::<PullConfig>()),
        ("callbacks", fields_of::<CallbacksConfig>()),
        ("callbacks.dvcqg", fields_of::<SharedKeyConfig>()),
        ("callbacks.payment", fields_of::<SharedKeyConfig>()),
        ("callbacks.investment", fields_of::<SignedPushConfig>()),
        ("retention", fields_of::<RetentionConfig>()),
        ("deadlines", fields_of::<DeadlinesConfig>()),
        ("audit", fields_of::<AuditConfig>()),
        ("audit.tsa", fields_of::<TsaConfig>()),
        (
            "attachments",
            fields_of::<lienthong_connectors::files::AttachmentsConfig>(),
        ),
        ("routes", fields_of::<RouteConfig>()),
        (
            "destinations.<any>",
            super::destinations::SHARED_KEYS.to_vec(),
        ),
        ("destinations.<any>.retry", fields_of::<RetryPolicy>()),
        (
            "destinations.<any>.circuit_breaker",
            fields_of::<BreakerConfig>(),
        ),
        (
            "destinations.<any>.tls",
            fields_of::<DestinationTlsConfig>(),
        ),
        (
            "destinations.<any>.xroad",
            fields_of::<xroad::XRoadConfig>(),
        ),
        (
            "destinations.<any>.oauth",
            fields_of::<oauth::OAuthConfig>(),
        ),
        ("destinations.<dvcqg>", fields_of::<dvcqg::DvcqgConfig>()),
        ("destinations.<peer>", fields_of::<peer::PeerConfig>()),
        (
            "destinations.<peer>.axis",
            fields_of::<peer::axis::AxisConfig>(),
        ),
        (
            "destinations.<webhook>",
            fields_of::<webhook::WebhookConfig>(),
        ),
        ("destinations.<emc>", fields_of::<emc::EmcConfig>()),
        ("destinations.<nbrs>", fields_of::<nbrs::NbrsConfig>()),
        ("destinations.<nbrs>.poll", fields_of::<nbrs::PollConfig>()),
        (
            "destinations.<investment>",
            fields_of::<investment::InvestmentConfig>(),
        ),
    ];
    expected
        .iter()
        .flat_map(|(t, keys)| keys.iter().map(move |k| ((*t).to_owned(), (*k).to_owned())))
        .collect()
}
