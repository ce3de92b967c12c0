//! Stage 2 — features: tokens and the sparse vector the classifiers read.
//!
//! The tokenizer is a Hugging Face BPE trained on `corpora/` over text that stage 1 normalized
//! (so `tokenizer.json` has no normalizer of its own). Its pre-tokenizer splits on whitespace,
//! punctuation and script changes, so Chinese without spaces becomes multi-character pieces
//! (`包吃包住`) learned from the corpus. Features are the token ids and the pairs of adjacent ids,
//! kept when they occur in at least `min_df` training texts; a text's vector is binary and
//! L2-normalized, so a long portal ad does not score higher for being long.

mod encode;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::unicode_scripts::UnicodeScripts;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use crate::ingest::{IngestedAd, Normalized};
use encode::Encoder;

/// The token standing for characters the tokenizer never saw in training.
const UNK: &str = "[UNK]";

/// Marks a unigram in a [`FeatureKey`].
const UNIGRAM: u32 = u32::MAX;

/// A feature: `(token, UNIGRAM)` or `(token, next token)`.
pub type FeatureKey = (u32, u32);

/// Which text of the ad a field's features come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The ad as printed.
    Text,
    /// The supplied translation.
    Translation,
}

/// A token with its char offsets in the normalized text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Vocabulary id.
    pub id: u32,
    /// First char, in the normalized text.
    pub start: usize,
    /// One past the last char, in the normalized text.
    pub end: usize,
}

/// The feature columns one token starts: its unigram's, and the bigram's it forms with the next
/// token (`None` when the feature is not in the vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenColumns {
    /// Column of `(token, UNIGRAM)`.
    pub unigram: Option<u32>,
    /// Column of `(token, next token)`; `None` for the last token.
    pub bigram: Option<u32>,
}

/// The features of one text of an ad.
#[derive(Debug, Clone)]
pub struct FieldFeatures {
    /// Which text.
    pub field: Field,
    /// Its tokens, in order.
    pub tokens: Vec<Token>,
    /// Per token, the columns it starts (`token_columns[i]` for `tokens[i]`): looked up once
    /// here, so that evidence can share each token's weights out without a second lookup.
    pub token_columns: Vec<TokenColumns>,
    /// Feature columns present, sorted and unique; each has the value `weight`.
    pub columns: Vec<u32>,
    /// The value of every present column (binary features, L2-normalized).
    pub weight: f32,
}

/// The features of an ad: its text, and its translation when it has one.
#[derive(Debug, Clone)]
pub struct FeatureVector {
    /// One entry per text.
    pub fields: Vec<FieldFeatures>,
}

/// Turns normalized text into features: the tokenizer plus the feature vocabulary.
#[derive(Clone)]
pub struct Featurizer {
    encoder: Encoder,
    /// The column of each token's unigram, indexed by token id: every token asks, and an index
    /// costs far less than hashing the key.
    unigrams: Vec<Option<u32>>,
    /// The columns of the bigrams.
    bigrams: HashMap<FeatureKey, u32, foldhash::fast::RandomState>,
    keys: Vec<FeatureKey>,
}

impl Featurizer {
    /// A featurizer over a trained tokenizer and a feature vocabulary (column i is `keys[i]`).
    pub fn new(tokenizer: Tokenizer, keys: Vec<FeatureKey>) -> Self {
        let mut unigrams = Vec::new();
        let mut bigrams = HashMap::default();
        // A key listed twice keeps its last column, as a map built from the list would.
        for (column, &(id, next)) in (0u32..).zip(&keys) {
            if next != UNIGRAM {
                bigrams.insert((id, next), column);
                continue;
            }
            let id = id as usize;
            if unigrams.len() <= id {
                unigrams.resize(id + 1, None);
            }
            unigrams[id] = Some(column);
        }
        Featurizer {
            encoder: Encoder::new(tokenizer),
            unigrams,
            bigrams,
            keys,
        }
    }

