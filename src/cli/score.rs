//! `adscreen score`: one JSON object per ad on stdout, in input order.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Result;

use super::{open_input, screen_stream, InputOpts, ModelOpts, SinkWork};
use adscreen::model::json;
use adscreen::Screener;

/// Arguments of `score`.
#[derive(clap::Args)]
pub struct Args {
    /// Ads to score: JSONL, CSV or plain text; `-` reads JSONL from stdin.
    #[arg(default_value = "-")]
    input: String,
    #[command(flatten)]
    input_opts: InputOpts,
    #[command(flatten)]
    model: ModelOpts,
    /// Office that canvassed the ads (guides the country of phone numbers).
    #[arg(long)]
    office: Option<String>,
}

/// Runs `score`.
pub fn run(args: Args) -> Result<ExitCode> {
    let screener = Screener {
        model: args.model.load()?,
        office: args.office,
    };
    let input = open_input(&args.input, args.input_opts.format)?;
    let mut out = BufWriter::new(io::stdout().lock());
    // Each line is written on the scoring threads; this one only prints them.
    let line = |ad| {
        let mut line = Vec::with_capacity(1024);
        json::write_scored(&mut line, &ad);
        line.push(b'\n');
        line
    };
    let counts = screen_stream(input, &screener, SinkWork::Light, line, |lines| {
        lines.iter().try_for_each(|line| out.write_all(line))?;
        Ok(())
    })?;
    out.flush()?;
    Ok(counts.exit_code())
}
