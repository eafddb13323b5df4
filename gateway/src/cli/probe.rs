//! `lienthong check-config [--probe]` after parsing: loads what the configuration names
//! (certificates, keys, trust stores, mapping files, credentials) exactly as `serve` does, and
//! with `--probe` asks each destination's connector for its health check, printing a table.

use std::process::ExitCode;

use crate::config::Config;

/// Loads, and probes when asked; exit status 1 when anything fails.
///
/// Errors: the runtime failed (not expected).
pub async fn run(config: &Config, probe: bool) -> anyhow::Result<ExitCode> {
    let security = match crate::security::Security::build(config) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s) loading certificates and keys", errors.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "certificates: ok ({} loaded{})",
        security.certificates.len(),
        security
            .expiring(time::OffsetDateTime::now_utc())
            .iter()
            .map(|(c, left)| format!("; {} expires in {} day(s)", c.name, left.div_euclid(86_400)))
            .collect::<String>()
    );
    let destinations = match crate::destinations::build(config, &security) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
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
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
