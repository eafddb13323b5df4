//! `[callbacks]`: the push sources' tables, read by the registry, and their checks.

use super::{example, keys, no_env};
use crate::config::*;
use std::time::Duration;

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

/// The inbound registry is the one list of push sources: a `[callbacks.<name>]` table is read
/// by the authentication its source declares, a table of another shape is refused with its
/// key, and a table named after no source is refused naming every source there is.
#[test]
fn the_push_source_registry_reads_each_table_by_its_sources_authentication() {
    use lienthong_connectors::push::Authentication;
    let names: Vec<&str> = PUSH_SOURCES.iter().map(|s| s.name()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a name twice in {names:?}");
    for source in PUSH_SOURCES {
        assert!(push_source(source.name()).is_some());
        // Each source's notices are its own events.
        for (event, _) in source.notices() {
            assert!(
                event.starts_with(&format!("{}.", source.name())),
                "{event} of {}",
                source.name()
            );
        }
    }
    assert!(push_source("fax").is_none());

    let e = Config::from_toml(
        &format!(
            "{}
[callbacks.fax]
secret = \"k\"\n",
            example()
        ),
        no_env(),
    )
    .expect_err("an unknown source");
    assert_eq!(keys(&e), ["callbacks.fax"], "{e}");
    for name in &names {
        assert!(e.to_string().contains(name), "{name} missing from {e}");
    }

    // A shared-key source given a trust store, a signing source given a secret: each refused
    // by its own key, as serde names the field it does not take.
    let shared = PUSH_SOURCES
        .iter()
        .find(|s| s.authentication() == Authentication::SharedKey)
        .expect("a shared-key source");
    let signed = PUSH_SOURCES
        .iter()
        .find(|s| s.authentication() == Authentication::Signature)
        .expect("a signing source");
    let text = format!(
        "{}\n[callbacks.{}]\ntrust = \"t\"\n[callbacks.{}]\nsecret = \"k\"\n",
        example(),
        shared.name(),
        signed.name()
    );
    let e = Config::from_toml(&text, no_env()).expect_err("wrong shapes");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "callbacks.{}.trust: unknown field `trust`",
            shared.name()
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "callbacks.{}.secret: unknown field `secret`",
            signed.name()
        )),
        "{msg}"
    );

    // The configured sources are read into the table of sources, by name.
    let ok = Config::from_toml(
        &format!(
            "{}\n[callbacks.{}]\nsecret = \"k\"\n",
            example(),
            shared.name()
        ),
        no_env(),
    )
    .expect("valid");
    assert_eq!(
        ok.callbacks.sources.keys().copied().collect::<Vec<_>>(),
        [shared.name()]
    );
    assert!(matches!(
        ok.callbacks.sources[shared.name()],
        PushSourceConfig::SharedKey(_)
    ));
}
