//! `adscreen network …`: networks of linked ads and template clusters — list, show, export,
//! rebuild, and the stop-list of non-identifying contacts.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::{user_or_os, DbOpts};
use adscreen::link::contacts::parse_contact;
use adscreen::link::export::graphml;
use adscreen::link::rebuild::rebuild;
use adscreen::link::settings::{self, StopEntry};
use adscreen::link::stats::Kind;
use adscreen::link::view::{self, GroupView};
use adscreen::link::CommonRule;
use adscreen::queue::SqlStore;

/// Subcommands of `network`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// List networks (or template clusters) of two or more ads, riskiest first.
    List(ListArgs),
    /// Show one network or cluster: its ads, spread, scores, and the contacts that tie it.
    Show(ShowArgs),
    /// Export one network or cluster as JSON or GraphML.
    Export(ExportArgs),
    /// Recompute every link from the stored ads (after a contact became common, or to change
    /// the common-contact thresholds).
    Rebuild(RebuildArgs),
    /// Manage the stop-list of contacts that must not link ads (a newspaper's switchboard).
    #[command(subcommand)]
    Stop(StopCommand),
}

/// Which grouping to show.
#[derive(clap::Args)]
pub struct KindOpt {
    /// Template clusters (near-duplicate wording alone) instead of networks.
    #[arg(long)]
    clusters: bool,
}

impl KindOpt {
    fn kind(&self) -> Kind {
        if self.clusters {
            Kind::Cluster
        } else {
            Kind::Network
        }
    }
}

/// Arguments of `network list`.
#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    kind: KindOpt,
    /// At most this many groups.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `network show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// Network (or cluster) id, from `network list`.
    id: i64,
    #[command(flatten)]
    kind: KindOpt,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbOpts,
}

/// Export formats.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// The full view as one JSON object.
    Json,
    /// GraphML: ads and tying contacts as nodes.
    Graphml,
}

/// Arguments of `network export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// Network (or cluster) id, from `network list`.
    id: i64,
    #[command(flatten)]
    kind: KindOpt,
    /// Output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Write to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `network rebuild`.
#[derive(clap::Args)]
pub struct RebuildArgs {
    /// A contact on more than this share of the store's ads links nothing (saved in the store)
    /// [default: as saved, initially 0.01]
    #[arg(long, value_name = "SHARE")]
    common_share: Option<f64>,
    /// …if it is also on at least this many ads (saved in the store) [default: as saved,
    /// initially 20]
    #[arg(long, value_name = "N")]
    common_min: Option<usize>,
    #[command(flatten)]
    db: DbOpts,
}

/// Subcommands of `network stop`.
#[derive(clap::Subcommand)]
pub enum StopCommand {
    /// Add contacts (and relink the store without them).
    Add(StopAddArgs),
    /// Remove contacts (and relink the store with them).
    Remove(StopRemoveArgs),
    /// List the stop-list.
    List(StopListArgs),
}

