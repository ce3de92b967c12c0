//! `adscreen users …`: create users, list them, issue API tokens.

use std::io::{self, BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::{user_or_os, DbOpts};
use adscreen::queue::accounts::hash_password;
use adscreen::queue::{Accounts, Role, User};

/// The shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 12;

/// Subcommands of `users`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a user; the password is read from stdin (one line), or asked for on a terminal.
    Add(AddArgs),
    /// List users and their roles.
    List(ListArgs),
    /// Issue an API token for a user's scripts (printed once; keep it secret).
    Token(TokenArgs),
}

/// Arguments of `users add`.
#[derive(clap::Args)]
pub struct AddArgs {
    /// Login name.
    name: String,
    /// submitter (submits, sees own office), analyst (triage), admin (users, models).
    #[arg(long, value_enum)]
    role: Role,
    /// The user's field office (required for submitters).
    #[arg(long)]
    office: Option<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `users list`.
#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `users token`.
#[derive(clap::Args)]
pub struct TokenArgs {
    /// The user the token acts as.
    name: String,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs a `users` subcommand.
pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Add(a) => {
            if a.role == Role::Submitter && a.office.is_none() {
                bail!("a submitter needs --office: submitters see their own office's ads");
            }
            let password = read_password()?;
            let user = User {
                name: a.name,
                role: a.role,
                office: a.office,
            };
            a.db.open()?
                .add_user(&user, &hash_password(&password)?, &user_or_os(None))?;
            out!("created {} ({})", user.name, user.role)?;
        }
        Command::List(a) => {
            for u in a.db.open()?.users()? {
                out!(
                    "{:<20} {:<10} {}",
                    u.name,
                    u.role,
                    u.office.as_deref().unwrap_or("-")
                )?;
            }
        }
        Command::Token(a) => {
            let token = a.db.open()?.add_token(&a.name, &user_or_os(None))?;
            out!("{token}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of stdin: piped in by scripts, typed at a prompt by people.
fn read_password() -> Result<String> {
    if io::stdin().is_terminal() {
        eprint!("password (at least {MIN_PASSWORD_CHARS} characters, shown as you type): ");
    }
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password needs at least {MIN_PASSWORD_CHARS} characters (read from stdin: `echo '…' | adscreen users add …`)");
    }
    Ok(password)
}
