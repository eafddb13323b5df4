//! The `lienthong` command. Errors end with a one-line reason and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = lienthong::cli::Cli::parse();
    match lienthong::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let text = format!("{e:#}");
            eprintln!("error: {}", text.replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
