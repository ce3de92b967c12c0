//! `adscreen train`: train a model bundle on labeled ads.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::{read_labeled, DbOpts};
use adscreen::ingest::AdRecord;
use adscreen::model::bundle::sha256_hex;
use adscreen::model::{TrainParams, TrainingSet};
use adscreen::queue::Store;

/// Arguments of `train`.
#[derive(clap::Args)]
pub struct Args {
    /// Labeled ads (JSONL or CSV with `label` and `indicators`).
    #[arg(long, num_args = 1.., required_unless_present = "from_db")]
    data: Vec<String>,
    /// Also train on the analysts' labels in the store; a label overrides the files' label for
    /// the same ad (same text and translation).
    #[arg(long)]
    from_db: bool,
    #[command(flatten)]
    db: DbOpts,
    /// Directory to write the bundle into.
    #[arg(long)]
    out: PathBuf,
    /// BPE vocabulary size.
    #[arg(long, default_value_t = 12_000)]
    vocab_size: usize,
    /// L2 penalty of the classifiers (larger is smoother).
    #[arg(long, default_value_t = 0.25)]
    alpha: f32,
    /// Keep features seen in at least this many texts.
    #[arg(long, default_value_t = 2)]
    min_df: usize,
    /// At most this many features, most frequent first.
    #[arg(long, default_value_t = 8_000)]
    max_features: usize,
    /// L-BFGS iterations per classifier.
    #[arg(long, default_value_t = 100)]
    max_iterations: u64,
    /// Cross-validation folds for the held-out figures and the threshold; 0 skips them (threshold 0.5).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Recall the threshold must reach on held-out scores.
    #[arg(long, default_value_t = 0.90)]
    target_recall: f64,
}

/// Runs `train`.
pub fn run(a: Args) -> Result<ExitCode> {
    let params = TrainParams::default()
        .vocab_size(a.vocab_size)
        .alpha(a.alpha)
        .min_df(a.min_df)
        .max_features(a.max_features)
        .max_iterations(a.max_iterations)
        .folds(a.folds)
        .target_recall(a.target_recall)
        .check()?;
    let (mut records, counts) = read_labeled(&a.data)?;
    if counts.rejected > 0 {
        bail!("{} of {} records were rejected (see above): fix them before training, so the model is what the files say", counts.rejected, counts.read);
    }
    let mut digest = Vec::new();
    for f in &a.data {
        digest.extend(fs::read(f).with_context(|| format!("cannot read {f}"))?);
    }
    let mut sources = a.data.clone();
    if a.from_db {
        let labels = a.db.open()?.labeled()?;
        let (overridden, added) = overlay(&mut records, labels.clone());
        eprintln!("train: {} analysts' labels from the store: {overridden} override the files, {added} are new ads", labels.len());
        digest.extend(serde_json::to_vec(&labels)?);
        sources.push(format!(
            "store:{} ({} labels)",
            a.db.location(),
            labels.len()
        ));
    }
    let data = TrainingSet::new(records)?;
    let mut model = params.fit(&data, &|line| eprintln!("train: {line}"))?;
    model.manifest.training_data.files = sources;
    model.manifest.training_data.sha256 = sha256_hex(&digest);
    model.save(&a.out)?;
    let m = &model.manifest;
    out!(
        "wrote {} (model {}) in {:.1}s",
        a.out.display(),
        m.model_version,
        m.training_seconds
    )?;
    out!("threshold {:.3}: {}", m.threshold, m.threshold_rule)?;
    out!("{}", super::eval::summaries_table(&m.metrics))?;
    Ok(ExitCode::SUCCESS)
}

/// Puts the analysts' labels over the corpus: a label replaces the record of the same ad, or is
/// added. Returns (replaced, added).
fn overlay(records: &mut Vec<AdRecord>, labels: Vec<AdRecord>) -> (usize, usize) {
    let index: std::collections::HashMap<String, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.content_key(), i))
        .collect();
    let mut replaced = 0;
    let mut added = 0;
    for label in labels {
        match index.get(&label.content_key()) {
            Some(&i) => {
                records[i] = label;
                replaced += 1;
            }
            None => {
                records.push(label);
                added += 1;
            }
        }
    }
    (replaced, added)
}
