//! Ranking and threshold metrics: PR-AUC (average precision), ROC-AUC, precision, recall, F1, and
//! a calibration table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::HEADS;
use crate::ingest::Lang;
use crate::taxonomy::Indicator;

/// Scores with their gold labels.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// Predicted probabilities.
    pub scores: Vec<f32>,
    /// Gold labels.
    pub labels: Vec<bool>,
}

impl Scored {
    /// Adds one prediction.
    pub fn push(&mut self, score: f32, label: bool) {
        self.scores.push(score);
        self.labels.push(label);
    }

    fn positives(&self) -> usize {
        self.labels.iter().filter(|&&l| l).count()
    }

    /// Indices sorted by score, highest first.
    fn ranked(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.scores.len()).collect();
        idx.sort_by(|&a, &b| self.scores[b].total_cmp(&self.scores[a]));
        idx
    }

    /// Average precision, with tied scores taken as one step (as scikit-learn does).
    pub fn pr_auc(&self) -> Option<f64> {
        let pos = self.positives();
        if pos == 0 || pos == self.labels.len() {
            return None;
        }
        let idx = self.ranked();
        let (mut tp, mut fp, mut ap) = (0usize, 0usize, 0.0f64);
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            let mut hits = 0;
            while j < idx.len() && self.scores[idx[j]] == self.scores[idx[i]] {
                hits += self.labels[idx[j]] as usize;
                j += 1;
            }
            tp += hits;
            fp += (j - i) - hits;
            ap += hits as f64 / pos as f64 * tp as f64 / (tp + fp) as f64;
            i = j;
        }
        Some(ap)
    }

    /// Area under the ROC curve: the chance a random positive outscores a random negative.
    pub fn roc_auc(&self) -> Option<f64> {
        let pos = self.positives();
        let neg = self.labels.len() - pos;
        if pos == 0 || neg == 0 {
            return None;
        }
        let mut idx: Vec<usize> = (0..self.scores.len()).collect();
        idx.sort_by(|&a, &b| self.scores[a].total_cmp(&self.scores[b]));
        let mut rank_sum = 0.0f64;
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j < idx.len() && self.scores[idx[j]] == self.scores[idx[i]] {
                j += 1;
            }
            let mid_rank = (i + j + 1) as f64 / 2.0;
            rank_sum += mid_rank * (i..j).filter(|&k| self.labels[idx[k]]).count() as f64;
            i = j;
        }
        Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
    }

    /// Precision, recall and F1 when flagging at `threshold`.
    pub fn at(&self, threshold: f32) -> AtThreshold {
        let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
        for (&s, &l) in self.scores.iter().zip(&self.labels) {
            match (s >= threshold, l) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fneg += 1,
                _ => {}
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fneg);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        AtThreshold {
            precision,
            recall,
            f1,
            flagged: tp + fp,
        }
    }

    /// The highest threshold at which recall is at least `recall` (the score of the positive at
    /// that rank), or 0.5 when there are no positives.
    pub fn threshold_for_recall(&self, recall: f64) -> f32 {
        let mut pos: Vec<f32> = self
            .scores
            .iter()
            .zip(&self.labels)
            .filter(|(_, &l)| l)
            .map(|(&s, _)| s)
            .collect();
        if pos.is_empty() {
            return 0.5;
        }
        pos.sort_by(|a, b| b.total_cmp(a));
        let need = ((recall * pos.len() as f64).ceil() as usize).clamp(1, pos.len());
        pos[need - 1]
    }

    /// The threshold with the best F1 (0.5 when there are no positives).
    pub fn best_f1_threshold(&self) -> f32 {
        let mut candidates: Vec<f32> = self.scores.clone();
        candidates.sort_by(f32::total_cmp);
        candidates.dedup();
        candidates
            .into_iter()
            .map(|t| (self.at(t).f1, t))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(f1, _)| *f1 > 0.0)
            .map_or(0.5, |(_, t)| t)
    }

    /// Predicted against observed rate in ten equal-width score buckets (empty buckets left out).
    pub fn calibration(&self) -> Vec<Bucket> {
        let mut buckets: Vec<Bucket> = (0..10)
            .map(|b| Bucket {
                low: b as f64 / 10.0,
                high: (b + 1) as f64 / 10.0,
                ..Bucket::default()
            })
            .collect();
        for (&s, &l) in self.scores.iter().zip(&self.labels) {
            let b = &mut buckets[((s * 10.0) as usize).min(9)];
            b.ads += 1;
            b.predicted += s as f64;
            b.observed += l as u8 as f64;
        }
        buckets
            .into_iter()
            .filter(|b| b.ads > 0)
            .map(|b| Bucket {
                predicted: b.predicted / b.ads as f64,
                observed: b.observed / b.ads as f64,
                ..b
            })
            .collect()
    }

    /// Every figure of this set at `threshold`.
    pub fn summary(&self, threshold: f32) -> Summary {
        Summary {
            ads: self.labels.len(),
            positives: self.positives(),
            pr_auc: self.pr_auc(),
            roc_auc: self.roc_auc(),
            at_threshold: self.at(threshold),
        }
    }
}