    /// Saves `tokenizer.json`.
    pub fn save_tokenizer(&self, path: &Path) -> Result<()> {
        self.encoder
            .tokenizer()
            .save(path, false)
            .map_err(|e| anyhow!("cannot save tokenizer {}: {e}", path.display()))
    }

    /// The feature vocabulary, column by column.
    pub fn keys(&self) -> &[FeatureKey] {
        &self.keys
    }

    /// The number of feature columns.
    pub fn width(&self) -> usize {
        self.keys.len()
    }

    /// Tokenizes a normalized text.
    pub fn tokens(&self, text: &Normalized) -> Vec<Token> {
        self.encoder.encode(&mask_digits(&text.text))
    }

    /// The features of an ad's text and translation.
    pub fn featurize(&self, ad: &IngestedAd) -> FeatureVector {
        let mut fields = vec![self.field(Field::Text, &ad.text)];
        if let Some(t) = &ad.translation {
            fields.push(self.field(Field::Translation, t));
        }
        FeatureVector { fields }
    }

    /// The features of one normalized text.
    pub fn field(&self, field: Field, text: &Normalized) -> FieldFeatures {
        let tokens = self.tokens(text);
        let token_columns: Vec<TokenColumns> = (0..tokens.len())
            .map(|i| TokenColumns {
                unigram: self.unigrams.get(tokens[i].id as usize).copied().flatten(),
                bigram: tokens
                    .get(i + 1)
                    .and_then(|n| self.bigrams.get(&(tokens[i].id, n.id)).copied()),
            })
            .collect();
        let mut columns: Vec<u32> = token_columns
            .iter()
            .flat_map(|t| [t.unigram, t.bigram])
            .flatten()
            .collect();
        columns.sort_unstable();
        columns.dedup();
        let weight = if columns.is_empty() {
            0.0
        } else {
            1.0 / (columns.len() as f32).sqrt()
        };
        FieldFeatures {
            field,
            tokens,
            token_columns,
            columns,
            weight,
        }
    }
}

impl FieldFeatures {
    /// The columns token `i` takes part in, with its share of each: all of its unigram, half of
    /// each bigram with a neighbour (in that order: unigram, bigram with the previous token,
    /// bigram with the next).
    pub fn token_shares(&self, i: usize) -> impl Iterator<Item = (u32, f32)> {
        let own = self.token_columns[i];
        let prev = i.checked_sub(1).and_then(|p| self.token_columns[p].bigram);
        [(own.unigram, 1.0), (prev, 0.5), (own.bigram, 0.5)]
            .into_iter()
            .filter_map(|(c, share)| Some((c?, share)))
    }
}

/// Masks the digits of every run of three or more with `0`, char for char (offsets stay valid).
///
/// Phone numbers, prices and licence numbers differ in every ad; their exact digits teach the
/// model nothing that carries over (and writers' habits, like `555` numbers, that mislead it),
/// while their shape does. One- and two-digit numbers (ages, hours) are kept.
pub fn mask_digits(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out: Option<Vec<u8>> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |p| i + p);
        if end - i >= 3 && bytes[i..end].iter().any(|&b| b != b'0') {
            out.get_or_insert_with(|| bytes.to_vec())[i..end].fill(b'0');
        }
        i = end;
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(masked) => std::borrow::Cow::Owned(
            String::from_utf8(masked).expect("ASCII digits replaced by ASCII digits"),
        ),
    }
}

/// Every feature key of a token sequence: unigrams and adjacent pairs, with repeats.
pub fn feature_keys(tokens: &[Token]) -> impl Iterator<Item = FeatureKey> + '_ {
    let unigrams = tokens.iter().map(|t| (t.id, UNIGRAM));
    let bigrams = tokens.windows(2).map(|w| (w[0].id, w[1].id));
    unigrams.chain(bigrams)
}

