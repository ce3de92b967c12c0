//! `adscreen model promote`: compare a candidate bundle with the current one on the same
//! evaluation data and install it only if it is not worse in any language.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use serde_json::json;

use super::{read_labeled, user_or_os, DbOpts};
use adscreen::model::metrics::report;
use adscreen::model::promote::{install, Comparison};
use adscreen::model::Model;
use adscreen::queue::models::{default_cache, materialize};
use adscreen::queue::{Accounts, AuditLog, ModelStore, Role};
use adscreen::Screener;

/// Subcommands of `model`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Promote a candidate bundle (admin): refused if worse than the current model in any
    /// language by more than the tolerance; the decision and both sets of figures are audited.
    Promote(PromoteArgs),
}

/// Arguments of `model promote`.
#[derive(clap::Args)]
pub struct PromoteArgs {
    /// The candidate bundle (from `adscreen train --out`).
    candidate: PathBuf,
    /// The bundle directory the candidate is installed into. The candidate is compared with the
    /// model last promoted through the store, or with this bundle if none was.
    #[arg(long, default_value = "models/default")]
    current: PathBuf,
    /// Labeled evaluation data, never trained on by either model.
    #[arg(long, num_args = 1.., default_values_t = ["corpora/test/es-en.jsonl".to_string(), "corpora/test/es-en-2.jsonl".to_string(), "corpora/test/zh-ru.jsonl".to_string(), "corpora/test/zh-ru-2.jsonl".to_string()])]
    data: Vec<String>,
    /// How much lower the candidate's PR-AUC may be in any language (or overall).
    #[arg(long, default_value_t = 0.01)]
    tolerance: f64,
    /// The admin promoting [default: the OS user]
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    db: DbOpts,
}

/// Runs a `model` subcommand.
pub fn run(cmd: Command) -> Result<ExitCode> {
    let Command::Promote(a) = cmd;
    let mut store = a.db.open()?;
    let user = user_or_os(a.user);
    match store.credentials(&user)? {
        Some((u, _)) if u.role == Role::Admin => {}
        _ => bail!("only an admin may promote a model, and {user:?} is not one: pass --user ADMIN (`adscreen users add NAME --role admin` creates one)"),
    }
    let (records, counts) = read_labeled(&a.data)?;
    if counts.rejected > 0 {
        bail!(
            "{} evaluation records were rejected (see above): fix them first",
            counts.rejected
        );
    }
    let current = match store.promoted_model()? {
        Some(m) => materialize(&store, &m, &default_cache())?,
        None => a.current.clone(),
    };
    let mut figures = Vec::new();
    for dir in [&current, &a.candidate] {
        let model = Model::load(Some(dir))?;
        let version = model.manifest.model_version.clone();
        let screener = Screener {
            model,
            office: None,
        };
        let outcomes = screener.evaluate(records.clone());
        figures.push((version, report(&outcomes, &screener.model.thresholds)));
    }
    let comparison = Comparison::new(&figures[0].1, &figures[1].1, a.tolerance);
    let regressions = comparison.regressions();
    out!(
        "PR-AUC on {} ads ({}), tolerance {}",
        records.len(),
        a.data.join(", "),
        a.tolerance
    )?;
    out!(
        "  {:<8} {:>5} {:>9} {:>10}",
        "slice",
        "ads",
        "current",
        "candidate"
    )?;
    let fmt = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.3}"));
    for s in &comparison.slices {
        let mark = if s.worse(a.tolerance) { "  worse" } else { "" };
        out!(
            "  {:<8} {:>5} {:>9} {:>10}{mark}",
            s.slice,
            s.ads,
            fmt(s.current),
            fmt(s.candidate)
        )?;
    }
    let accepted = regressions.is_empty();
    let target = a.current.display().to_string();
    let before = json!({"model": figures[0].0, "dir": target, "figures": figures[0].1});
    let after = json!({
        "model": figures[1].0, "dir": a.candidate.display().to_string(), "figures": figures[1].1,
        "comparison": comparison, "data": a.data, "accepted": accepted,
    });
    let action = if accepted {
        "model_promote"
    } else {
        "model_refuse"
    };
    store.audit(&user, action, Some(&target), Some(&before), Some(&after))?;
    if !accepted {
        let worse: Vec<&str> = regressions.iter().map(|s| s.slice.as_str()).collect();
        bail!(
            "promotion refused: the candidate {} is worse than {} beyond {} in: {} (recorded in the audit log)",
            figures[1].0,
            figures[0].0,
            a.tolerance,
            worse.join(", ")
        );
    }
    let previous = install(&a.candidate, &a.current)?;
    store.record_model(&a.current, &user)?;
    out!(
        "promoted {} to {} and to the store {} (the previous model {} is in {}); servers using either pick it up within seconds",
        figures[1].0,
        a.current.display(),
        a.db.location(),
        figures[0].0,
        previous.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
