//! Training: the tokenizer, the feature vocabulary and the heads, with cross-validated held-out
//! figures and a threshold chosen for recall.
//!
//! In the manner of linfa: [`TrainParams`] carries the hyperparameters as builder methods,
//! validated once by [`TrainParams::check`]; [`TrainParams::fit`] takes a [`TrainingSet`], which
//! carries the ads and their labels together, and returns a [`Model`].
//!
//! The held-out figures in the manifest come from k-fold cross-validation: every ad is scored by
//! a model that did not see it (folds stratified by language and label), the threshold is the
//! highest one that reaches the target recall on those scores, and the shipped model is then fit
//! on all the data. The tokenizer and the feature vocabulary are learned once from all texts;
//! they see no labels.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::Serialize;

use super::bundle::{Manifest, TrainingData, FORMAT_VERSION};
use super::metrics::{head_scores, report, Outcome, Summary};
use super::{sigmoid, Heads, Model, HEADS};
use crate::features::{select_features, train_tokenizer, FeatureVector, Featurizer};
use crate::ingest::{ingest, AdRecord, IngestedAd};
use crate::taxonomy::Indicator;

/// Labeled ads, ingested: the records carry their label and indicator tags.
pub struct TrainingSet {
    /// The ads; every record has a label.
    pub ads: Vec<IngestedAd>,
}

impl TrainingSet {
    /// Ingests labeled records (in parallel). Fails on a record without a label.
    pub fn new(records: Vec<AdRecord>) -> Result<Self> {
        if let Some(r) = records.iter().find(|r| r.label.is_none()) {
            bail!(
                "ad {:?} has no label: training data needs `label` (0 or 1) on every ad",
                r.id
            );
        }
        let ads = records.into_par_iter().map(|r| ingest(r, None)).collect();
        Ok(TrainingSet { ads })
    }

    fn targets(&self, i: usize) -> [bool; HEADS] {
        Self::gold(&self.ads[i].record)
    }

    /// The language key an ad is reported under.
    fn lang_key(&self, i: usize) -> String {
        self.ads[i].lang().map_or("und".into(), |l| l.code().into())
    }

    /// Gold targets of a labeled record for every head: the overall label, then each tag.
    pub fn gold(record: &AdRecord) -> [bool; HEADS] {
        std::array::from_fn(|h| match h {
            0 => record.label == Some(1),
            _ => record.indicators.contains(&Indicator::ALL[h - 1]),
        })
    }

    /// Ads per language and per language and label.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for i in 0..self.ads.len() {
            let lang = self.lang_key(i);
            *counts
                .entry(format!("{lang}:{}", self.targets(i)[0] as u8))
                .or_default() += 1;
            *counts.entry(lang).or_default() += 1;
        }
        counts
    }
}

/// Hyperparameters of training.
#[derive(Debug, Clone, Serialize)]
pub struct TrainParams {
    vocab_size: usize,
    min_df: usize,
    max_features: usize,
    alpha: f32,
    max_iterations: u64,
    folds: usize,
    target_recall: f64,
    min_positives: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            vocab_size: 12_000,
            min_df: 2,
            max_features: 8_000,
            alpha: 0.25,
            max_iterations: 100,
            folds: 5,
            target_recall: 0.90,
            min_positives: 3,
        }
    }
}

impl TrainParams {
    /// BPE vocabulary size.
    pub fn vocab_size(mut self, n: usize) -> Self {
        self.vocab_size = n;
        self
    }
    /// A feature is kept when it occurs in at least this many texts.
    pub fn min_df(mut self, n: usize) -> Self {
        self.min_df = n;
        self
    }
    /// At most this many features, most frequent first.
    pub fn max_features(mut self, n: usize) -> Self {
        self.max_features = n;
        self
    }
    /// L2 penalty of the logistic regressions (linfa's `alpha`; larger is smoother).
    pub fn alpha(mut self, a: f32) -> Self {
        self.alpha = a;
        self
    }
    /// L-BFGS iterations per head.
    pub fn max_iterations(mut self, n: u64) -> Self {
        self.max_iterations = n;
        self
    }
    /// Cross-validation folds for the held-out figures and the threshold (0: none, threshold 0.5).
    pub fn folds(mut self, k: usize) -> Self {
        self.folds = k;
        self
    }
    /// Recall the threshold must reach on held-out scores.
    pub fn target_recall(mut self, r: f64) -> Self {
        self.target_recall = r;
        self
    }

