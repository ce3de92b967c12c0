//! `adscreen eval`: score labeled ads with a bundle and report how it did, per language and per
//! indicator, with a calibration table.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use rayon::prelude::*;

use super::{read_labeled, ModelOpts};
use adscreen::model::metrics::{head_scores, report, Outcome, Summary};
use adscreen::model::TrainingSet;
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
}

/// Runs `eval`.
pub fn run(a: Args) -> Result<ExitCode> {
    let model = a.model.load()?;
    let thresholds = model.thresholds;
    let (records, counts) = read_labeled(&a.data)?;
    let screener = Screener {
        model,
        office: None,
    };
    let outcomes: Vec<Outcome> = records
        .into_par_iter()
        .map(|r| {
            let gold = TrainingSet::gold(&r);
            let s = screener.screen(r);
            let mut probs = [s.score; adscreen::model::HEADS];
            probs[1..].copy_from_slice(&s.indicators.0);
            Outcome {
                lang: s.ad.lang(),
                probs,
                gold,
            }
        })
        .collect();
    let metrics = report(&outcomes, &thresholds);
    let calibration = head_scores(&outcomes, 0, |_| true).calibration();
    if a.json {
        let doc = serde_json::json!({"model": screener.model.manifest.model_version, "threshold": thresholds[0], "metrics": metrics, "calibration": calibration});
        out!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        out!(
            "model {} at threshold {:.3}, {} ads (indicators at their own thresholds)",
            screener.model.manifest.model_version,
            thresholds[0],
            outcomes.len()
        )?;
        print_summaries(&metrics)?;
        out!(
            "\ncalibration (overall score)\n  {:<11} {:>6} {:>10} {:>9}",
            "bucket",
            "ads",
            "predicted",
            "observed"
        )?;
        for b in &calibration {
            out!(
                "  {:.1}–{:.1}     {:>6} {:>10.3} {:>9.3}",
                b.low,
                b.high,
                b.ads,
                b.predicted,
                b.observed
            )?;
        }
    }
    Ok(counts.exit_code())
}

/// Prints a table of summaries: overall and languages first, then indicators.
pub fn print_summaries(metrics: &BTreeMap<String, Summary>) -> std::io::Result<()> {
    out!(
        "  {:<22} {:>5} {:>5} {:>7} {:>7} {:>6} {:>6} {:>6}",
        "slice",
        "ads",
        "pos",
        "PR-AUC",
        "ROC-AUC",
        "prec",
        "recall",
        "F1"
    )?;
    let fmt = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.3}"));
    let first = ["overall", "es", "en", "zh", "ru"];
    let order = first.iter().map(|s| s.to_string()).chain(
        metrics
            .keys()
            .filter(|k| !first.contains(&k.as_str()))
            .cloned(),
    );
    for key in order {
        let Some(m) = metrics.get(&key) else { continue };
        let t = &m.at_threshold;
        out!(
            "  {:<22} {:>5} {:>5} {:>7} {:>7} {:>6.3} {:>6.3} {:>6.3}",
            key,
            m.ads,
            m.positives,
            fmt(m.pr_auc),
            fmt(m.roc_auc),
            t.precision,
            t.recall,
            t.f1
        )?;
    }
    Ok(())
}
