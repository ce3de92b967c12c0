//! adscreen screens foreign print-media advertisements for signs of human trafficking.
//!
//! An ad goes through four stages, each in its own module, talking to the next through plain data:
//!
//! 1. [`ingest`] — read records (JSONL, CSV, text; errors name file and line), normalize the text,
//!    detect the language, extract phones, emails, URLs, messenger handles, money and ages →
//!    [`ingest::IngestedAd`].
//! 2. [`features`] — tokenize with a Hugging Face tokenizer trained on `corpora/` and turn the
//!    tokens into a sparse feature vector → [`features::FeatureVector`].
//! 3. [`model`] — an overall suspicion score and one score per indicator of the taxonomy, with the
//!    words that drove each score, flagged at the bundle's threshold → [`model::ScoredAd`].
//! 4. [`queue`] — store every ad, put flagged ones in the analysts' queue, record every triage
//!    decision; [`link`] ties ads into networks by shared contacts and near-duplicate wording.
//!
//! [`Screener::screen`] walks stages 1–3 for one record. [`report`] turns the store into quarterly
//! reports and exports.

pub mod db;
pub mod features;
pub mod ingest;
pub mod link;
pub mod model;
pub mod queue;
pub mod report;
pub mod server;
pub mod taxonomy;

use ingest::AdRecord;
use model::metrics::Outcome;
use model::train::TrainingSet;
use model::{Model, ScoredAd, HEADS};
use rayon::prelude::*;

/// Stages 1–3 behind one call: what `score` and `submit` run on every ad.
pub struct Screener {
    /// The loaded model bundle.
    pub model: Model,
    /// The submitting office, for the phone-region guess.
    pub office: Option<String>,
}

impl Screener {
    /// Screens one record.
    pub fn screen(&self, record: AdRecord) -> ScoredAd {
        // 1. ingest
        let ad = ingest::ingest(record, self.office.as_deref());
        // 2. features
        let features = self.model.featurizer.featurize(&ad);
        // 3. model
        self.model.score(ad, &features)
    }

    /// Screens labeled records on all cores and pairs every head's score with its gold target:
    /// what evaluation and promotion measure.
    pub fn evaluate(&self, records: Vec<AdRecord>) -> Vec<Outcome> {
        records
            .into_par_iter()
            .map(|r| {
                let gold = TrainingSet::gold(&r);
                let s = self.screen(r);
                let mut probs = [s.score; HEADS];
                probs[1..].copy_from_slice(&s.indicators.0);
                Outcome {
                    lang: s.ad.lang(),
                    probs,
                    gold,
                }
            })
            .collect()
    }
}