/// The pre-tokenizer of adscreen's tokenizers: split on whitespace and punctuation, then where
/// the script changes (so Chinese without spaces becomes pieces of its own).
fn pre_tokenizer() -> PreTokenizerWrapper {
    Sequence::new(vec![Whitespace {}.into(), UnicodeScripts::new().into()]).into()
}

/// Trains the BPE tokenizer on normalized texts.
pub fn train_tokenizer(texts: &[&str], vocab_size: usize) -> Result<Tokenizer> {
    let model = BPE::builder()
        .unk_token(UNK.into())
        .fuse_unk(true)
        .build()
        .map_err(|e| anyhow!("BPE: {e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer()));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(UNK, true)])
        .build()
        .into();
    tokenizer
        .train(
            &mut trainer,
            texts.iter().map(|t| mask_digits(t).into_owned()),
        )
        .map_err(|e| anyhow!("training the tokenizer: {e}"))?;
    Ok(tokenizer)
}

/// Chooses the feature vocabulary: keys found in at least `min_df` of the token sequences, most
/// frequent first, at most `max_features`.
pub fn select_features(docs: &[Vec<Token>], min_df: usize, max_features: usize) -> Vec<FeatureKey> {
    let mut df: HashMap<FeatureKey, usize> = HashMap::new();
    for tokens in docs {
        let mut keys: Vec<FeatureKey> = feature_keys(tokens).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            *df.entry(k).or_default() += 1;
        }
    }
    let mut kept: Vec<(FeatureKey, usize)> = df.into_iter().filter(|&(_, n)| n >= min_df).collect();
    kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(max_features);
    kept.into_iter().map(|(k, _)| k).collect()
}

/// Reads a tokenizer and checks it is one this version can use.
pub fn tokenizer_from_bytes(bytes: &[u8]) -> Result<Tokenizer> {
    let text = std::str::from_utf8(bytes).context("tokenizer.json is not UTF-8")?;
    text.parse::<Tokenizer>()
        .map_err(|e| anyhow!("tokenizer.json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::normalize;

    fn corpus() -> Vec<Normalized> {
        [
            "包吃包住 月入过万 招聘女服务员",
            "包吃包住 工厂招聘 月入过万",
            "se busca personal para hotel, pasaje pagado",
            "se busca chofer con licencia",
            "требуются девушки, проживание бесплатно",
        ]
        .iter()
        .map(|t| normalize(t))
        .collect()
    }

    #[test]
    fn masks_long_digit_runs_only() {
        assert_eq!(
            mask_digits("tel 0917 555 0101, 18-25 años, $3,500"),
            "tel 0000 000 0000, 18-25 años, $3,000"
        );
        assert_eq!(mask_digits("电话13800138000"), "电话00000000000");
        assert!(matches!(
            mask_digits("sin números"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn learns_chinese_pieces_and_maps_offsets() {
        let docs = corpus();
        let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        let tok = train_tokenizer(&texts, 300).unwrap();
        let f = Featurizer::new(tok, vec![]);
        let text = normalize("急招：包吃包住");
        let tokens = f.tokens(&text);
        let pieces: Vec<String> = tokens
            .iter()
            .map(|t| {
                text.text
                    .chars()
                    .skip(t.start)
                    .take(t.end - t.start)
                    .collect()
            })
            .collect();
        assert!(pieces.contains(&"包吃包住".to_string()), "{pieces:?}");
    }

    #[test]
    fn vectors_are_binary_and_normalized() {
        let docs = corpus();
        let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        let tok = train_tokenizer(&texts, 300).unwrap();
        let plain = Featurizer::new(tok, vec![]);
        let seqs: Vec<_> = docs.iter().map(|d| plain.tokens(d)).collect();
        let keys = select_features(&seqs, 2, 1000);
        assert!(!keys.is_empty());
        let f = Featurizer::new(plain.encoder.tokenizer().clone(), keys);
        let v = f.field(Field::Text, &normalize("包吃包住 包吃包住 月入过万"));
        assert!(!v.columns.is_empty());
        let norm: f32 = v.columns.iter().map(|_| v.weight * v.weight).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
