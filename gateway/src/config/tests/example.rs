//! The example configuration and the configuration's types agree: every key the configuration
//! accepts is documented in `deploy/config/lienthong.example.toml` and has a reload policy, and
//! the example's commented blocks are valid.

use super::*;

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
/// top-level [`super::super::SECTIONS`] and the destinations' [`super::super::destinations::SHARED_KEYS`].
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
        t.starts_with("destinations.<") && super::super::destinations::SHARED_KEYS.contains(&k)
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
/// [`super::super::on_reload::changes`] meets it, or a table above it.
#[test]
fn every_key_has_a_reload_policy() {
    let base = Config::from_toml(&example(), no_env()).expect("example");
    let walk = super::super::on_reload::changes(&base, &base);
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
        let walk = super::super::on_reload::changes(&base, &new);
        let named = walk
            .needs_restart
            .iter()
            .any(|k| path == *k || path.starts_with(&format!("{k}.")));
        match walk.policy_of(&path) {
            Some(super::super::on_reload::Policy::Restart) => {
                assert!(
                    named,
                    "{path} changed: needs_restart is {:?}",
                    walk.needs_restart
                )
            }
            Some(super::super::on_reload::Policy::Live) => assert!(
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
/// field list of each section), [`super::super::SECTIONS`] and [`super::super::destinations::SHARED_KEYS`].
fn configuration_keys() -> Vec<(String, String)> {
    use lienthong_connectors::{dvcqg, emc, investment, nbrs, oauth, peer, webhook, xroad};
    let expected: Vec<(&str, Vec<&'static str>)> = vec![
        ("", super::super::SECTIONS.to_vec()),
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
            super::super::destinations::SHARED_KEYS.to_vec(),
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
    let mut keys: Vec<(String, String)> = expected
        .iter()
        .flat_map(|(t, keys)| keys.iter().map(move |k| ((*t).to_owned(), (*k).to_owned())))
        .collect();
    // `[callbacks.<source>]`: one table per push source of the registry, by its authentication.
    for source in super::super::PUSH_SOURCES {
        keys.push(("callbacks".to_owned(), source.name().to_owned()));
        let fields = match source.authentication() {
            lienthong_connectors::push::Authentication::SharedKey => fields_of::<SharedKeyConfig>(),
            lienthong_connectors::push::Authentication::Signature => {
                fields_of::<SignedPushConfig>()
            }
        };
        for f in fields {
            keys.push((format!("callbacks.{}", source.name()), f.to_owned()));
        }
    }
    keys
}
