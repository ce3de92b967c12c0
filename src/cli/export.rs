//! `adscreen export`: ads with their scores, evidence, entities, labels and notes as CSV or JSON
//! Lines (optionally redacted), or the analysts' labels as training data.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::report::PeriodOpts;
use super::DbOpts;
use adscreen::queue::Status;
use adscreen::report::export::export;
use adscreen::report::{ExportFormat, ExportOptions};

/// Arguments of `export`.
#[derive(clap::Args)]
pub struct Args {
    /// Only ads in these queue states, comma-separated [default: every ad, queued or not]
    #[arg(long, value_enum, value_delimiter = ',')]
    status: Vec<Status>,
    /// Only ads of this office.
    #[arg(long)]
    office: Option<String>,
    #[command(flatten)]
    period: PeriodOpts,
    /// Only labelled ads, as training records (id, lang, text, translation, label, indicators)
    /// for `adscreen train`.
    #[arg(long)]
    labels: bool,
    /// Replace phones, e-mails, messenger handles and personal names with placeholders, the same
    /// value getting the same placeholder, for sharing outside the office.
    #[arg(long)]
    redact: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: ExportFormat,
    /// Start the CSV with a UTF-8 byte order mark (for spreadsheets that guess the encoding).
    #[arg(long)]
    bom: bool,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs `export`.
pub fn run(args: Args) -> Result<ExitCode> {
    let options = ExportOptions {
        statuses: args.status,
        office: args.office,
        period: args.period.get()?,
        labels: args.labels,
        redact: args.redact,
        bom: args.bom,
    };
    let store = args.db.open()?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let n = export(store.db(), &options, args.format, &mut out)?;
    out.flush()?;
    eprintln!("adscreen: exported {n} ads");
    Ok(ExitCode::SUCCESS)
}
