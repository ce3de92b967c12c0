//! Command-line interface: one file per subcommand, plus what they share (opening inputs,
//! streaming records through the screener, reporting rejected records).

/// `println!` that returns an error instead of panicking when stdout is closed (`… | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod audit;
mod eval;
mod export;
mod model;
mod network;
mod queue;
mod report;
mod score;
mod serve;
mod store;
mod submit;
mod train;
mod users;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rayon::prelude::*;

use adscreen::db::Location;
use adscreen::ingest::{records, AdRecord, Format, Rejection};
use adscreen::model::{Model, ScoredAd};
use adscreen::queue::store::DEFAULT_DB;
use adscreen::queue::SqlStore;
use adscreen::Screener;

/// Exit code when a command fails.
pub const EXIT_ERROR: u8 = 1;
/// Exit code when the command ran but some input records were rejected.
pub const EXIT_REJECTED: u8 = 3;

/// Ads scored in parallel at a time: bounds memory while keeping both cores busy.
const CHUNK: usize = 2048;

/// Screens foreign print-media ads for signs of human trafficking.
#[derive(Parser)]
#[command(name = "adscreen", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score ads and print one JSON object per ad (no store needed).
    Score(score::Args),
    /// Score ads, store them, and queue the flagged ones for analysts.
    Submit(submit::Args),
    /// List, show and triage the analysts' queue.
    #[command(subcommand)]
    Queue(queue::Command),
    /// Train a model bundle on labeled ads.
    Train(train::Args),
    /// Evaluate a model bundle on labeled ads.
    Eval(eval::Args),
    /// Promote a trained model bundle after comparing it with the current one.
    #[command(subcommand)]
    Model(model::Command),
    /// Serve the JSON API and the analysts' triage page.
    Serve(serve::Args),
    /// Create users, list them, issue API tokens.
    #[command(subcommand)]
    Users(users::Command),
    /// List the audit log: reads, triage, users, models.
    Audit(audit::Args),
    /// Report a period's figures (per office, language, publication, indicator) for headquarters.
    Report(report::Args),
    /// Export ads (CSV, JSON Lines; optionally redacted) or the analysts' labels.
    Export(export::Args),
    /// Networks of ads linked by shared contacts and near-duplicate wording.
    #[command(subcommand)]
    Network(network::Command),
    /// Create or upgrade a store's schema (SQLite file or PostgreSQL database).
    Migrate(store::MigrateArgs),
    /// Copy a whole store into a new one (e.g. an office's SQLite file into the shared
    /// PostgreSQL database), then compare every table's rows and checksum.
    Copy(store::CopyArgs),
}

/// True when the error is stdout having been closed by the reader (`… | head`): not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Score(a) => score::run(a),
        Command::Submit(a) => submit::run(a),
        Command::Queue(c) => queue::run(c),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Model(c) => model::run(c),
        Command::Serve(a) => serve::run(a),
        Command::Users(c) => users::run(c),
        Command::Audit(a) => audit::run(a),
        Command::Report(a) => report::run(a),
        Command::Export(a) => export::run(a),
        Command::Network(c) => network::run(c),
        Command::Migrate(a) => store::migrate(a),
        Command::Copy(a) => store::copy_store(a),
    }
}

/// Options shared by the commands that read ads.
#[derive(clap::Args)]
struct InputOpts {
    /// Input format; by default from the file extension (.jsonl, .csv, else plain text), JSONL for stdin.
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Options shared by the commands that score.
#[derive(clap::Args)]
struct ModelOpts {
    /// Model bundle directory [default: models/default]
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
}

impl ModelOpts {
    fn load(&self) -> Result<Model> {
        Model::load(Some(&self.dir()))
    }

    /// The bundle directory: `--model`, else the shipped one.
    fn dir(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(adscreen::model::bundle::default_dir)
    }
}

/// The store: `--db`, else `$ADSCREEN_DB`, else `./adscreen.db`.
#[derive(clap::Args)]
struct DbOpts {
    /// The store: a SQLite file (`PATH` or `sqlite:PATH`) or a shared PostgreSQL database
    /// (`postgres://user@host/database`) [default: $ADSCREEN_DB, else ./adscreen.db]
    #[arg(long, value_name = "PATH|URL")]
    db: Option<String>,
}

impl DbOpts {
    /// Where the store is: `--db`, else `$ADSCREEN_DB`, else `./adscreen.db`.
    fn location(&self) -> Location {
        let given = self
            .db
            .clone()
            .or_else(|| std::env::var("ADSCREEN_DB").ok())
            .unwrap_or_else(|| DEFAULT_DB.to_string());
        Location::parse(&given)
    }

