//! Stage 4 — networks: ads linked by shared contacts and near-duplicate wording.
//!
//! Two ads are **linked** when they print the same identifying contact ([`contacts`]) or when
//! their texts are the same template ([`templates`]: MinHash over character shingles, so it works
//! for Chinese, Russian, Spanish and English alike; an ad's translation is indexed too, so a
//! Spanish ad links to an English ad that is its translation). A **network** is a connected
//! component of all links; a **template cluster** is a component of template links alone. Both
//! are named by their oldest ad's id.
//!
//! A contact is **non-identifying** — it links nothing — when it is on the store's stop-list, or
//! when more than `common_share` of the store's ads (and at least `common_min` ads) carry it: a
//! newspaper's switchboard, a national hotline. Links are kept up to date as ads are submitted
//! ([`index::Linker`], inside the submit transaction, touching only matching index rows);
//! [`rebuild::rebuild`] recomputes everything, which is needed when a contact becomes common
//! after ads were already linked through it, or the stop-list or thresholds change.

pub mod buckets;
pub mod contacts;
pub mod export;
pub mod graph;
pub mod index;
pub mod rebuild;
pub mod score;
pub mod settings;
pub mod stats;
pub mod templates;
pub mod view;

use serde::Serialize;

use crate::ingest::Entities;
use crate::model::ScoredAd;
use templates::Signature;

/// At most this many of the most recent earlier ads of each LSH bucket are compared with an ad:
/// enough to join it to a template cluster (links are transitive), and it keeps a template
/// re-posted ten thousand times linear in cost.
pub const BUCKET_CANDIDATES: usize = 4;

/// What linking needs of one ad: its contact keys and the signatures of its text and translation.
#[derive(Debug, Clone, PartialEq)]
pub struct AdKeys {
    /// Store id.
    pub id: i64,
    /// Contact keys ([`contacts::contact_keys`]).
    pub contacts: Vec<String>,
    /// Signatures of the text and of the translation (when long enough).
    pub signatures: Vec<Signature>,
}

impl AdKeys {
    /// Keys of an ad from its entities and its normalized text and translation.
    pub fn new(id: i64, entities: &Entities, text: &str, translation: Option<&str>) -> Self {
        AdKeys {
            id,
            contacts: contacts::contact_keys(entities),
            signatures: [Some(text), translation]
                .into_iter()
                .flatten()
                .filter_map(templates::signature)
                .collect(),
        }
    }

    /// Keys of a scored ad about to be stored under `id`.
    pub fn of_scored(id: i64, ad: &ScoredAd) -> Self {
        let translation = ad.ad.translation.as_ref().map(|t| t.text.as_str());
        AdKeys::new(id, &ad.entities, &ad.ad.text.text, translation)
    }

    /// LSH band keys of all its signatures, deduplicated.
    pub fn bands(&self) -> Vec<i64> {
        let mut keys: Vec<i64> = self
            .signatures
            .iter()
            .flat_map(|s| templates::band_keys(s))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Highest similarity between any of its texts and any of `other`'s.
    pub fn similarity(&self, other: &[Signature]) -> f32 {
        self.signatures
            .iter()
            .flat_map(|a| other.iter().map(|b| templates::similarity(a, b)))
            .fold(0.0, f32::max)
    }
}

/// When a contact is too common to identify anyone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CommonRule {
    /// Share of the store's ads above which a contact is common.
    pub share: f64,
    /// A contact on fewer ads than this is never common (small stores).
    pub min_ads: usize,
}

impl CommonRule {
    /// Whether a contact on `carriers` of `total` ads is common.
    pub fn is_common(&self, carriers: usize, total: usize) -> bool {
        carriers >= self.min_ads && carriers as f64 > self.share * total as f64
    }
}

/// A store that can tell an ad's links: what the server shows on the ad page.
pub trait Links {
    /// The links of ad `id`, or `None` if it has not been linked yet.
    fn links(&self, id: i64) -> anyhow::Result<Option<view::AdLinks>>;
}

impl Links for crate::queue::SqlStore {
    fn links(&self, id: i64) -> anyhow::Result<Option<view::AdLinks>> {
        view::ad_links(self.db(), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_is_common_above_the_share_and_the_minimum() {
        let rule = CommonRule {
            share: 0.01,
            min_ads: 20,
        };
        assert!(rule.is_common(25, 1000));
        assert!(!rule.is_common(25, 10_000), "below the share");
        assert!(!rule.is_common(10, 100), "below the minimum");
    }
}
