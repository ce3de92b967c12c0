//! `adscreen audit`: list the append-only audit log, newest first.

use std::process::ExitCode;

use anyhow::Result;

use super::DbOpts;
use adscreen::queue::{AuditFilter, AuditLog};

/// Arguments of `audit`.
#[derive(clap::Args)]
pub struct Args {
    /// Only this user's actions.
    #[arg(long)]
    user: Option<String>,
    /// Only this action (read, label, escalate, dismiss, assign, note, submit, login, user_add,
    /// token_add, model_promote, model_refuse, report, export).
    #[arg(long)]
    action: Option<String>,
    /// Only entries about this target (an ad id, a user name, a model directory).
    #[arg(long)]
    target: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs `audit`.
pub fn run(a: Args) -> Result<ExitCode> {
    let filter = AuditFilter {
        user: a.user,
        action: a.action,
        target: a.target,
        limit: a.limit,
    };
    for e in a.db.open()?.audit_entries(&filter)? {
        if a.json {
            out!("{}", serde_json::to_string(&e)?)?;
            continue;
        }
        let change = match (&e.before, &e.after) {
            (Some(b), Some(a)) => format!("{b} → {a}"),
            (None, Some(a)) => a.to_string(),
            _ => String::new(),
        };
        out!(
            "{:>6}  {}  {:<12} {:<14} {:<12} {change}",
            e.id,
            e.at,
            e.user,
            e.action,
            e.target.as_deref().unwrap_or("-")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
