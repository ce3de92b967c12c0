//! Tokenizing with char offsets, word by word through a per-thread cache.
//!
//! `Tokenizer::encode_char_offsets` rebuilds, for every text, the alignment bookkeeping of its
//! normalizer pipeline, a `String` per token and a byte → char map of the whole text; on ads that
//! is most of stage 2's time. Ads repeat their words, so this encoder runs only the
//! pre-tokenizer on the text, then looks each word up in a cache of its BPE pieces (with their
//! char offsets inside the word), asking the model only for words it has not seen. The result is
//! the same tokens with the same offsets as `encode_char_offsets` (a test compares them on the
//! corpora); texts the shortcut cannot handle exactly — a tokenizer with its own normalizer, or
//! text containing one of its added tokens such as `[UNK]` — take the full path.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokenizers::{
    Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

use super::Token;

/// Words kept per thread; past it, new words are tokenized without being remembered (a bound on
/// memory for inputs with endless distinct words, like long digit-free codes).
const CACHE_WORDS: usize = 200_000;

/// Gives every encoder its own cache identity.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A word's BPE pieces: (token id, first char, one past the last char), offsets within the word.
type Pieces = Box<[(u32, u32, u32)]>;

/// Words and their pieces.
type WordCache = HashMap<Box<str>, Pieces, foldhash::fast::RandomState>;

thread_local! {
    /// The current thread's cache, and the encoder it belongs to: a thread serves one model at a
    /// time in practice, so switching encoders just starts over.
    static CACHE: RefCell<(u64, WordCache)> = RefCell::new((u64::MAX, WordCache::default()));
}

/// A tokenizer that encodes through the per-word cache when it can do so exactly.
#[derive(Clone)]
pub struct Encoder {
    tokenizer: Tokenizer,
    /// Tells this encoder's cache entries from another's (clones share it: same tokenizer).
    id: u64,
    /// Whether the word shortcut gives exactly the full pipeline's result (no normalizer).
    cacheable: bool,
    /// Contents of the added tokens, which the full pipeline splits out before pre-tokenizing.
    added: Vec<String>,
}

impl Encoder {
    /// An encoder over a trained tokenizer.
    pub fn new(tokenizer: Tokenizer) -> Self {
        let added = tokenizer
            .get_added_tokens_decoder()
            .into_values()
            .map(|t| t.content)
            .collect();
        Encoder {
            cacheable: tokenizer.get_normalizer().is_none(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tokenizer,
            added,
        }
    }

    /// The tokenizer itself.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The tokens of `text` with char offsets; an empty or untokenizable text has none.
    pub fn encode(&self, text: &str) -> Vec<Token> {
        if !self.cacheable || self.added.iter().any(|a| text.contains(a.as_str())) {
            return self.encode_full(text);
        }
        let mut pre = PreTokenizedString::from(text);
        if let Some(p) = self.tokenizer.get_pre_tokenizer() {
            if p.pre_tokenize(&mut pre).is_err() {
                return self.encode_full(text);
            }
        }
        CACHE.with(|cell| {
            let (owner, cache) = &mut *cell.borrow_mut();
            if *owner != self.id {
                *owner = self.id;
                cache.clear();
            }
            let mut tokens = Vec::new();
            // Words come in order: count chars up to each word's start from the previous one.
            let (mut byte, mut char) = (0, 0);
            for (word, (start, _), _) in
                pre.get_splits(OffsetReferential::Original, OffsetType::Byte)
            {
                char += text[byte..start].chars().count();
                byte = start;
                let base = char as u32;
                let mut emit = |pieces: &[(u32, u32, u32)]| {
                    tokens.extend(pieces.iter().map(|&(id, s, e)| Token {
                        id,
                        start: (base + s) as usize,
                        end: (base + e) as usize,
                    }))
                };
                match cache.get(word) {
                    Some(pieces) => emit(pieces),
                    None => {
                        let Some(pieces) = self.pieces(word) else {
                            return self.encode_full(text);
                        };
                        emit(&pieces);
                        if cache.len() < CACHE_WORDS {
                            cache.insert(word.into(), pieces);
                        }
                    }
                }
            }
            tokens
        })
    }

    /// A word's pieces from the model, with char offsets within the word.
    fn pieces(&self, word: &str) -> Option<Pieces> {
        let tokens = self.tokenizer.get_model().tokenize(word).ok()?;
        let char_at = |b: usize| word[..b].chars().count() as u32;
        Some(
            tokens
                .iter()
                .map(|t| (t.id, char_at(t.offsets.0), char_at(t.offsets.1)))
                .collect(),
        )
    }

    /// The tokenizer's own pipeline.
    fn encode_full(&self, text: &str) -> Vec<Token> {
        let Ok(enc) = self.tokenizer.encode_char_offsets(text, false) else {
            return Vec::new();
        };
        enc.get_ids()
            .iter()
            .zip(enc.get_offsets())
            .map(|(&id, &(start, end))| Token { id, start, end })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{mask_digits, tokenizer_from_bytes};
    use crate::ingest::normalize;

    #[test]
    fn gives_the_full_pipelines_tokens_and_offsets() {
        let root = env!("CARGO_MANIFEST_DIR");
        let bytes = std::fs::read(format!("{root}/models/default/tokenizer.json")).unwrap();
        let encoder = Encoder::new(tokenizer_from_bytes(&bytes).unwrap());
        let mut texts: Vec<String> = [
            "",
            "   ",
            "[UNK] 包吃包住[UNK]x",
            "Ｗｈａｔｓａｐｐ：+52 55 1234 5678 — ¡Trabajo en EE.UU.! 🙂🙂 月入过万USD3000 ok",
            "здравствуйте,девушки!!! 18-25 лет\tработа\u{00a0}в Дубае",
        ]
        .map(String::from)
        .to_vec();
        for entry in std::fs::read_dir(format!("{root}/corpora/test")).unwrap() {
            let file = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in file.lines() {
                let ad: serde_json::Value = serde_json::from_str(line).unwrap();
                texts.push(ad["text"].as_str().unwrap().to_string());
            }
        }
        for text in &texts {
            let prepared = mask_digits(&normalize(text).text).into_owned();
            // twice: the second time every word comes from the cache
            for _ in 0..2 {
                assert_eq!(
                    encoder.encode(&prepared),
                    encoder.encode_full(&prepared),
                    "{prepared}"
                );
            }
        }
    }
}