    /// Checks the hyperparameters once, before any work.
    pub fn check(self) -> Result<Self> {
        if self.vocab_size < 100 {
            bail!(
                "vocab size {} is too small: use at least 100",
                self.vocab_size
            );
        }
        if self.min_df == 0 || self.max_features == 0 || self.max_iterations == 0 {
            bail!("min_df, max_features and max_iterations must be at least 1");
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            bail!("alpha must be a positive number, not {}", self.alpha);
        }
        if self.folds == 1 {
            bail!(
                "cross-validation needs at least 2 folds (or 0 to skip it), not {}",
                self.folds
            );
        }
        if !(0.0 < self.target_recall && self.target_recall <= 1.0) {
            bail!(
                "target recall must be in (0, 1], not {}",
                self.target_recall
            );
        }
        Ok(self)
    }

    /// Trains a model on `data`. `log` receives progress lines.
    pub fn fit(&self, data: &TrainingSet, log: &dyn Fn(&str)) -> Result<Model> {
        let started = Instant::now();
        let params = self.clone().check()?;
        let needed = 2 * params.folds.max(1);
        if data.ads.len() < needed {
            bail!(
                "{} labeled ads are too few to train on: at least {needed} are needed",
                data.ads.len()
            );
        }
        // 1. tokenizer, on every text and translation
        let texts: Vec<&str> = data
            .ads
            .iter()
            .flat_map(|a| std::iter::once(&a.text).chain(&a.translation))
            .map(|n| n.text.as_str())
            .collect();
        let tokenizer = train_tokenizer(&texts, params.vocab_size)?;
        // 2. feature vocabulary
        let plain = Featurizer::new(tokenizer.clone(), Vec::new());
        let seqs: Vec<_> = data
            .ads
            .par_iter()
            .flat_map_iter(|a| {
                std::iter::once(&a.text)
                    .chain(&a.translation)
                    .map(|t| plain.tokens(t))
                    .collect::<Vec<_>>()
            })
            .collect();
        let featurizer = Featurizer::new(
            tokenizer,
            select_features(&seqs, params.min_df, params.max_features),
        );
        let vectors: Vec<FeatureVector> = data
            .ads
            .par_iter()
            .map(|a| featurizer.featurize(a))
            .collect();
        log(&format!(
            "{} ads, {} features",
            data.ads.len(),
            featurizer.width()
        ));
        // 3-4. cross-validation: held-out scores for every ad, thresholds and figures from them
        let (thresholds, metrics) =
            params.cross_validate(data, &vectors, featurizer.width(), log)?;
        // 5. the shipped heads, on all the data
        let all: Vec<usize> = (0..data.ads.len()).collect();
        let (heads, untrained) = params.fit_heads(data, &vectors, &all, featurizer.width())?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            model_version: String::new(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            training_data: TrainingData { files: Vec::new(), sha256: String::new(), ads: data.ads.len(), counts: data.counts() },
            threshold: thresholds[0],
            indicator_thresholds: head_names().into_iter().zip(thresholds).skip(1).collect(),
            threshold_rule: match params.folds {
                0 => "fixed at 0.5: trained with --folds 0 (no cross-validation, no held-out figures)".into(),
                k => format!(
                    "highest threshold reaching recall >= {:.2} on {k}-fold cross-validated held-out scores of the training data",
                    params.target_recall
                ),
            },
            params: serde_json::to_value(&params).context("params")?,
            heads: head_names(),
            untrained_heads: untrained.iter().map(|&h| head_names()[h].clone()).collect(),
            metrics,
            training_seconds: started.elapsed().as_secs_f64(),
            files: BTreeMap::new(),
        };
        Ok(Model {
            featurizer,
            heads,
            thresholds,
            manifest,
        })
    }

