//! `adscreen queue …`: list, show and triage the analysts' queue.

use std::process::ExitCode;

use anyhow::{bail, Result};
use serde_json::Value;

use super::{user_or_os, DbOpts};
use adscreen::ingest::Lang;
use adscreen::link::view::{ad_links, AdLinks};
use adscreen::queue::{Filter, Label, Order, Status, Store, StoredAd};
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
    /// Escalate an ad as a lead.
    Escalate(ChangeArgs),
    /// Dismiss an ad.
    Dismiss(ChangeArgs),
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
    /// Order: highest ad score first, or highest network score first.
    #[arg(long, value_enum, default_value_t = Order::Score)]
    order: Order,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbOpts,
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

/// Arguments of `queue escalate` and `queue dismiss` (and the common part of `queue label`).
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
            let label = Label {
                suspicious: a.suspicious,
                indicators: a.indicators,
            };
            let c = a.change;
            let status =
                c.db.open()?
                    .label(c.id, &label, &user_or_os(c.user), c.note.as_deref())?;
            let verdict = if label.suspicious {
                "suspicious"
            } else {
                "benign"
            };
            out!("ad {} labelled {verdict}; status {status}", c.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Escalate(a) => change(a, Status::Escalated),
        Command::Dismiss(a) => change(a, Status::Dismissed),
    }
}

fn change(a: ChangeArgs, to: Status) -> Result<ExitCode> {
    a.db.open()?
        .transition(a.id, to, &user_or_os(a.user), a.note.as_deref())?;
    out!("ad {} is now {to}", a.id)?;
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let filter = Filter {
        status: a.status,
        lang: a.lang,
        office: a.office,
        min_score: a.min_score,
        indicator: a.indicator,
        limit: a.limit,
        order: a.order,
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
    let store = a.db.open()?;
    let Some(ad) = store.get(a.id)? else {
        bail!(
            "no ad with id {} in the store: `adscreen queue list` shows the ids",
            a.id
        );
    };
    let links = ad_links(store.conn(), a.id)?;
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
        out += &format!(
            "  {}  {:<12} {:<10} {from} → {to}  {}\n",
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
