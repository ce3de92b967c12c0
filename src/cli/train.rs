//! `adscreen train`: train a model bundle on labeled ads.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::read_labeled;
use adscreen::model::bundle::sha256_hex;
use adscreen::model::{TrainParams, TrainingSet};

/// Arguments of `train`.
#[derive(clap::Args)]
pub struct Args {
    /// Labeled ads (JSONL or CSV with `label` and `indicators`).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<String>,
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
    let (records, counts) = read_labeled(&a.data)?;
    if counts.rejected > 0 {
        bail!("{} of {} records were rejected (see above): fix them before training, so the model is what the files say", counts.rejected, counts.read);
    }
    let data = TrainingSet::new(records)?;
    let mut model = params.fit(&data, &|line| eprintln!("train: {line}"))?;
    let mut digest = Vec::new();
    for f in &a.data {
        digest.extend(fs::read(f).with_context(|| format!("cannot read {f}"))?);
    }
    model.manifest.training_data.files = a.data.clone();
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
