//! The `lienthong` command. Errors end with a one-line reason and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;

/// The allocator: mimalloc instead of the C library's. Intake allocates and frees many small
/// short-lived buffers on two threads at once (request bodies, JSON values, rendered messages,
/// statement arguments); glibc's malloc spent about 15 % of the gateway's CPU on them
/// (BENCHMARKS.md, "Intake at the machine's pace").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
