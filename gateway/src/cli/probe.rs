//! `lienthong check-config [--probe]` after parsing: loads what the configuration names
//! (certificates, keys, trust stores, mapping files, credentials) exactly as `serve` does, and
//! with `--probe` asks each destination's connector for its health check, printing a table.

use std::process::ExitCode;

use crate::loaded::Loaded;

/// Reports what was loaded and built, and probes when asked; exit status 1 when a probe fails.
///
/// Errors: the runtime failed (not expected).
pub async fn run(
    loaded: &Loaded,
    destinations: crate::delivery::destinations::Destinations,
    probe: bool,
) -> anyhow::Result<ExitCode> {
    let security = &loaded.security;
    println!(
        "certificates: ok ({} loaded{})",
        security.certificates.len(),
        security
            .expiring(time::OffsetDateTime::now_utc())
            .iter()
            .map(|(c, left)| format!("; {} expires in {} day(s)", c.name, left.div_euclid(86_400)))
            .collect::<String>()
    );
    let mut keys_failed = 0;
    if probe {
        keys_failed = probe_keys(security);
    }
    println!("destinations: ok (mappings compiled, credentials read)");
    if !probe {
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    println!(
        "\n{:<14} {:<11} {:<6} {:<6} DETAIL",
        "DESTINATION", "KIND", "REACH", "AUTH"
    );
    for (name, d) in &destinations {
        let connector = d.connector();
        let h = connector.healthcheck().await;
        if !h.ok() {
            failed += 1;
        }
        let mark = |r: &Result<String, String>| if r.is_ok() { "ok" } else { "FAIL" };
        let mut detail = match &h.reach {
            Ok(s) | Err(s) => s.clone(),
        };
        if let Some(a) = &h.auth {
            detail.push_str("; ");
            detail.push_str(match a {
                Ok(s) | Err(s) => s,
            });
        }
        println!(
            "{:<14} {:<11} {:<6} {:<6} {}",
            name,
            connector.kind(),
            mark(&h.reach),
            h.auth.as_ref().map_or("-", mark),
            detail.replace('\n', " ")
        );
    }
    if failed > 0 {
        eprintln!("{failed} destination(s) failed the probe");
    }
    if keys_failed > 0 {
        eprintln!("{keys_failed} key(s) failed to sign");
    }
    if failed + keys_failed > 0 {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs a test message with the signing key and every key on a token, and checks each
/// signature with the key's public half (for a token: the token really signs, with this PIN,
/// now). Prints a table; the number of keys that failed.
fn probe_keys(security: &crate::trust::security::Security) -> usize {
    let mut keys: Vec<(String, std::sync::Arc<lienthong_certs::keys::PrivateKey>)> =
        security.token_keys.clone();
    if let Some(s) = &security.signing
        && !keys.iter().any(|(n, _)| n == "signing")
    {
        keys.insert(
            0,
            ("signing".into(), std::sync::Arc::clone(&s.identity.key)),
        );
    }
    if keys.is_empty() {
        return 0;
    }
    println!("\n{:<24} {:<6} KEY", "SIGNING KEY", "SIGNS");
    let message = format!(
        "lienthong check-config --probe {}",
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let mut failed = 0;
    for (name, key) in keys {
        let algorithm = key.default_algorithm();
        let outcome = key.sign(algorithm, message.as_bytes()).map(|sig| {
            lienthong_certs::keys::verify_with_public_key(
                key.public_key_bytes(),
                algorithm,
                message.as_bytes(),
                &sig,
            )
        });
        let (mark, detail) = match outcome {
            Ok(true) => ("ok", format!("{} ({})", key.describe(), algorithm.name())),
            Ok(false) => (
                "FAIL",
                format!("{}: the signature does not verify", key.describe()),
            ),
            Err(e) => ("FAIL", format!("{}: {e}", key.describe())),
        };
        if mark != "ok" {
            failed += 1;
        }
        println!("{name:<24} {mark:<6} {detail}");
    }
    failed
}
