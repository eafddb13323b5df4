//! `lienthong audit …`: checking the audit log's hash chain.

use std::process::ExitCode;

use crate::audit::Verifier;
use crate::config::Config;
use crate::store::Store;

use super::AuditCommand;

/// Records read per page while verifying.
const PAGE: i64 = 5000;

/// Runs an audit subcommand.
///
/// Errors: the store cannot be opened or read.
pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => {
            let store = Store::open(&config.store.url, 16, 1).await?;
            let code = verify_store(&store).await;
            store.close().await;
            code
        }
    }
}

async fn verify_store(store: &Store) -> anyhow::Result<ExitCode> {
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
        }
    }
    let status = store.audit_status().await?;
    println!(
        "audit chain ok: {} record(s), head {}{}",
        v.checked,
        v.head(),
        if status.unlinked > 0 {
            format!("; {} record(s) written but not linked yet", status.unlinked)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
