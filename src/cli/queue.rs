//! `adscreen queue …`: list, show and triage the analysts' queue.

use std::process::ExitCode;

use anyhow::{bail, Result};
use serde_json::Value;

use super::{user_or_os, DbOpts, ModelOpts};
use adscreen::ingest::Lang;
use adscreen::link::view::{ad_links, AdLinks};
use adscreen::queue::{Change, Filter, Label, Order, Status, Store, StoredAd};
use adscreen::taxonomy::Indicator;

/// Subcommands of `queue`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// List queued ads, highest score first.
    List(ListArgs),
    /// Show one ad: text with evidence marked, translation, scores, entities, history.
    Show(ShowArgs),
    /// Label an ad suspicious or benign (a new ad moves to in_review).
    Label(LabelArgs),
    /// Escalate an ad as a lead to the field office that investigates.
    Escalate(EscalateArgs),
    /// Dismiss an ad.
    Dismiss(ChangeArgs),
    /// Assign an ad to an analyst (or, without --to, back to the pool).
    Assign(AssignArgs),
    /// Add a note to an ad's history.
    Note(NoteArgs),
    /// Claim the riskiest new ad nobody holds, for a while: analysts working in parallel (on
    /// any number of servers sharing the store) never get the same ad.
    Claim(ClaimArgs),
}

/// Arguments of `queue claim`.
#[derive(clap::Args)]
pub struct ClaimArgs {
    /// Minutes until an unfinished claim lapses and the ad goes back to the pool.
    #[arg(long, default_value_t = 30)]
    minutes: u32,
    /// Who [default: the OS user]
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `queue list`.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Only ads in this state.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only ads in this language (es, en, zh, ru).
    #[arg(long)]
    lang: Option<Lang>,
    /// Only ads from this office.
    #[arg(long)]
    office: Option<String>,
    /// Only ads scoring at least this.
    #[arg(long)]
    min_score: Option<f32>,
    /// Only ads where the model flagged this indicator (e.g. travel_arranged).
    #[arg(long)]
    indicator: Option<Indicator>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Order: highest ad score first, highest network score first, or nearest the model's
    /// threshold first (for labelling sessions).
    #[arg(long, value_enum, default_value_t = ListOrder::Score)]
    order: ListOrder,
    #[command(flatten)]
    model: ModelOpts,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbOpts,
}

/// The orders `queue list` offers.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ListOrder {
    /// Highest ad score first.
    Score,
    /// Highest network score first, then ad score.
    Network,
    /// Scores nearest the model's threshold first.
    Uncertain,
}

/// Arguments of `queue show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// Store id (from `queue list`).
    id: i64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `queue label`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("verdict").required(true).args(["suspicious", "benign"])))]
pub struct LabelArgs {
    #[command(flatten)]
    change: ChangeArgs,
    /// The ad is suspicious.
    #[arg(long)]
    suspicious: bool,
    /// The ad is benign.
    #[arg(long)]
    benign: bool,
    /// Indicator tags seen, comma-separated (e.g. travel_arranged,vague_employer).
    #[arg(long, value_delimiter = ',')]
    indicators: Vec<Indicator>,
}

/// Arguments of `queue escalate`.
#[derive(clap::Args)]
pub struct EscalateArgs {
    /// The field office that receives the lead.
    #[arg(long = "to", value_name = "OFFICE")]
    office: String,
    /// What the office should look at.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    ad: AdArgs,
}

/// Arguments of `queue assign`.
#[derive(clap::Args)]
pub struct AssignArgs {
    /// The analyst [default: nobody]
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    ad: AdArgs,
}

/// Arguments of `queue note`.
#[derive(clap::Args)]
pub struct NoteArgs {
    /// The note.
    text: String,
    #[command(flatten)]
    ad: AdArgs,
}