/// Arguments of `network stop add`.
#[derive(clap::Args)]
pub struct StopAddArgs {
    /// Contacts: +525555550100, info@diario.mx, diario.com.mx, telegram:name, …
    contacts: Vec<String>,
    /// Also read contacts from this file, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Why they identify nobody (e.g. "El Diario switchboard").
    #[arg(long)]
    reason: String,
    /// Who [default: the OS user]
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `network stop remove`.
#[derive(clap::Args)]
pub struct StopRemoveArgs {
    /// Contacts, as for `add`.
    #[arg(required = true)]
    contacts: Vec<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `network stop list`.
#[derive(clap::Args)]
pub struct StopListArgs {
    #[command(flatten)]
    db: DbOpts,
}

/// Runs a `network` subcommand.
pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::List(a) => list(a),
        Command::Show(a) => {
            let g = find(&a.db.open()?, a.kind.kind(), a.id)?;
            if a.json {
                out!("{}", serde_json::to_string_pretty(&g)?)?;
            } else {
                out!("{}", render(&g))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(a) => export(a),
        Command::Rebuild(a) => {
            let store = a.db.open()?;
            let saved = settings::common_rule(store.db())?;
            let rule = CommonRule {
                share: a.common_share.unwrap_or(saved.share),
                min_ads: a.common_min.unwrap_or(saved.min_ads),
            };
            if !(0.0..=1.0).contains(&rule.share) {
                bail!("--common-share is a share of the store's ads: give a number from 0 to 1 (0.01 = 1%)");
            }
            settings::set_common_rule(store.db(), &rule)?;
            relink(&store)
        }
        Command::Stop(StopCommand::Add(a)) => stop_add(a),
        Command::Stop(StopCommand::Remove(a)) => {
            let store = a.db.open()?;
            let contacts = a
                .contacts
                .iter()
                .map(|c| parse_contact(c))
                .collect::<Result<Vec<_>>>()?;
            let removed = settings::remove_stops(store.db(), &contacts)?;
            out!("removed {removed} of {} from the stop-list", contacts.len())?;
            relink(&store)
        }
        Command::Stop(StopCommand::List(a)) => {
            let entries = settings::stop_list(a.db.open()?.db())?;
            for e in &entries {
                out!(
                    "{:<40} {}  (added by {} at {})",
                    e.contact,
                    e.reason,
                    e.added_by,
                    e.added_at
                )?;
            }
            if entries.is_empty() {
                out!("(the stop-list is empty)")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Rebuilds the links and prints what came out.
fn relink(store: &SqlStore) -> Result<ExitCode> {
    let s = rebuild(store.db())?;
    out!(
        "relinked {} ads: {} networks and {} template clusters of two or more ads, {} template links (common contact: on more than {}% of ads and at least {})",
        s.ads,
        s.networks,
        s.clusters,
        s.template_links,
        s.rule.share * 100.0,
        s.rule.min_ads
    )?;
    Ok(ExitCode::SUCCESS)
}

fn stop_add(a: StopAddArgs) -> Result<ExitCode> {
    let mut raw = a.contacts;
    if let Some(path) = &a.from {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the stop-list {}", path.display()))?;
        raw.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if raw.is_empty() {
        bail!("no contacts given: name them, or give a file with --from");
    }
    let user = user_or_os(a.user);
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let entries = raw
        .iter()
        .map(|c| {
            Ok(StopEntry {
                contact: parse_contact(c)?,
                reason: a.reason.clone(),
                added_by: user.clone(),
                added_at: at.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let store = a.db.open()?;
    settings::add_stops(store.db(), &entries)?;
    for e in &entries {
        out!("stop-listed {}", e.contact)?;
    }
    relink(&store)
}

fn find(store: &SqlStore, kind: Kind, id: i64) -> Result<GroupView> {
    match view::group(store.db(), kind, id)? {
        Some(g) => Ok(g),
        None => bail!(
            "no {} with id {id}: `adscreen network list{}` shows the ids",
            kind.column(),
            if kind == Kind::Cluster {
                " --clusters"
            } else {
                ""
            }
        ),
    }
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let groups = view::list(a.db.open()?.db(), a.kind.kind(), a.limit)?;
    if a.json {
        for g in &groups {
            out!("{}", serde_json::to_string(g)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{:>6}  {:>5}  {:>4}  {:>5}  {:>5}  {:<11} {:<23} TIED BY",
        "ID",
        "SCORE",
        "ADS",
        "MAX",
        "MEAN",
        "LANGS",
        "SEEN"
    )?;
    for g in &groups {
        out!(
            "{:>6}  {:>5.3}  {:>4}  {:>5.3}  {:>5.3}  {:<11} {:<23} {}",
            g.id,
            g.score,
            g.stats.ads,
            g.stats.max_score,
            g.stats.mean_score,
            g.languages.join(","),
            format!("{} – {}", g.first_seen, g.last_seen),
            ties(g)
        )?;
    }
    if groups.is_empty() {
        out!("(no {}s of two or more ads)", a.kind.kind().column())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What ties a group, in one line: its shared identifying contacts and its template links.
fn ties(g: &GroupView) -> String {
    let mut parts: Vec<String> = g
        .contacts
        .iter()
        .filter(|c| c.ties())
        .map(|c| format!("{} ({})", c.contact, c.ads.len()))
        .collect();
    if !g.template_links.is_empty() {
        parts.push(format!("{} template links", g.template_links.len()));
    }
    parts.join(", ")
}

/// A readable page for one group.
fn render(g: &GroupView) -> String {
    let s = &g.stats;
    let mut out = format!(
        "{} {}  score {:.3}  ({} ads; highest ad score {:.3}, mean {:.3})\n\
         seen {} – {}\nlanguages: {}\noffices: {}\npublications: {}\n",
        g.kind.column(),
        g.id,
        g.score,
        s.ads,
        s.max_score,
        s.mean_score,
        g.first_seen,
        g.last_seen,
        g.languages.join(", "),
        or_dash(&g.offices),
        or_dash(&g.publications),
    );
    out += "\n— tied by —\n";
    for c in g.contacts.iter().filter(|c| c.ties()) {
        out += &format!("  {:<40} ads {:?}\n", c.contact, c.ads);
    }
    if !g.template_links.is_empty() {
        out += &format!(
            "  template similarity: {}\n",
            g.template_links
                .iter()
                .map(|t| format!("{}~{} {:.2}", t.ad, t.other, t.similarity))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !g.clusters.is_empty() {
        out += &format!(
            "  template clusters: {}\n",
            g.clusters
                .iter()
                .map(|(id, n)| format!("{id} ({n} ads)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let ignored: Vec<_> = g.contacts.iter().filter(|c| c.ignored.is_some()).collect();
    if !ignored.is_empty() {
        out += "\n— contacts ignored (they link nothing) —\n";
        for c in ignored {
            out += &format!(
                "  {:<40} {} (here on {} ads)\n",
                c.contact,
                c.ignored.as_deref().unwrap_or(""),
                c.ads.len()
            );
        }
    }
    out += "\n— ads —\n";
    for a in &g.ads {
        out += &format!(
            "  {:>6}  {:<16} {:.3}  {:<3} {:<10} {:<16} {:<20} {}\n",
            a.id,
            a.ext_id,
            a.score,
            a.lang.as_deref().unwrap_or("-"),
            a.status.as_deref().unwrap_or("not queued"),
            a.office.as_deref().unwrap_or("-"),
            a.publication.as_deref().unwrap_or("-"),
            a.seen
        );
    }
    out
}

fn or_dash(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

fn export(a: ExportArgs) -> Result<ExitCode> {
    let g = find(&a.db.open()?, a.kind.kind(), a.id)?;
    let text = match a.format {
        ExportFormat::Json => serde_json::to_string_pretty(&g)? + "\n",
        ExportFormat::Graphml => graphml(&g),
    };
    match &a.out {
        Some(path) => {
            fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => out!("{}", text.trim_end())?,
    }
    Ok(ExitCode::SUCCESS)
}
