//! `adscreen submit`: score ads, store all of them, queue the flagged ones, print a summary.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;

use super::{
    open_input, screen_stream, user_or_os, DbOpts, InputOpts, ModelOpts, ReadCounts, SinkWork,
};
use adscreen::queue::{BatchOutcome, PreparedAd, Store, Submission};
use adscreen::Screener;

/// Arguments of `submit`.
#[derive(clap::Args)]
pub struct Args {
    /// Files of ads (JSONL, CSV, plain text); `-` reads JSONL from stdin.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Office that canvassed the ads, for ads that do not name one.
    #[arg(long)]
    office: Option<String>,
    /// Who submits [default: the OS user]
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    input_opts: InputOpts,
    #[command(flatten)]
    model: ModelOpts,
    #[command(flatten)]
    db: DbOpts,
}

/// Per-language tallies for the summary.
#[derive(Default)]
struct Tally {
    scored: usize,
    flagged: usize,
}

/// Runs `submit`.
pub fn run(args: Args) -> Result<ExitCode> {
    let screener = Screener {
        model: args.model.load()?,
        office: args.office.clone(),
    };
    let mut store = args.db.open()?;
    let user = user_or_os(args.user);
    let mut total = ReadCounts::default();
    let mut stored = BatchOutcome::default();
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    for path in &args.inputs {
        let input = open_input(path, args.input_opts.format)?;
        let who = Submission {
            user: &user,
            office: args.office.as_deref(),
            source: &input.name.clone(),
        };
        let counts = screen_stream(
            input,
            &screener,
            SinkWork::Serial,
            PreparedAd::of,
            |batch| {
                for ad in batch.iter().map(|p| &p.ad) {
                    let t = by_lang
                        .entry(ad.ad.lang().map_or("und".into(), |l| l.to_string()))
                        .or_default();
                    t.scored += 1;
                    t.flagged += ad.flagged as usize;
                }
                let b = store.submit(&batch, &who)?;
                stored.stored += b.stored;
                stored.duplicates += b.duplicates;
                stored.queued += b.queued;
                Ok(())
            },
        )?;
        total.read += counts.read;
        total.rejected += counts.rejected;
    }
    out!(
        "read {}, rejected {}, stored {} (already stored {}), flagged and queued {}",
        total.read,
        total.rejected,
        stored.stored,
        stored.duplicates,
        stored.queued
    )?;
    for (lang, t) in &by_lang {
        out!("  {lang}: {} ads, {} flagged", t.scored, t.flagged)?;
    }
    Ok(total.exit_code())
}