    /// Scores every ad with heads that did not see it (k-fold, stratified), then chooses the
    /// thresholds on those scores and measures them. With 0 folds: thresholds 0.5, no figures.
    fn cross_validate(
        &self,
        data: &TrainingSet,
        vectors: &[FeatureVector],
        width: usize,
        log: &dyn Fn(&str),
    ) -> Result<([f32; HEADS], BTreeMap<String, Summary>)> {
        if self.folds == 0 {
            return Ok(([0.5; HEADS], BTreeMap::new()));
        }
        let folds = stratified_folds(data, self.folds);
        let mut held_out = vec![[0f32; HEADS]; data.ads.len()];
        for k in 0..self.folds {
            let train: Vec<usize> = (0..data.ads.len()).filter(|&i| folds[i] != k).collect();
            let (heads, _) = self.fit_heads(data, vectors, &train, width)?;
            for i in (0..data.ads.len()).filter(|&i| folds[i] == k) {
                held_out[i] = heads.ad_logits(&vectors[i]).map(sigmoid);
            }
            log(&format!("fold {}/{} done", k + 1, self.folds));
        }
        let outcomes: Vec<Outcome> = (0..data.ads.len())
            .map(|i| Outcome {
                lang: data.ads[i].lang(),
                probs: held_out[i],
                gold: data.targets(i),
            })
            .collect();
        let thresholds: [f32; HEADS] = std::array::from_fn(|h| {
            let s = head_scores(&outcomes, h, |_| true);
            if h == 0 {
                s.threshold_for_recall(self.target_recall)
            } else {
                s.best_f1_threshold()
            }
        });
        Ok((thresholds, report(&outcomes, &thresholds)))
    }

    /// Fits every head on the ads in `rows` (each text of an ad is one example). Returns the
    /// heads and the indices of heads left untrained for lack of positive examples.
    fn fit_heads(
        &self,
        data: &TrainingSet,
        vectors: &[FeatureVector],
        rows: &[usize],
        width: usize,
    ) -> Result<(Heads, Vec<usize>)> {
        let examples: Vec<(usize, usize)> = rows
            .iter()
            .flat_map(|&i| (0..vectors[i].fields.len()).map(move |f| (i, f)))
            .collect();
        let mut x = Array2::<f32>::zeros((examples.len(), width));
        for (row, &(i, f)) in examples.iter().enumerate() {
            let field = &vectors[i].fields[f];
            for &c in &field.columns {
                x[[row, c as usize]] = field.weight;
            }
        }
        let fitted: Vec<Result<Option<FittedHead>>> = (0..HEADS)
            .into_par_iter()
            .map(|h| {
                let y: Array1<bool> = examples.iter().map(|&(i, _)| data.targets(i)[h]).collect();
                self.fit_head(&x, y)
            })
            .collect();
        let mut weights = vec![0f32; width * HEADS];
        let mut intercepts = [0f32; HEADS];
        let mut untrained = Vec::new();
        for (h, result) in fitted.into_iter().enumerate() {
            match result.with_context(|| format!("fitting head {}", head_names()[h]))? {
                Some(head) => {
                    for (c, wc) in head.weights.into_iter().enumerate() {
                        weights[c * HEADS + h] = wc;
                    }
                    intercepts[h] = head.intercept;
                }
                None => {
                    untrained.push(h);
                    intercepts[h] = -10.0;
                }
            }
        }
        Ok((
            Heads {
                weights,
                intercepts,
            },
            untrained,
        ))
    }

    /// One logistic regression; `None` when there are too few positives (or negatives).
    fn fit_head(&self, x: &Array2<f32>, y: Array1<bool>) -> Result<Option<FittedHead>> {
        let pos = y.iter().filter(|&&b| b).count();
        if pos < self.min_positives || y.len() - pos < self.min_positives {
            return Ok(None);
        }
        let fitted = LogisticRegression::default()
            .alpha(self.alpha)
            .max_iterations(self.max_iterations)
            .fit(&DatasetBase::new(x.view(), y))?;
        // linfa 0.8.1 models P(majority class): flip the sign when `false` is the majority.
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        let weights = fitted.params().iter().map(|&v| sign * v).collect();
        Ok(Some(FittedHead {
            weights,
            intercept: sign * fitted.intercept(),
        }))
    }
}

/// One fitted logistic regression, as P(positive).
struct FittedHead {
    weights: Vec<f32>,
    intercept: f32,
}

/// The names of the heads, in weight-column order.
pub fn head_names() -> Vec<String> {
    std::iter::once("overall".to_string())
        .chain(Indicator::ALL.iter().map(|i| i.id().to_string()))
        .collect()
}

/// Assigns every ad to a fold, stratified by language and label, in a fixed order (ids hashed)
/// so that training is reproducible.
fn stratified_folds(data: &TrainingSet, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.ads.len()).collect();
    let hash = |i: usize| super::bundle::sha256_hex(data.ads[i].record.id.as_bytes());
    let keys: Vec<(String, bool, String)> = (0..data.ads.len())
        .map(|i| (data.lang_key(i), data.targets(i)[0], hash(i)))
        .collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    let mut folds = vec![0; data.ads.len()];
    for (rank, i) in order.into_iter().enumerate() {
        folds[i] = rank % k;
    }
    folds
}
