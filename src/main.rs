//! The `adscreen` command: parses arguments and hands over to the library's stages.

use std::process::ExitCode;

use clap::Parser;

mod cli;

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
