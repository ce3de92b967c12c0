//! `adscreen migrate` and `adscreen copy`: prepare a store's schema, and move a store into
//! another one (an office's SQLite file into the shared PostgreSQL database).

use std::process::ExitCode;

use anyhow::{bail, Result};

use super::DbOpts;
use adscreen::db::{self, Location};
use adscreen::queue::copy::copy;
use adscreen::queue::{schema, SqlStore};

/// Arguments of `migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `copy`.
#[derive(clap::Args)]
pub struct CopyArgs {
    /// The store to copy (`sqlite:PATH`, a path, or `postgres://…`); it is left unchanged.
    #[arg(long, value_name = "PATH|URL")]
    from: String,
    /// The store to copy into: new and empty (`adscreen migrate --db URL` prepares one).
    #[arg(long, value_name = "PATH|URL")]
    to: String,
}

/// Runs `migrate`: brings the store's schema up to date and says from which version.
pub fn migrate(a: MigrateArgs) -> Result<ExitCode> {
    let location = a.db.location();
    let db = db::open(&location)?;
    let (before, after) = schema::migrate(&*db)?;
    if before == after {
        out!("{location}: schema version {after}, up to date")?;
    } else {
        out!("{location}: schema version {before} → {after}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `copy`: every table, then counts and checksums compared table by table.
pub fn copy_store(a: CopyArgs) -> Result<ExitCode> {
    let (from, to) = (Location::parse(&a.from), Location::parse(&a.to));
    if from == to {
        bail!("--from and --to are the same store ({from})");
    }
    // Opening brings both schemas to this adscreen's version.
    let (source, target) = (SqlStore::open(&from)?, SqlStore::open(&to)?);
    let tables = copy(source.db(), target.db())?;
    out!(
        "{:<16} {:>10} {:>10}  {:<16} {}",
        "table",
        "source",
        "copied",
        "checksum",
        ""
    )?;
    for t in &tables {
        let verdict = if t.matches() { "ok" } else { "MISMATCH" };
        out!(
            "{:<16} {:>10} {:>10}  {:<16} {verdict}",
            t.table,
            t.source_rows,
            t.copied_rows,
            &t.copied_sum[..16]
        )?;
    }
    let bad: Vec<&str> = tables
        .iter()
        .filter(|t| !t.matches())
        .map(|t| t.table)
        .collect();
    if !bad.is_empty() {
        bail!(
            "the copy in {to} differs from {from} in: {} (the source is unchanged)",
            bad.join(", ")
        );
    }
    let ads = tables
        .iter()
        .find(|t| t.table == "ads")
        .map_or(0, |t| t.copied_rows);
    out!("copied {from} into {to}: {ads} ads; every table's rows and checksum match")?;
    Ok(ExitCode::SUCCESS)
}
