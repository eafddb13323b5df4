//! The command line: `serve`, `demo`, `init`, `check-config`, `mapping check|render`,
//! `deliveries list|replay`, `tokens show`, `certs inspect|check`, `xml sign|verify`. `anyhow` lives here, at
//! the binary's edge.

mod audit;
mod init;
mod probe;
mod trust;
pub use trust::{CertsCommand, XmlCommand};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use lienthong_connectors::kind::{Preview, Rendering};
use lienthong_connectors::{DossierOp, MessageBody};
use lienthong_mappings::{Agency, Dossier, ExchangeInput, MappingSet, ProgressInput, StatusEvent};

use crate::config::{Config, DEFAULT_PATH, DestinationKind};
use crate::store::{DeliveryFilter, DeliveryState, ReplayOutcome, Store};

/// Lienthong: secure integration gateway of a provincial Public Administration Center
/// (Trung tâm Phục vụ hành chính công).
#[derive(Debug, Parser)]
#[command(name = "lienthong", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "LIENTHONG_CONFIG", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway daemon.
    Serve,
    /// Run a self-contained demonstration: gateway on a temporary SQLite store, an in-process
    /// DVCQG simulator, realistic dossiers, a portal outage and its recovery, then a summary
    /// (runs the `lienthong-demo` program installed beside this one).
    Demo {
        /// Keep the temporary directory (store and config) and print where it is.
        #[arg(long)]
        keep: bool,
    },
    /// Write a starting configuration (from the documented example) into DIR with empty secret
    /// files of mode 0600, and print what to fill in before the first start.
    Init {
        /// Where the configuration and its secret files go.
        #[arg(default_value = "/etc/lienthong")]
        dir: PathBuf,
        /// Where the store (SQLite) and the generated tokens go.
        #[arg(long, default_value = "/var/lib/lienthong")]
        state_dir: PathBuf,
    },
    /// Check the configuration file and report every problem with its key, then load its
    /// certificates, keys, trust stores, mapping files and credentials.
    CheckConfig {
        /// Also connect to each destination (TCP, TLS handshake with its trust store and client
        /// certificate, and its login or token request) and print what works.
        #[arg(long)]
        probe: bool,
    },
    /// Mapping files.
    Mapping {
        /// What to do.
        #[command(subcommand)]
        command: MappingCommand,
    },
    /// Deliveries (dead letters, replay).
    Deliveries {
        /// What to do.
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// Certificates: inspect a file, check the configuration's for expiry.
    Certs {
        /// What to do.
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// XML signatures (XML-DSig): sign and verify documents.
    Xml {
        /// What to do.
        #[command(subcommand)]
        command: XmlCommand,
    },
    /// The API's bearer tokens (mã truy cập): print the one in force for a role.
    Tokens {
        /// What to do.
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// The audit log (nhật ký kiểm toán): verify the hash chain.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `lienthong tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Print the token in force for `admin` (admin API, metrics, console) or `center` (the
    /// one-stop system's API): the configured file's, else the one the first `serve` generated
    /// (kept in the store). With `--path`, print where its file is instead.
    Show {
        /// `admin` or `center`.
        role: String,
        /// Print the file's path, not the token.
        #[arg(long)]
        path: bool,
    },
}

/// `lienthong audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the whole hash chain of the store's audit log and check its time-stamps;
    /// exits non-zero naming the first broken link (a changed, deleted or reordered record).
    /// With `--bundle`, check an evidence bundle offline instead (no store needed).
    Verify {
        /// An evidence bundle written by `audit export`.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// The TSA certificate (PEM) to check the bundle's time-stamp with, instead of the one
        /// it carries.
        #[arg(long, requires = "bundle")]
        tsa_certificate: Option<PathBuf>,
    },
    /// Write the evidence bundle of one dossier (its records, the chain to the next time-stamp,
    /// the token, its documents) as JSON.
    Export {
        /// Dossier code (mã hồ sơ).
        #[arg(long)]
        dossier: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `lienthong mapping …`.
#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Compile the mapping files of every configured destination (or of `--dir`) and report
    /// every problem with file and line.
    Check {
        /// Check this directory of DVCQG mapping files instead of the configuration's.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Render a dossier (or, with `--event`, one of its status events) as a destination receives it.
    Render {
        /// Destination name from the configuration, or a destination kind (`dvcqg`) for the
        /// built-in mappings.
        #[arg(long)]
        destination: String,
        /// Canonical dossier JSON file.
        #[arg(long)]
        input: PathBuf,
        /// A status event JSON file: render its progress entry instead.
        #[arg(long)]
        event: Option<PathBuf>,
        /// With `--destination edxml`: the receiving center's agency code (To/OrganId).
        #[arg(long, default_value = "000.00.00.H00")]
        to: String,
    },
}

/// `lienthong deliveries …`.
#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, newest first.
    List {
        /// Only this state (pending, in_flight, retry_wait, delivered, dead, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// Only this destination.
        #[arg(long)]
        destination: Option<String>,
        /// Only this dossier.
        #[arg(long)]
        dossier: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put dead deliveries back in the queue with fresh attempts.
    Replay {
        /// Message ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// `lienthong demo`: runs the demonstration program, `lienthong-demo`, found beside this
/// binary (cargo builds both into `target/<profile>/`).
///
/// The demo is a separate program so that the daemon links no portal simulator and no test
/// PKI. Errors: the program is not installed beside this one, or it cannot be started.
fn demo(keep: bool) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt as _;
    let me = std::env::current_exe().context("cannot find this program's path")?;
    let program = me.with_file_name("lienthong-demo");
    if !program.exists() {
        bail!(
            "the demo is its own program, {}, which is not installed: build it with \
             `cargo build --release -p lienthong-demo` (or run `cargo run --release -p lienthong-demo`)",
            program.display()
        );
    }
    let mut command = std::process::Command::new(&program);
    if keep {
        command.arg("--keep");
    }
    // exec() returns only when it failed.
    let e = command.exec();
    Err(anyhow::anyhow!("cannot start {}: {e}", program.display()))
}

/// Runs a parsed command line.
///
/// Errors: a one-line reason for the user.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => {
            let loaded = crate::loaded::Loaded::load(&cli.config)
                .map_err(|e| anyhow::anyhow!("{}: {e}", cli.config.display()))?;
            init_logging(&loaded.config.log.format, &loaded.config.log.level);
            runtime()?.block_on(serve(loaded))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { keep } => demo(keep),
        Command::Init { dir, state_dir } => init::run(&dir, &state_dir),
        Command::CheckConfig { probe } => {
            init_logging("text", "error");
            check_config(&cli.config, probe)
        }
        Command::Mapping { command } => mapping(&cli.config, command),
        Command::Certs { command } => {
            init_logging("text", "error");
            trust::certs(&cli.config, command)
        }
        Command::Xml { command } => {
            init_logging("text", "error");
            trust::xml(command)
        }
        Command::Deliveries { command } => {
            init_logging("text", "warn");
            let config = load(&cli.config)?;
            runtime()?.block_on(deliveries(&config, command))
        }
        Command::Tokens {
            command: TokensCommand::Show { role, path },
        } => {
            init_logging("text", "warn");
            let config = load(&cli.config)?;
            runtime()?.block_on(show_token(&config, &role, path))
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    bundle: Some(bundle),
                    tsa_certificate,
                },
        } => audit::verify_bundle(&bundle, tsa_certificate.as_deref()),
        Command::Audit { command } => {
            init_logging("text", "warn");
            let config = load(&cli.config)?;
            runtime()?.block_on(audit::run(&config, command))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Sets up logging ([`crate::monitoring::logging::init`]).
pub fn init_logging(format: &str, level: &str) {
    crate::monitoring::logging::init(format, level);
}

async fn serve(loaded: crate::loaded::Loaded) -> anyhow::Result<()> {
    let listen = loaded.config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("server.listen: cannot bind {listen}"))?;
    crate::server::run_loaded(loaded, listener, crate::server::shutdown_signal(), || {}).await?;
    Ok(())
}

/// `check-config`: every problem of the file and of what it names in one run, each with its key,
/// and "ok" only when there is none; then the probes.
fn check_config(path: &Path, probe: bool) -> anyhow::Result<ExitCode> {
    let report = |problems: Vec<crate::config::ConfigError>| {
        for e in &problems {
            eprintln!("{}: {e}", path.display());
        }
        eprintln!("{} problem(s) found", problems.len());
        Ok(ExitCode::FAILURE)
    };
    // Every file first, whatever else is wrong; then what the text and the loading find, less
    // what a missing file already explains.
    let files = crate::config::Config::file_problems(path);
    let mut problems = files.clone();
    let explained = |e: &crate::config::ConfigError| {
        files.iter().any(|f| {
            f.message
                .split_whitespace()
                .next()
                .is_some_and(|p| e.message.contains(p))
        })
    };
    let loaded = match crate::loaded::Loaded::load(path) {
        Ok(l) if files.is_empty() => l,
        Ok(_) => return report(problems),
        Err(errors) => {
            problems.extend(errors.0.into_iter().filter(|e| !explained(e)));
            return report(problems);
        }
    };
    // Each destination's connector is built as `serve` builds it (credentials read, mappings
    // compiled) before anything is said to be ok.
    let destinations = match crate::delivery::destinations::build(
        &loaded.config,
        &loaded.security,
        &loaded.mappings,
    ) {
        Ok(d) => d,
        Err(errors) => {
            return report(
                errors
                    .0
                    .into_iter()
                    .flat_map(destination_problems)
                    .collect(),
            );
        }
    };
    let c = &loaded.config;
    println!(
        "{}: ok ({} destination(s): {}; {} route(s))",
        path.display(),
        c.destinations.len(),
        c.destinations
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        c.routes.len()
    );
    for w in c.warnings() {
        eprintln!("{}: warning: {w}", path.display());
    }
    for role in crate::auth::tokens::needed(c) {
        println!(
            "{}: not set: `serve` uses the {} token it generates at its first start, in {} (mode 0600; `lienthong tokens show {}`)",
            role.key(),
            role.as_str(),
            crate::auth::tokens::file_of(c, role).display(),
            role.as_str()
        );
    }
    runtime()?.block_on(probe::run(&loaded, destinations, probe))
}

/// A destination that could not be built, as problems with the exact key where there is one.
fn destination_problems(
    e: crate::delivery::destinations::DestinationError,
) -> Vec<crate::config::ConfigError> {
    let name = e.name;
    match e.source {
        lienthong_connectors::BuildError::Config(problems) => problems
            .into_iter()
            .map(|p| crate::config::ConfigError {
                key: format!("destinations.{name}.{}", p.key),
                message: p.message,
            })
            .collect(),
        other => vec![crate::config::ConfigError {
            key: format!("destinations.{name}"),
            message: other.to_string(),
        }],
    }
}

fn mapping_sets(
    config_path: &Path,
    dir: Option<PathBuf>,
) -> anyhow::Result<Vec<(String, Result<MappingSet, lienthong_mappings::LoadError>)>> {
    if let Some(dir) = dir {
        return Ok(vec![(
            dir.display().to_string(),
            MappingSet::from_dir(&dir),
        )]);
    }
    let edxml = (
        "edxml (built-in)".to_owned(),
        MappingSet::from_sources("builtin:edxml", lienthong_mappings::engine::EDXML_FILES),
    );
    if !config_path.exists() {
        let mut sets: Vec<_> = DestinationKind::NAMES
            .iter()
            .filter_map(|kind| {
                DestinationKind::rendering_of(kind)
                    .map(|r| (format!("{kind} (built-in)"), (r.load)(None)))
            })
            .collect();
        sets.push(edxml);
        return Ok(sets);
    }
    let config = load(config_path)?;
    let mut sets: Vec<_> = config
        .destinations
        .iter()
        // Webhooks send the canonical JSON: no mapping files.
        .filter_map(|(name, d)| d.kind.mappings().map(|set| (name.clone(), set)))
        .collect();
    sets.push(edxml);
    Ok(sets)
}

fn mapping(config_path: &Path, command: MappingCommand) -> anyhow::Result<ExitCode> {
    match command {
        MappingCommand::Check { dir } => {
            let mut failed = 0;
            for (name, set) in mapping_sets(config_path, dir)? {
                match set {
                    Ok(s) => {
                        let names: Vec<&str> = s.mappings().map(|m| m.name()).collect();
                        println!("{name}: ok ({}: {})", s.origin(), names.join(", "));
                    }
                    Err(e) => {
                        failed += e.0.len();
                        for p in e.0 {
                            eprintln!("{name}: {p}");
                        }
                    }
                }
            }
            if failed > 0 {
                eprintln!("{failed} problem(s) found");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        MappingCommand::Render {
            destination,
            input,
            event,
            to,
        } if destination == "edxml" => render_edxml(&input, event.as_deref(), &to),
        MappingCommand::Render {
            destination,
            input,
            event,
            ..
        } => {
            let (set, rendering) = render_set(config_path, &destination)?;
            let read = |p: &Path| -> anyhow::Result<serde_json::Value> {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: invalid JSON", p.display()))
            };
            let dossier = Dossier::from_json(read(&input)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            // Without an event, the dossier as it is first sent; with one, that event's
            // progress message, as the gateway builds it for a stored dossier.
            let body = match event {
                None => MessageBody::Dossier {
                    op: DossierOp::Create,
                    dossier: Box::new(dossier),
                },
                Some(path) => {
                    let event = StatusEvent::from_json(read(&path)?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    MessageBody::Progress(ProgressInput {
                        dossier: Some(Box::new(lienthong_mappings::DossierContext::of(&dossier))),
                        response_for: None,
                        dossier_code: dossier.code.clone(),
                        event,
                    })
                }
            };
            match (rendering.render)(&set, &body)
                .map_err(|e| anyhow::anyhow!("{destination}: {e}"))?
            {
                Preview::Json(value) => println!("{}", serde_json::to_string_pretty(&value)?),
                // An XML document as it is signed and sent (the signature is added at sending).
                Preview::Xml(xml) => print!("{xml}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The mapping set and rendering `mapping render --destination <destination>` uses: the
/// configured destination of that name, else the built-in mappings of the kind of that name.
fn render_set(config_path: &Path, destination: &str) -> anyhow::Result<(MappingSet, Rendering)> {
    let builtin = |why: String| -> anyhow::Result<(MappingSet, Rendering)> {
        let Some(rendering) = DestinationKind::rendering_of(destination) else {
            let kinds: Vec<&str> = DestinationKind::NAMES
                .iter()
                .copied()
                .filter(|k| DestinationKind::rendering_of(k).is_some())
                .chain(["edxml"])
                .collect();
            bail!("{why}: the built-in mappings are {}", kinds.join(", "));
        };
        let set = (rendering.load)(None).map_err(|e| anyhow::anyhow!("{destination}: {e}"))?;
        Ok((set, rendering))
    };
    if !config_path.exists() {
        return builtin(format!("no configuration at {}", config_path.display()));
    }
    let config = load(config_path)?;
    let Some(d) = config.destinations.get(destination) else {
        return builtin(format!(
            "no destination `{destination}` in {}",
            config_path.display()
        ));
    };
    let kind = d.kind.name();
    let (Some(rendering), Some(set)) = (DestinationKind::rendering_of(kind), d.kind.mappings())
    else {
        bail!(
            "`{destination}` is a {kind} destination, which has no mapping rendering of its own \
             (a webhook receives the canonical JSON unmapped; a peer's edXML is shown by \
             --destination edxml --to <its code>)"
        );
    };
    Ok((
        set.map_err(|e| anyhow::anyhow!("{destination}: {e}"))?,
        rendering,
    ))
}

/// `lienthong tokens show ROLE [--path]`.
async fn show_token(config: &Config, role: &str, path: bool) -> anyhow::Result<ExitCode> {
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

async fn deliveries(config: &Config, command: DeliveriesCommand) -> anyhow::Result<ExitCode> {
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

/// `mapping render --destination edxml`: the edXML dossier message (or, with `--event`, the
/// status message) as the peer connector sends it before signing, with the dossier's agency as
/// sender and `to` as receiver.
fn render_edxml(input: &Path, event: Option<&Path>, to: &str) -> anyhow::Result<ExitCode> {
    let set = MappingSet::from_sources("builtin:edxml", lienthong_mappings::engine::EDXML_FILES)
        .map_err(|e| anyhow::anyhow!("edxml mappings: {e}"))?;
    let read = |p: &Path| -> anyhow::Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", p.display()))
    };
    let dossier = Dossier::from_json(read(input)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let number = dossier.code.rsplit('-').next().unwrap_or("1").to_string();
    let mut exchange = ExchangeInput::envelope(
        dossier.agency.clone(),
        Agency {
            code: to.to_string(),
            name: to.to_string(),
        },
        &number,
        "LT",
        time::OffsetDateTime::now_utc(),
    );
    let name = match event {
        Some(path) => {
            let event = StatusEvent::from_json(read(path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            exchange.status = Some(ProgressInput {
                dossier: None,
                response_for: None,
                dossier_code: dossier.code.clone(),
                event,
            });
            "status"
        }
        None => {
            exchange.dossier = Some(dossier);
            "dossier"
        }
    };
    let exchange = serde_json::to_value(&exchange)?;
    let xml = set
        .render_xml(name, &exchange)
        .map_err(|e| anyhow::anyhow!("edxml: {e}"))?;
    print!("{xml}");
    Ok(ExitCode::SUCCESS)
}

/// `deliveries list` as a table whose columns are as wide as their widest value (in characters:
/// Vietnamese names count one per letter), so that every state and every name lines up.
fn delivery_table(items: &[crate::store::DeliveryView]) -> String {
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