/// Which ad, who, and in which store.
#[derive(clap::Args)]
pub struct AdArgs {
    /// Store id.
    id: i64,
    /// Who [default: the OS user]
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Arguments of `queue dismiss` (and the common part of `queue label`).
#[derive(clap::Args)]
pub struct ChangeArgs {
    /// Store id.
    id: i64,
    /// Why.
    #[arg(long)]
    note: Option<String>,
    /// Who [default: the OS user]
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs a `queue` subcommand.
pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::List(a) => list(a),
        Command::Show(a) => show(a),
        Command::Label(a) => {
            let c = a.change;
            let label = Label {
                suspicious: a.suspicious,
                indicators: a.indicators,
            };
            let verdict = if label.suspicious {
                "suspicious"
            } else {
                "benign"
            };
            let change = Change::Label {
                label,
                note: c.note,
            };
            let status = apply(c.id, c.user, &c.db, &change)?;
            out!("ad {} labelled {verdict}; status {status}", c.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Escalate(a) => {
            let change = Change::Escalate {
                office: a.office,
                reason: a.reason,
            };
            let status = apply(a.ad.id, a.ad.user, &a.ad.db, &change)?;
            out!("ad {} is now {status}", a.ad.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dismiss(a) => {
            let status = apply(a.id, a.user, &a.db, &Change::Dismiss { note: a.note })?;
            out!("ad {} is now {status}", a.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Assign(a) => {
            let who = a.to.clone().unwrap_or_else(|| "nobody".into());
            apply(a.ad.id, a.ad.user, &a.ad.db, &Change::Assign { to: a.to })?;
            out!("ad {} is assigned to {who}", a.ad.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Note(a) => {
            apply(a.ad.id, a.ad.user, &a.ad.db, &Change::Note { text: a.text })?;
            out!("note added to ad {}", a.ad.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Claim(a) => {
            let user = user_or_os(a.user);
            match a.db.open()?.claim(&user, a.minutes)? {
                Some(c) => out!("claimed ad {} for {user} until {}", c.id, c.expires)?,
                None => out!("no unclaimed new ad in the queue")?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Applies a change as `user` (default: the OS user) and names the resulting state.
fn apply(id: i64, user: Option<String>, db: &DbOpts, change: &Change) -> Result<String> {
    let status = db.open()?.apply(id, change, &user_or_os(user))?;
    Ok(status.map_or("not queued".into(), |s| s.to_string()))
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let filter = Filter {
        status: a.status,
        lang: a.lang,
        office: a.office,
        min_score: a.min_score,
        indicator: a.indicator,
        limit: a.limit,
        order: match a.order {
            ListOrder::Score => Order::Risk,
            ListOrder::Network => Order::Network,
            ListOrder::Uncertain => Order::Uncertain(a.model.load()?.thresholds[0]),
        },
        ..Filter::default()
    };
    let items = a.db.open()?.list(&filter)?;
    if a.json {
        for item in &items {
            out!("{}", serde_json::to_string(item)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{:>6}  {:>5}  {:>6}  {:<4} {:<10} {:<16} {:<66} TEXT",
        "ID",
        "SCORE",
        "LINKED",
        "LANG",
        "STATUS",
        "OFFICE",
        "TOP INDICATORS"
    )?;
    for i in &items {
        let tops: Vec<String> = i
            .top_indicators
            .iter()
            .map(|(k, s)| format!("{k} {s:.2}"))
            .collect();
        out!(
            "{:>6}  {:>5.3}  {:>6}  {:<4} {:<10} {:<16} {:<66} {}",
            i.id,
            i.score,
            i.linked,
            i.lang.as_deref().unwrap_or("-"),
            i.status,
            i.office
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(16)
                .collect::<String>(),
            tops.join(", "),
            i.preview
        )?;
    }
    if items.is_empty() {
        out!("(no queued ads match)")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let mut store = a.db.open()?;
    let Some(ad) = store.read(a.id, &user_or_os(None))? else {
        bail!(
            "no ad with id {} in the store: `adscreen queue list` shows the ids",
            a.id
        );
    };
    let links = ad_links(store.db(), a.id)?;
    if a.json {
        let mut v = serde_json::to_value(&ad)?;
        v["links"] = serde_json::to_value(&links)?;
        out!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        out!("{}{}", render(&ad), render_links(links.as_ref()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The linked-ads part of `queue show`.
fn render_links(links: Option<&AdLinks>) -> String {
    let Some(l) = links else {
        return "\n— linked ads —\n  (not linked yet: run `adscreen network rebuild`)\n".into();
    };
    let mut out = format!(
        "\n— linked ads —\n  network {} ({} ads, network score {:.3}); template cluster {}\n",
        l.network, l.network_size, l.network_score, l.cluster
    );
    for ad in &l.linked {
        out += &format!(
            "  {:>6}  {:<16} {:.3}  {}\n",
            ad.id,
            ad.ext_id,
            ad.score,
            ad.why.join("; ")
        );
    }
    if l.linked.is_empty() {
        out += "  (none)\n";
    }
    for (contact, why) in &l.ignored {
        out += &format!("  ignored {contact}: {why}\n");
    }
    out
}

/// A readable page for one ad: evidence marked in the text as `[[…]]¹` with a legend.
fn render(ad: &StoredAd) -> String {
    let s = &ad.scored;
    let mut out = format!(
        "ad {} ({})  status: {}  score: {}  flagged: {}\nlanguage: {} (declared {}, confidence {})  office: {}  model: {}\n",
        ad.id,
        s["id"].as_str().unwrap_or(""),
        ad.status.map_or("not queued".into(), |st| st.to_string()),
        s["score"],
        s["flagged"],
        s["lang"],
        s["lang_declared"],
        s["lang_confidence"],
        ad.metadata["office"].as_str().unwrap_or("-"),
        s["model_version"].as_str().unwrap_or("")
    );
    let evidence = s["evidence"].as_array().cloned().unwrap_or_default();
    out += &format!("\n— text —\n{}\n", mark(&ad.text, &evidence, "text"));
    if let Some(t) = &ad.translation {
        out += &format!("\n— translation —\n{}\n", mark(t, &evidence, "translation"));
    }
    out += "\n— evidence —\n";
    for (n, e) in evidence.iter().enumerate() {
        let ind = e["indicator"].as_str().unwrap_or("overall");
        out += &format!(
            "  [{}] {:<22} {:+.3}  {} \"{}\"\n",
            n + 1,
            ind,
            e["weight"].as_f64().unwrap_or(0.0),
            e["field"].as_str().unwrap_or(""),
            e["text"].as_str().unwrap_or("")
        );
    }
    out += "\n— indicators —\n";
    if let Some(m) = s["indicators"].as_object() {
        for (k, v) in m {
            let p = v.as_f64().unwrap_or(0.0);
            out += &format!(
                "  {k:<22} {p:.3} {}\n",
                "█".repeat((p * 20.0).round() as usize)
            );
        }
    }
    out += &format!("\n— entities —\n  {}\n", s["entities"]);
    if let Some(l) = &ad.label {
        out += &format!(
            "\n— label —\n  {} {:?}\n",
            if l.suspicious { "suspicious" } else { "benign" },
            l.indicators.iter().map(|i| i.id()).collect::<Vec<_>>()
        );
    }
    out += "\n— history —\n";
    for e in &ad.history {
        let from = e.from_status.map_or("-".into(), |s| s.to_string());
        let to = e.to_status.map_or("-".into(), |s| s.to_string());
        let target = e
            .target
            .as_deref()
            .map_or(String::new(), |t| format!("[{t}] "));
        out += &format!(
            "  {}  {:<12} {:<10} {from} → {to}  {target}{}\n",
            e.at,
            e.user,
            e.action,
            e.note.as_deref().unwrap_or("")
        );
    }
    out
}

/// The text with the evidence spans of `field` wrapped as `[[span]]n`; overlapping spans after
/// the first are listed in the legend only.
fn mark(text: &str, evidence: &[Value], field: &str) -> String {
    let mut spans: Vec<(usize, usize, usize)> = evidence
        .iter()
        .enumerate()
        .filter(|(_, e)| e["field"] == field)
        .filter_map(|(n, e)| {
            Some((
                e["start"].as_u64()? as usize,
                e["end"].as_u64()? as usize,
                n + 1,
            ))
        })
        .collect();
    spans.sort();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut at = 0;
    for (start, end, n) in spans {
        if start < at || end > chars.len() {
            continue;
        }
        out.extend(&chars[at..start]);
        out += "[[";
        out.extend(&chars[start..end]);
        out += &format!("]]{n}");
        at = end;
    }
    out.extend(&chars[at..]);
    out
}
