//! The command line: `serve`, `demo`, `init`, `check-config`, `mapping check|render`,
//! `deliveries list|replay`, `tokens show`, `certs inspect|check`, `xml sign|verify`. `anyhow` lives here, at
//! the binary's edge.

mod audit;
mod check;
mod deliveries;
mod init;
mod mapping;
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
use check::{check_config, mapping_sets};
use deliveries::{deliveries, show_token};
use mapping::mapping;

/// `lienthong --version`: the version, and whether this build carries the test hooks.
const LONG_VERSION: &str = if crate::test_hooks::ENABLED {
    concat!(env!("CARGO_PKG_VERSION"), " (test hooks)")
} else {
    env!("CARGO_PKG_VERSION")
};

/// Lienthong: secure integration gateway of a provincial Public Administration Center
/// (Trung tâm Phục vụ hành chính công).
#[derive(Debug, Parser)]
#[command(name = "lienthong", version, long_version = LONG_VERSION, about, long_about = None)]
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
