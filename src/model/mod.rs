//! Stage 3 — model: an overall suspicion score and one score per indicator, with evidence.
//!
//! A model is a set of logistic-regression heads (trained with linfa-logistic) over the sparse
//! features of stage 2: head 0 is the overall label, heads 1–11 the indicators of the taxonomy.
//! An ad with a translation is scored on both texts and the two logits are averaged, so an
//! officer's English rendering counts as much as the original. Evidence is read from the same
//! weights that made the score (see [`explain`]).

pub mod bundle;
pub mod explain;
pub mod json;
pub mod metrics;
pub mod promote;
pub mod train;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::features::{FeatureVector, Featurizer, FieldFeatures};
use crate::ingest::{Entities, IngestedAd, Lang};
use crate::taxonomy::Indicator;

pub use bundle::Manifest;
pub use explain::Evidence;
pub use train::{TrainParams, TrainingSet};

/// Number of heads: the overall label plus one per indicator.
pub const HEADS: usize = 1 + Indicator::ALL.len();

/// The weights of every head, laid out feature by feature (`weights[c * HEADS + h]`), so that one
/// pass over an ad's feature columns accumulates all heads.
#[derive(Debug, Clone, PartialEq)]
pub struct Heads {
    /// Feature-major weights, `width × HEADS`.
    pub weights: Vec<f32>,
    /// One intercept per head.
    pub intercepts: [f32; HEADS],
}

impl Heads {
    /// The weight of column `c` in head `h`.
    pub fn weight(&self, c: u32, h: usize) -> f32 {
        self.weights[c as usize * HEADS + h]
    }

    /// Logits of every head for one text.
    pub fn logits(&self, f: &FieldFeatures) -> [f32; HEADS] {
        let mut z = [0f32; HEADS];
        for &c in &f.columns {
            let row = &self.weights[c as usize * HEADS..(c as usize + 1) * HEADS];
            for (zh, w) in z.iter_mut().zip(row) {
                *zh += w;
            }
        }
        std::array::from_fn(|h| self.intercepts[h] + f.weight * z[h])
    }

    /// Logits of every head for an ad: the mean over its texts.
    pub fn ad_logits(&self, v: &FeatureVector) -> [f32; HEADS] {
        let mut sum = [0f32; HEADS];
        for field in &v.fields {
            for (s, z) in sum.iter_mut().zip(self.logits(field)) {
                *s += z;
            }
        }
        let n = v.fields.len().max(1) as f32;
        sum.map(|s| s / n)
    }
}

/// A loaded model bundle: featurizer, heads, threshold and manifest.
#[derive(Clone)]
pub struct Model {
    /// Stage 2 for this model.
    pub featurizer: Featurizer,
    /// The classifier weights.
    pub heads: Heads,
    /// Per head, the score at or above which it is flagged: the overall threshold first, then
    /// each indicator's.
    pub thresholds: [f32; HEADS],
    /// What the bundle says about itself.
    pub manifest: Manifest,
}

/// The logistic function.
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl Model {
    /// Scores an ingested ad. Evidence is computed only for what is shown: the heads at or above
    /// their thresholds (the overall score of a flagged ad, the flagged indicators).
    pub fn score(&self, ad: IngestedAd, features: &FeatureVector) -> ScoredAd {
        let probs = self.heads.ad_logits(features).map(sigmoid);
        let shown: Vec<usize> = (0..HEADS)
            .filter(|&h| probs[h] >= self.thresholds[h])
            .collect();
        let evidence = explain::evidence(self, &ad, features, &shown);
        let flagged_indicators = shown
            .iter()
            .filter_map(|h| h.checked_sub(1))
            .map(|k| Indicator::ALL[k])
            .collect();
        ScoredAd {
            id: ad.record.id.clone(),
            lang: ad.detected.lang,
            lang_declared: ad.record.lang,
            lang_confidence: ad.detected.confidence,
            lang_mismatch: ad.lang_mismatch(),
            score: probs[0],
            flagged: probs[0] >= self.thresholds[0],
            indicators: IndicatorScores(std::array::from_fn(|i| probs[i + 1])),
            flagged_indicators,
            evidence,
            entities: ad.entities.clone(),
            model_version: self.manifest.model_version.clone(),
            ad,
        }
    }
}

/// The score of each indicator, in taxonomy order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorScores(pub [f32; Indicator::ALL.len()]);

impl Serialize for IndicatorScores {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (i, p) in Indicator::ALL.iter().zip(self.0) {
            map.serialize_entry(i.id(), &round3(p))?;
        }
        map.end()
    }
}

/// Scores are printed to three decimals: more is noise, and it keeps output diffable.
pub fn round3(x: f32) -> f64 {
    (x as f64 * 1000.0).round() / 1000.0
}

/// Serializes a score to three decimals (see [`round3`]).
pub fn serialize_round3<S: Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round3(*x))
}

/// One ad after stage 3, in the shape `adscreen score` prints (see DESIGN.md).
#[derive(Debug, Clone, Serialize)]
pub struct ScoredAd {
    /// The record's id.
    pub id: String,
    /// Detected language (null when the text has too few letters to tell).
    pub lang: Option<Lang>,
    /// The language the submitter declared, if any.
    pub lang_declared: Option<Lang>,
    /// Confidence of the detection, 0 to 1.
    #[serde(serialize_with = "serialize_round3")]
    pub lang_confidence: f32,
    /// True when the declared and the detected language differ.
    pub lang_mismatch: bool,
    /// Probability that an analyst would call the ad suspicious.
    #[serde(serialize_with = "serialize_round3")]
    pub score: f32,
    /// `score` at or above the model's threshold.
    pub flagged: bool,
    /// One probability per indicator.
    pub indicators: IndicatorScores,
    /// The indicators at or above their own thresholds (chosen in training for F1).
    pub flagged_indicators: Vec<Indicator>,
    /// The words that drove the overall score (flagged ads) and each high indicator.
    pub evidence: Vec<Evidence>,
    /// Contacts, money and ages.
    pub entities: Entities,
    /// The model that scored it.
    pub model_version: String,
    /// The ingested ad, for the store.
    #[serde(skip)]
    pub ad: IngestedAd,
}
