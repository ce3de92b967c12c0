//! `adscreen serve`: the JSON API and the triage page.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::{DbOpts, ModelOpts};
use adscreen::queue::SqlStore;
use adscreen::server::{serve, ServeConfig};

/// Arguments of `serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Seconds between checks for a promoted model in the bundle directory.
    #[arg(long, default_value_t = 2.0)]
    reload_seconds: f64,
    /// Mark cookies Secure: set this when a TLS proxy serves the page over HTTPS.
    #[arg(long)]
    secure_cookies: bool,
    #[command(flatten)]
    model: ModelOpts,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs `serve`.
pub fn run(a: Args) -> Result<ExitCode> {
    let store = a.db.open()?;
    let location = a.db.location();
    serve(
        Box::new(store),
        Box::new(move || Ok(Box::new(SqlStore::open(&location)?))),
        ServeConfig {
            addr: a.addr,
            model_dir: a.model.dir(),
            reload_every: Duration::from_secs_f64(a.reload_seconds.max(0.1)),
            secure_cookies: a.secure_cookies,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
