//! `adscreen report`: the figures of a period for headquarters, as Markdown, HTML, CSV or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;

use super::DbOpts;
use adscreen::report::{Format, Period, Report};

/// How a period is given: `--period`, or `--from` and `--to`.
#[derive(clap::Args)]
pub struct PeriodOpts {
    /// A quarter (2027Q1), months (2027-01..2027-03) or one month (2027-02).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    period: Option<Period>,
    /// First day of the period (2027-01-15); needs --to.
    #[arg(long, requires = "to")]
    from: Option<NaiveDate>,
    /// Last day of the period, included; needs --from.
    #[arg(long, requires = "from")]
    to: Option<NaiveDate>,
}

impl PeriodOpts {
    /// The period given, if any.
    pub fn get(&self) -> Result<Option<Period>> {
        match (&self.period, self.from, self.to) {
            (Some(p), _, _) => Ok(Some(p.clone())),
            (None, Some(from), Some(to)) => Ok(Some(Period::from_dates(from, to)?)),
            _ => Ok(None),
        }
    }
}

/// Arguments of `report`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    period: PeriodOpts,
    /// Only this office.
    #[arg(long)]
    office: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs `report`.
pub fn run(args: Args) -> Result<ExitCode> {
    let Some(period) = args.period.get()? else {
        bail!("say which period: --period 2027Q1, --period 2027-01..2027-03, or --from 2027-01-01 --to 2027-03-31");
    };
    let store = args.db.open()?;
    let report = Report::compute(store.db(), &period, args.office.as_deref())?;
    let text = report.render(args.format)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("adscreen: wrote {}", path.display());
        }
        None => out!("{}", text.trim_end())?,
    }
    Ok(ExitCode::SUCCESS)
}
