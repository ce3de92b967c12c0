//! `adscreen eval`: score labeled ads with a bundle and report how it did, per language and per
//! indicator, with a calibration table; `--write` keeps the report in the bundle.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;

use super::{read_labeled, ModelOpts};
use adscreen::model::bundle::write_reports;
use adscreen::model::metrics::{head_scores, report, Bucket, Summary};
use adscreen::Screener;

/// Arguments of `eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Labeled ads to evaluate on (never the ones the model was trained on).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<String>,
    #[command(flatten)]
    model: ModelOpts,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the report into the bundle as metrics.json and metrics.md (recorded in its manifest).
    #[arg(long)]
    write: bool,
}

/// Runs `eval`.
pub fn run(a: Args) -> Result<ExitCode> {
    let model = a.model.load()?;
    let (records, counts) = read_labeled(&a.data)?;
    let screener = Screener {
        model,
        office: None,
    };
    let outcomes = screener.evaluate(records);
    let m = &screener.model;
    let metrics = report(&outcomes, &m.thresholds);
    let calibration = head_scores(&outcomes, 0, |_| true).calibration();
    let doc = serde_json::json!({
        "model": m.manifest.model_version, "data": a.data, "ads": outcomes.len(),
        "threshold": m.thresholds[0], "metrics": metrics, "calibration": calibration,
    });
    let text = format!(
        "model {} at threshold {:.3}, {} ads (indicators at their own thresholds)\n{}\n{}",
        m.manifest.model_version,
        m.thresholds[0],
        outcomes.len(),
        summaries_table(&metrics),
        calibration_table(&calibration)
    );
    if a.json {
        out!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        out!("{text}")?;
    }
    if a.write {
        let dir = a.model.dir();
        let md = format!(
            "# Evaluation of {}\n\nData: {}\n\n```\n{text}```\n",
            m.manifest.model_version,
            a.data.join(", ")
        );
        write_reports(
            &dir,
            &[
                ("metrics.json", serde_json::to_string_pretty(&doc)? + "\n"),
                ("metrics.md", md),
            ],
        )?;
        eprintln!("wrote {0}/metrics.json and {0}/metrics.md", dir.display());
    }
    Ok(counts.exit_code())
}

/// A table of summaries: overall and languages first, then indicators.
pub fn summaries_table(metrics: &BTreeMap<String, Summary>) -> String {
    let mut t = format!(
        "  {:<22} {:>5} {:>5} {:>7} {:>7} {:>6} {:>6} {:>6}\n",
        "slice", "ads", "pos", "PR-AUC", "ROC-AUC", "prec", "recall", "F1"
    );
    let fmt = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.3}"));
    let first = ["overall", "es", "en", "zh", "ru"];
    let rest = metrics
        .keys()
        .filter(|k| !first.contains(&k.as_str()))
        .map(String::as_str);
    for key in first.into_iter().chain(rest) {
        let Some(m) = metrics.get(key) else { continue };
        let a = &m.at_threshold;
        let _ = writeln!(
            t,
            "  {key:<22} {:>5} {:>5} {:>7} {:>7} {:>6.3} {:>6.3} {:>6.3}",
            m.ads,
            m.positives,
            fmt(m.pr_auc),
            fmt(m.roc_auc),
            a.precision,
            a.recall,
            a.f1
        );
    }
    t
}

/// The calibration table: mean predicted score against observed rate, by bucket.
fn calibration_table(buckets: &[Bucket]) -> String {
    let mut t = format!(
        "calibration (overall score)\n  {:<11} {:>6} {:>10} {:>9}\n",
        "bucket", "ads", "predicted", "observed"
    );
    for b in buckets {
        let _ = writeln!(
            t,
            "  {:.1}–{:.1}     {:>6} {:>10.3} {:>9.3}",
            b.low, b.high, b.ads, b.predicted, b.observed
        );
    }
    t
}
