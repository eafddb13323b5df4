//! `lienthong audit …`: checking the audit log's hash chain.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::records::audit::Verifier;
use crate::store::{AuditStamp, Store};

use super::AuditCommand;

/// `audit verify --bundle`: checks an evidence bundle offline.
///
/// Errors: the files cannot be read or parsed.
pub fn verify_bundle(path: &Path, tsa_certificate: Option<&Path>) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bundle: crate::operations::audit::bundle::Bundle = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an evidence bundle", path.display()))?;
    let certificate = tsa_certificate
        .map(|p| crate::operations::audit::tsa::load_certificate(p).map_err(|e| anyhow::anyhow!(e)))
        .transpose()?;
    match crate::operations::audit::bundle::verify(&bundle, certificate.as_deref()) {
        Ok(v) => {
            println!(
                "evidence bundle of {} ok: {} record(s), {} link(s) of the chain, {} document(s) recorded; {}",
                bundle.dossier_code,
                v.records,
                v.links,
                v.documents,
                match v.stamped {
                    Some((at, cert)) => format!(
                        "time-stamped at {at} by the TSA certificate with SHA-256 {cert} (compare it with the authority's)"
                    ),
                    None => "not time-stamped yet: the chain ends where it was exported".to_owned(),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            eprintln!(
                "evidence bundle of {} does not verify: {reason}",
                bundle.dossier_code
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Records read per page while verifying.
const PAGE: i64 = 5000;

/// Runs an audit subcommand.
///
/// Errors: the store cannot be opened or read.
pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let tsa_certificate = || -> anyhow::Result<Option<Vec<u8>>> {
        config
            .audit
            .tsa
            .as_ref()
            .map(|t| {
                crate::operations::audit::tsa::load_certificate(&t.certificate)
                    .map_err(|e| anyhow::anyhow!("audit.tsa.certificate: {e}"))
            })
            .transpose()
    };
    match command {
        AuditCommand::Export { dossier, out } => {
            let store = Store::open(&config.store.url, 16, 1).await?;
            let certificate = tsa_certificate()?;
            let bundle =
                crate::operations::audit::bundle::export(&store, &dossier, certificate.as_deref())
                    .await;
            store.close().await;
            let text = serde_json::to_string_pretty(&bundle?)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("evidence bundle of {dossier} written to {}", path.display());
                }
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { .. } => {
            let store = Store::open(&config.store.url, 16, 1).await?;
            let certificate = tsa_certificate()?;
            let code = verify_store(&store, certificate.as_deref()).await;
            store.close().await;
            code
        }
    }
}

async fn verify_store(store: &Store, tsa_certificate: Option<&[u8]>) -> anyhow::Result<ExitCode> {
    // The stamps are few (one per interval): read them first, and keep the hashes of the
    // stamped records as the chain pass goes by them, so no record is read twice.
    let stamps = store.audit_stamps(1, i64::MAX).await?;
    let stamped: HashSet<i64> = stamps.iter().map(|s| s.seq).collect();
    let mut stamped_hashes: HashMap<i64, String> = HashMap::new();
    let mut v = Verifier::new();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            if let Err(broken) = v.check(r) {
                eprintln!(
                    "audit chain broken after {} good record(s): {broken}",
                    v.checked
                );
                return Ok(ExitCode::FAILURE);
            }
            if stamped.contains(&r.seq) {
                stamped_hashes.insert(r.seq, r.hash.clone());
            }
        }
    }
    let status = store.audit_status().await?;
    let stamps = match verify_stamps(&stamps, &stamped_hashes, tsa_certificate, v.checked) {
        Ok(s) => s,
        Err(reason) => {
            eprintln!("audit time-stamps do not verify: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "audit chain ok: {} record(s), head {}{}{}",
        v.checked,
        v.head(),
        stamps,
        if status.unlinked > 0 {
            format!("; {} record(s) written but not linked yet", status.unlinked)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Checks every time-stamp against the verified chain: its record exists (a stamp beyond the
/// chain's end means records were cut off the end), its hash is that record's (`hashes`, by
/// seq), and, with the TSA certificate, its token.
fn verify_stamps(
    stamps: &[AuditStamp],
    hashes: &HashMap<i64, String>,
    tsa_certificate: Option<&[u8]>,
    length: u64,
) -> Result<String, String> {
    let Some(last) = stamps.last() else {
        return Ok(String::new());
    };
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    if last.seq > length {
        return Err(format!(
            "record {} was time-stamped but the chain ends at {length}: records were deleted from its end",
            last.seq
        ));
    }
    let mut last_time = None;
    for s in stamps {
        let Some(hash) = hashes.get(&s.seq) else {
            return Err(format!("stamped record {} is missing", s.seq));
        };
        if *hash != s.hash {
            return Err(format!("the stamp of record {} is of another hash", s.seq));
        }
        if let Some(cert) = tsa_certificate {
            match crate::operations::audit::tsa::verify_token(&s.token, &s.hash, cert) {
                Ok((at, _)) => last_time = Some(at),
                Err(e) => return Err(format!("record {}: {e}", s.seq)),
            }
        }
    }
    Ok(match last_time {
        Some(at) => format!(
            "; {} time-stamp(s) verified, the last of record {} at {at}",
            stamps.len(),
            last.seq
        ),
        None => format!(
            "; {} time-stamp(s) match their records (no [audit.tsa] certificate to check their signatures)",
            stamps.len()
        ),
    })
}
