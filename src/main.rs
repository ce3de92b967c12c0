//! The `adscreen` command: parses arguments and hands over to the library's stages.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// Scoring allocates many small, short-lived strings and vectors per ad; mimalloc serves them for
/// less CPU than the system allocator, on every thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("adscreen: error: {e:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