    fn open(&self) -> Result<SqlStore> {
        SqlStore::open(&self.location())
    }
}

/// The user recorded on changes: `--user`, else the OS user.
fn user_or_os(user: Option<String>) -> String {
    user.or_else(|| {
        ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
    })
    .filter(|u| !u.trim().is_empty())
    .unwrap_or_else(|| "unknown".into())
}

/// An input file (or `-` for stdin) ready to read.
struct Input {
    name: String,
    reader: Box<dyn BufRead + Send>,
    format: Format,
}

fn open_input(path: &str, format: Option<Format>) -> Result<Input> {
    if path == "-" {
        return Ok(Input {
            name: "<stdin>".into(),
            reader: Box::new(BufReader::new(io::stdin())),
            format: format.unwrap_or(Format::Jsonl),
        });
    }
    let file = File::open(path).with_context(|| format!("cannot open {path}"))?;
    Ok(Input {
        name: path.to_string(),
        reader: Box::new(BufReader::with_capacity(1 << 16, file)),
        format: format.unwrap_or_else(|| Format::from_path(Path::new(path))),
    })
}

/// Records read and rejected.
#[derive(Default, Clone, Copy)]
struct ReadCounts {
    read: usize,
    rejected: usize,
}

impl ReadCounts {
    fn exit_code(self) -> ExitCode {
        if self.rejected > 0 {
            ExitCode::from(EXIT_REJECTED)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn report_rejection(r: &Rejection) {
    eprintln!("adscreen: rejected {r}");
}

/// How much of the machine the sink of [`screen_stream`] needs.
#[derive(Clone, Copy)]
enum SinkWork {
    /// Little (printing what `prepare` wrote): scoring takes every core.
    Light,
    /// One core's worth, serially, on the critical path (the store's writer). Scoring runs on
    /// every core at a lower priority, so the writer gets a core whenever it has work and the
    /// scoring takes the rest of the machine. A 100,000-ad submit took 8.3–9.6 s so, 9.3–10.1 s
    /// with one core kept for the writer (which idled a third of the time), and 22 s when every
    /// core scored at the writer's priority, which left it two thirds of a core.
    Serial,
}

impl SinkWork {
    /// The number of scoring threads; 0 lets rayon choose (`RAYON_NUM_THREADS`, else one per
    /// core).
    fn scoring_threads(self) -> usize {
        match self {
            SinkWork::Serial if !CAN_LOWER_PRIORITY => {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            }
            _ => 0,
        }
    }

    /// Runs on each scoring thread as it starts.
    fn start_scorer(self) {
        if let SinkWork::Serial = self {
            lower_this_threads_priority();
        }
    }
}

/// Whether [`lower_this_threads_priority`] can lower one thread's priority: Linux keeps a nice
/// value per thread, where POSIX has one per process.
const CAN_LOWER_PRIORITY: bool = cfg!(target_os = "linux");

/// Gives the calling thread nice value 10: it runs when a thread at the usual priority does not
/// need the core.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads its three integers and nothing else; on Linux, PRIO_PROCESS with
    // id 0 names the calling thread. Raising one's own nice value needs no privilege, and if it
    // failed the thread would only keep its priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Streams an input through the screener in chunks of [`CHUNK`], scoring each chunk on all cores,
/// turning each scored ad into what the sink needs with `prepare` (on all cores too) and handing
/// them to `sink` in input order. Rejections go to stderr as they are met.
///
/// Reading, scoring and preparing run on their own thread, one chunk ahead of `sink`: the sink's
/// serial work (writing output, writing the store) overlaps the next chunk instead of leaving
/// the cores idle. Whatever per-ad work the sink can leave to `prepare` it should: a parallel
/// step started from the sink would queue behind the next chunk's scoring. Memory stays bounded
/// at about three chunks.
fn screen_stream<T: Send>(
    input: Input,
    screener: &Screener,
    work: SinkWork,
    prepare: impl Fn(ScoredAd) -> T + Sync + Send,
    mut sink: impl FnMut(Vec<T>) -> Result<()>,
) -> Result<ReadCounts> {
    let scorers = rayon::ThreadPoolBuilder::new()
        .num_threads(work.scoring_threads())
        .thread_name(|i| format!("score-{i}"))
        .start_handler(move |_| work.start_scorer())
        .build()?;
    let (scored, batches) = std::sync::mpsc::sync_channel::<Vec<T>>(1);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut counts = ReadCounts::default();
            let mut it = records(input.reader, input.format, &input.name);
            loop {
                let mut chunk: Vec<AdRecord> = Vec::with_capacity(CHUNK);
                for item in it.by_ref() {
                    counts.read += 1;
                    match item {
                        Ok(s) => chunk.push(s.record),
                        Err(r) => {
                            counts.rejected += 1;
                            report_rejection(&r);
                        }
                    }
                    if chunk.len() == CHUNK {
                        break;
                    }
                }
                // An empty chunk is the end; a failed send means the sink gave up.
                if chunk.is_empty()
                    || scored
                        .send(scorers.install(|| {
                            chunk
                                .into_par_iter()
                                .map(|r| prepare(screener.screen(r)))
                                .collect()
                        }))
                        .is_err()
                {
                    return counts;
                }
            }
        });
        for batch in batches {
            sink(batch)?;
        }
        Ok(producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// Reads every record of the given files (training and evaluation data). Records without a label
/// are rejected with their file and line.
fn read_labeled(paths: &[String]) -> Result<(Vec<AdRecord>, ReadCounts)> {
    let mut out = Vec::new();
    let mut counts = ReadCounts::default();
    for path in paths {
        let input = open_input(path, None)?;
        for item in records(input.reader, input.format, &input.name) {
            counts.read += 1;
            let item = item.and_then(|s| match s.record.label {
                Some(_) => Ok(s.record),
                None => Err(Rejection {
                    source: input.name.clone(),
                    line: s.line,
                    field: Some("label".into()),
                    reason: "missing: training and evaluation data need 0 or 1".into(),
                }),
            });
            match item {
                Ok(r) => out.push(r),
                Err(r) => {
                    counts.rejected += 1;
                    report_rejection(&r);
                }
            }
        }
    }
    Ok((out, counts))
}
