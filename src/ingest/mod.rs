//! Stage 1 — ingest: read records, normalize their text, detect the language, extract entities.
//!
//! The output of this stage, an [`IngestedAd`], is all that later stages see of the input.

pub mod entities;
pub mod language;
pub mod normalize;
pub mod read;
pub mod record;

pub use entities::Entities;
pub use language::{Detected, Lang};
pub use normalize::{normalize, Normalized};
pub use read::{records, Format, Rejection, SourcedRecord};
pub use record::{AdRecord, Translation, MAX_TEXT_BYTES};

/// One ad after stage 1: the record as submitted plus what was derived from its text.
#[derive(Debug, Clone)]
pub struct IngestedAd {
    /// The record as submitted (original text kept for display).
    pub record: AdRecord,
    /// Language detected from the text.
    pub detected: Detected,
    /// The normalized text, with its map back to the original.
    pub text: Normalized,
    /// The normalized translation, if there is one.
    pub translation: Option<Normalized>,
    /// Contacts, money and ages found in the text and the translation.
    pub entities: Entities,
}

impl IngestedAd {
    /// The language the ad is filed under: the declared one if given, else the detected one.
    pub fn lang(&self) -> Option<Lang> {
        self.record.lang.or(self.detected.lang)
    }

    /// True when a declared language disagrees with a detected one.
    pub fn lang_mismatch(&self) -> bool {
        matches!((self.record.lang, self.detected.lang), (Some(d), Some(l)) if d != l)
    }
}

/// Runs stage 1 on one record. `office` is the submitting office, used (when the record names
/// none) to guess the country of phone numbers printed without a country code.
pub fn ingest(record: AdRecord, office: Option<&str>) -> IngestedAd {
    // 1. normalize
    let text = normalize(&record.text);
    let translation = record.translation.as_ref().map(|t| normalize(&t.text));
    // 2. language, from the original text (whatlang uses case and script)
    let detected = language::detect(&record.text);
    // 3. entities, from the normalized texts (dodged contacts rejoined)
    let lang = record.lang.or(detected.lang).map_or("", Lang::code);
    let region = entities::default_region(record.office.as_deref().or(office), lang);
    let mut found = entities::extract(&text.text, region);
    if let Some(t) = &translation {
        found.merge(entities::extract(&t.text, region));
    }
    IngestedAd {
        record,
        detected,
        text,
        translation,
        entities: found,
    }
}
