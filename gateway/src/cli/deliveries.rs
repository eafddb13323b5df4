//! `lienthong token show` and `lienthong deliveries …`: an operator's view of the generated
//! tokens and of the deliveries (list, replay, release), straight from the store.

use super::*;

/// `lienthong tokens show ROLE [--path]`.
pub(super) async fn show_token(
    config: &Config,
    role: &str,
    path: bool,
) -> anyhow::Result<ExitCode> {
    use crate::auth::tokens::TokenRole;
    let Some(role) = TokenRole::parse(role) else {
        bail!("{role}: expected admin or center");
    };
    let configured = match role {
        TokenRole::Admin => (
            config.server.admin_token_file.clone(),
            config.admin_token().map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        TokenRole::Center => (
            config.server.center_token_file.clone(),
            config.center_token().map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
    };
    if let (file, Some(token)) = configured {
        match (path, file) {
            (true, Some(f)) => println!("{}", f.display()),
            (true, None) => bail!(
                "the {} token is inline in the configuration (server.admin_token)",
                role.as_str()
            ),
            (false, _) => println!("{}", token.expose()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !crate::auth::tokens::needed(config).contains(&role) {
        bail!(
            "the {} API has no token: {}",
            role.as_str(),
            if config.server.allow_unauthenticated {
                "server.allow_unauthenticated leaves it open (a lab)"
            } else {
                "its callers authenticate with client certificates or signatures"
            }
        );
    }
    if path {
        println!("{}", crate::auth::tokens::file_of(config, role).display());
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&config.store.url, 16, 1).await?;
    let token = store.generated_token(role.as_str()).await?;
    store.close().await;
    match token {
        Some(t) => println!("{t}"),
        None => bail!(
            "no {} token yet: `lienthong serve` generates it at its first start (or set {})",
            role.as_str(),
            role.key()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn deliveries(
    config: &Config,
    command: DeliveriesCommand,
) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.store.url, 16, 1).await?;
    let code = match command {
        DeliveriesCommand::List {
            state,
            destination,
            dossier,
            limit,
            json,
        } => {
            let state = match state.as_deref().map(DeliveryState::parse) {
                None => None,
                Some(Some(s)) => Some(s),
                Some(None) => bail!(
                    "--state: expected one of {}",
                    DeliveryState::list(&DeliveryState::ALL)
                ),
            };
            let items = store
                .deliveries(&DeliveryFilter {
                    state,
                    destination,
                    dossier_code: dossier,
                    limit: limit.clamp(1, 100_000),
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                print!("{}", delivery_table(&items));
                println!(
                    "{} deliver{}",
                    items.len(),
                    if items.len() == 1 { "y" } else { "ies" }
                );
            }
            ExitCode::SUCCESS
        }
        DeliveriesCommand::Replay { ids } => {
            let mut failed = false;
            for id in ids {
                match store.replay(&id).await? {
                    ReplayOutcome::Replayed => println!("{id}: queued again"),
                    ReplayOutcome::NotFound => {
                        failed = true;
                        eprintln!("{id}: no such delivery");
                    }
                    ReplayOutcome::NotReplayable(s) => {
                        failed = true;
                        eprintln!(
                            "{id}: is {s}; only dead or cancelled deliveries can be replayed"
                        );
                    }
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    store.close().await;
    Ok(code)
}

/// `deliveries list` as a table whose columns are as wide as their widest value (in characters:
/// Vietnamese names count one per letter), so that every state and every name lines up.
pub(super) fn delivery_table(items: &[crate::store::DeliveryView]) -> String {
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|d| {
            [
                d.id.clone(),
                d.state.to_string(),
                d.destination.clone(),
                d.dossier_code.clone(),
                d.attempts.to_string(),
                d.last_error.as_deref().unwrap_or("-").replace('\n', " "),
            ]
        })
        .collect();
    let header = ["ID", "STATE", "DEST", "DOSSIER", "TRY", "LAST ERROR"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..5).map(width).collect();
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        for (i, cell) in row.iter().enumerate().take(5) {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 4 {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
            out.push_str("  ");
        }
        out.push_str(&row[5]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column starts at the same place on every line, whatever the state, the
    /// destination's or the dossier's length.
    #[test]
    fn the_deliveries_table_lines_up_for_every_state() {
        let states = [
            DeliveryState::Pending,
            DeliveryState::InFlight,
            DeliveryState::RetryWait,
            DeliveryState::Delivered,
            DeliveryState::Dead,
            DeliveryState::Cancelled,
        ];
        let items: Vec<crate::store::DeliveryView> = states
            .iter()
            .enumerate()
            .map(|(i, s)| crate::store::DeliveryView {
                id: format!("01a2-{i}"),
                dossier_code: format!("000.00.12.H37-2612{}", "0".repeat(i)),
                destination: ["dvcqg", "xa-gia-vien-tinh-ninh-binh", "emc"][i % 3].to_owned(),
                kind: "dossier".into(),
                state: *s,
                attempts: i64::try_from(i * 7).unwrap_or(0),
                next_attempt_at: None,
                last_error: (i == 4).then(|| "HTTP 400: sai mã thủ tục".to_owned()),
                last_http_status: None,
                portal_code: None,
                portal_message: None,
                created_at: "2026-12-07T00:00:00Z".into(),
                delivered_at: None,
                held_by: None,
            })
            .collect();
        let table = delivery_table(&items);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), states.len() + 1);
        // Where each column starts: the header's positions hold on every line.
        let starts = |line: &str| -> Vec<usize> {
            let chars: Vec<char> = line.chars().collect();
            (1..chars.len())
                .filter(|&i| {
                    chars[i] != ' ' && chars[i - 1] == ' ' && i >= 2 && chars[i - 2] == ' '
                })
                .collect()
        };
        let header = starts(lines[0]);
        assert_eq!(header.len(), 5, "{table}");
        for line in &lines[1..] {
            let got = starts(line);
            // STATE, DEST and DOSSIER start where their headers do; TRY is right-aligned, so the
            // last column (LAST ERROR) starts where its header does.
            assert_eq!(&got[..3], &header[..3], "\n{table}");
            assert_eq!(got.last(), header.last(), "\n{table}");
        }
    }
}
