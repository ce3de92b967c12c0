//! Evidence: the spans of the ad that pushed a head's score up, read from the head's own weights.
//!
//! Each token gets the weights of the features it takes part in (its unigram in full, each bigram
//! it belongs to by half). Adjacent tokens with a positive share merge into one span, so an
//! analyst sees `le adelantamos el pasaje`, not four loose words. Offsets are characters of the
//! original text (or translation), through the normalizer's map.

use serde::Serialize;

use super::{Model, HEADS};
use crate::features::{FeatureVector, Field, FieldFeatures};
use crate::ingest::{IngestedAd, Normalized};
use crate::taxonomy::Indicator;

/// Spans shown per head and text.
const SPANS_PER_HEAD: usize = 3;

/// A token counts toward a span when its share is at least this fraction of the top token's.
const MIN_SHARE: f32 = 0.2;

/// A span is shown when its weight is at least this fraction of the head's strongest span: weak
/// spans (a preposition that leans positive) explain nothing to an analyst.
const MIN_SPAN_SHARE: f32 = 0.35;

/// One span of an ad that raised a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// `text` or `translation`.
    pub field: Field,
    /// First char of the span in that field's original text.
    pub start: usize,
    /// One past the last char.
    pub end: usize,
    /// The span as printed.
    pub text: String,
    /// The indicator whose score it raised; null for the overall score.
    pub indicator: Option<Indicator>,
    /// Its contribution to the head's logit.
    pub weight: f32,
}

/// Evidence for the heads in `heads` (0 = overall), strongest first within each head.
pub fn evidence(
    model: &Model,
    ad: &IngestedAd,
    v: &FeatureVector,
    heads: &[usize],
) -> Vec<Evidence> {
    let mut out = Vec::new();
    if heads.is_empty() {
        return out;
    }
    let n_fields = v.fields.len().max(1) as f32;
    // What every head needs of a field, computed once per field rather than once per head.
    let texts: Vec<FieldText> = v.fields.iter().map(|f| FieldText::new(ad, f)).collect();
    for &h in heads {
        let mut spans: Vec<Span> = v
            .fields
            .iter()
            .zip(&texts)
            .enumerate()
            .flat_map(|(k, (f, t))| spans_of(k, f, &token_shares(model, f, h, n_fields), t))
            .collect();
        spans.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let floor = spans.first().map_or(0.0, |s| s.weight * MIN_SPAN_SHARE);
        spans.retain(|s| s.weight >= floor);
        spans.truncate(SPANS_PER_HEAD);
        out.extend(
            spans
                .iter()
                .map(|s| s.evidence(&v.fields[s.field], &texts[s.field], h)),
        );
    }
    out
}

/// A run of strong tokens, `first..=last` of field number `field`, with its rounded weight: a
/// candidate span. Only the few a head shows become [`Evidence`], with their text.
struct Span {
    field: usize,
    first: usize,
    last: usize,
    weight: f32,
}

impl Span {
    /// The span widened to whole words of the original, as shown for head `h`.
    fn evidence(&self, f: &FieldFeatures, text: &FieldText, h: usize) -> Evidence {
        let chars = &text.chars;
        let (start, end) = whole_words(
            chars,
            text.norm
                .original_span(f.tokens[self.first].start, f.tokens[self.last].end),
        );
        Evidence {
            field: f.field,
            start,
            end,
            text: chars[start..end].iter().collect(),
            indicator: h.checked_sub(1).map(|k| Indicator::ALL[k]),
            weight: self.weight,
        }
    }
}

/// A field's original characters, its map from normalized to original, and which of its tokens
/// contain a letter or digit (punctuation never starts or ends a span): what every head needs.
struct FieldText<'a> {
    norm: &'a Normalized,
    chars: Vec<char>,
    wordy: Vec<bool>,
}

impl<'a> FieldText<'a> {
    fn new(ad: &'a IngestedAd, f: &FieldFeatures) -> Self {
        let (norm, original) = field_texts(ad, f.field);
        let norm_chars: Vec<char> = norm.text.chars().collect();
        let wordy = f
            .tokens
            .iter()
            .map(|t| {
                norm_chars
                    .get(t.start..t.end.min(norm_chars.len()))
                    .is_some_and(|cs| cs.iter().any(|c| c.is_alphanumeric()))
            })
            .collect();
        FieldText {
            norm,
            chars: original.chars().collect(),
            wordy,
        }
    }
}

/// The normalized and the original text of a field.
fn field_texts(ad: &IngestedAd, field: Field) -> (&Normalized, &str) {
    match (field, &ad.translation, &ad.record.translation) {
        (Field::Translation, Some(n), Some(t)) => (n, t.text.as_str()),
        _ => (&ad.text, ad.record.text.as_str()),
    }
}

/// Each token's share of head `h`'s logit, from the columns featurization found for it.
fn token_shares(model: &Model, f: &FieldFeatures, h: usize, n_fields: f32) -> Vec<f32> {
    debug_assert!(h < HEADS);
    (0..f.tokens.len())
        .map(|i| {
            let sum: f32 = f
                .token_shares(i)
                .map(|(c, share)| share * model.heads.weight(c, h))
                .sum();
            sum * f.weight / n_fields
        })
        .collect()
}

/// Merges runs of adjacent tokens of field number `field` with a strong positive share into
/// spans, and trims punctuation off their ends.
fn spans_of(field: usize, f: &FieldFeatures, shares: &[f32], text: &FieldText) -> Vec<Span> {
    let has_word = |i: usize| text.wordy[i];
    let top = (0..shares.len())
        .filter(|&i| has_word(i))
        .map(|i| shares[i])
        .fold(0.0f32, f32::max);
    if top <= 0.0 {
        return Vec::new();
    }
    let strong = |i: usize| shares[i] >= top * MIN_SHARE;
    let mut spans = Vec::new();
    let mut i = 0;
    while i < f.tokens.len() {
        if !strong(i) || !has_word(i) {
            i += 1;
            continue;
        }
        let first = i;
        let mut last = i;
        while i + 1 < f.tokens.len()
            && strong(i + 1)
            && f.tokens[i + 1].start <= f.tokens[i].end + 1
        {
            i += 1;
            if has_word(i) {
                last = i;
            }
        }
        let weight: f32 = shares[first..=last].iter().sum();
        spans.push(Span {
            field,
            first,
            last,
            weight: (weight * 1000.0).round() / 1000.0,
        });
        i += 1;
    }
    spans
}

/// Widens a span so it does not cut a word of a spaced script (Chinese has no word boundaries to
/// widen to, and its tokens are already the learned pieces).
fn whole_words(chars: &[char], (mut start, mut end): (usize, usize)) -> (usize, usize) {
    let in_word = |c: char| c.is_alphanumeric() && !is_cjk(c);
    while start > 0 && start < chars.len() && in_word(chars[start]) && in_word(chars[start - 1]) {
        start -= 1;
    }
    end = end.min(chars.len());
    while end > start && end < chars.len() && in_word(chars[end - 1]) && in_word(chars[end]) {
        end += 1;
    }
    (start, end)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ac00}'..='\u{d7af}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widens_to_whole_words_but_not_in_chinese() {
        let chars: Vec<char> = "Salida inmediata!".chars().collect();
        assert_eq!(whole_words(&chars, (0, 9)), (0, 16));
        let zh: Vec<char> = "包吃包住月入过万".chars().collect();
        assert_eq!(whole_words(&zh, (0, 4)), (0, 4));
    }
}