/// Figures at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AtThreshold {
    /// Share of flagged ads that are positive.
    pub precision: f64,
    /// Share of positive ads flagged.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Ads flagged.
    pub flagged: usize,
}

/// One calibration bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Bucket {
    /// Lower score bound.
    pub low: f64,
    /// Upper score bound.
    pub high: f64,
    /// Ads in the bucket.
    pub ads: usize,
    /// Mean predicted score.
    pub predicted: f64,
    /// Observed share of positives.
    pub observed: f64,
}

/// The figures of one slice of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Ads in the slice.
    pub ads: usize,
    /// Positive ads.
    pub positives: usize,
    /// Average precision (null with one class only).
    pub pr_auc: Option<f64>,
    /// ROC-AUC (null with one class only).
    pub roc_auc: Option<f64>,
    /// Precision, recall, F1 at the threshold.
    pub at_threshold: AtThreshold,
}

/// One labeled ad's scores for every head, with its gold targets.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// The ad's language.
    pub lang: Option<Lang>,
    /// Predicted probabilities, head by head.
    pub probs: [f32; HEADS],
    /// Gold targets, head by head.
    pub gold: [bool; HEADS],
}

/// Scores of head `h` over the outcomes `keep` selects.
pub fn head_scores(outcomes: &[Outcome], h: usize, keep: impl Fn(&Outcome) -> bool) -> Scored {
    let mut s = Scored::default();
    for o in outcomes.iter().filter(|o| keep(o)) {
        s.push(o.probs[h], o.gold[h]);
    }
    s
}

/// The figures of a set of outcomes at the heads' thresholds: `overall`, each language, each
/// indicator.
pub fn report(outcomes: &[Outcome], thresholds: &[f32; HEADS]) -> BTreeMap<String, Summary> {
    let mut m = BTreeMap::new();
    m.insert(
        "overall".into(),
        head_scores(outcomes, 0, |_| true).summary(thresholds[0]),
    );
    for lang in Lang::ALL {
        let s = head_scores(outcomes, 0, |o| o.lang == Some(lang));
        if !s.labels.is_empty() {
            m.insert(lang.code().into(), s.summary(thresholds[0]));
        }
    }
    for (k, ind) in Indicator::ALL.iter().enumerate() {
        m.insert(
            ind.id().into(),
            head_scores(outcomes, k + 1, |_| true).summary(thresholds[k + 1]),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(f32, bool)]) -> Scored {
        let mut s = Scored::default();
        for &(p, l) in pairs {
            s.push(p, l);
        }
        s
    }

    #[test]
    fn perfect_and_inverted_rankings() {
        let good = set(&[(0.9, true), (0.8, true), (0.2, false), (0.1, false)]);
        assert_eq!(good.pr_auc(), Some(1.0));
        assert_eq!(good.roc_auc(), Some(1.0));
        let bad = set(&[(0.1, true), (0.9, false)]);
        assert_eq!(bad.roc_auc(), Some(0.0));
        assert_eq!(bad.pr_auc(), Some(0.5));
    }

    #[test]
    fn average_precision_matches_hand_computation() {
        // ranks: + - + -  → AP = (1/1 + 2/3) / 2
        let s = set(&[(0.9, true), (0.8, false), (0.7, true), (0.1, false)]);
        assert!((s.pr_auc().unwrap() - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        assert!((s.roc_auc().unwrap() - 0.75).abs() < 1e-9);
    }

    #[test]
    fn threshold_reaches_the_recall() {
        let s = set(&[
            (0.9, true),
            (0.6, true),
            (0.5, false),
            (0.3, true),
            (0.1, false),
        ]);
        let t = s.threshold_for_recall(0.6);
        assert_eq!(t, 0.6);
        assert!(s.at(t).recall >= 0.6);
        assert_eq!(s.at(0.3).recall, 1.0);
    }
}
