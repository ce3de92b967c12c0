//! Tokenizing with char offsets, run by run through a per-thread cache.
//!
//! `Tokenizer::encode_char_offsets` rebuilds, for every text, the alignment bookkeeping of its
//! normalizer pipeline, a `String` per token and a byte → char map of the whole text; even its
//! pre-tokenizer alone (`Whitespace` then `UnicodeScripts`, each split an allocated
//! `NormalizedString`) costs more than the rest of stage 2. Ads repeat their words, so this
//! encoder splits the text itself into the runs the `Whitespace` pre-tokenizer makes (maximal
//! runs of word characters, or of other non-space characters) and looks each run up in a cache
//! of its BPE pieces (with their char offsets inside the run). Only a run it has not seen goes
//! through the tokenizer's own pre-tokenizer and model. The result is the same tokens with the
//! same offsets as `encode_char_offsets` (tests compare them on the corpora and check the run
//! splitter against the `Whitespace` pattern on every char); texts the shortcut cannot handle
//! exactly — a tokenizer with its own normalizer or another pre-tokenizer, or text containing
//! one of its added tokens such as `[UNK]` — take the full path.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokenizers::{
    Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

use super::{pre_tokenizer, Token};

/// Runs kept per thread; past it, new runs are tokenized without being remembered (a bound on
/// memory for inputs with endless distinct words, like long digit-free codes).
const CACHE_RUNS: usize = 200_000;

/// Gives every encoder its own cache identity.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A run's BPE pieces: (token id, first char, one past the last char), offsets within the run.
type Pieces = Box<[(u32, u32, u32)]>;

/// Runs and their pieces.
type RunCache = HashMap<Box<str>, Pieces, foldhash::fast::RandomState>;

thread_local! {
    /// The current thread's cache, and the encoder it belongs to: a thread serves one model at a
    /// time in practice, so switching encoders just starts over.
    static CACHE: RefCell<(u64, RunCache)> = RefCell::new((u64::MAX, RunCache::default()));
}

/// A tokenizer that encodes through the per-run cache when it can do so exactly.
#[derive(Clone)]
pub struct Encoder {
    tokenizer: Tokenizer,
    /// Tells this encoder's cache entries from another's (clones share it: same tokenizer).
    id: u64,
    /// Whether the run shortcut gives exactly the full pipeline's result: no normalizer, and the
    /// pre-tokenizer adscreen trains with (its first step is the split [`runs`] reproduces).
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
            cacheable: tokenizer.get_normalizer().is_none()
                && tokenizer.get_pre_tokenizer() == Some(&pre_tokenizer()),
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
        CACHE.with(|cell| {
            let (owner, cache) = &mut *cell.borrow_mut();
            if *owner != self.id {
                *owner = self.id;
                cache.clear();
            }
            let mut tokens = Vec::new();
            for run in runs(text) {
                let word = &text[run.start..run.end];
                let base = run.first_char as u32;
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
                        if cache.len() < CACHE_RUNS {
                            cache.insert(word.into(), pieces);
                        }
                    }
                }
            }
            tokens
        })
    }

    /// A run's pieces from the tokenizer's own pre-tokenizer and model, with char offsets within
    /// the run. The pre-tokenizer's first step keeps a run whole; the next may split it by script.
    fn pieces(&self, run: &str) -> Option<Pieces> {
        let mut pre = PreTokenizedString::from(run);
        self.tokenizer
            .get_pre_tokenizer()?
            .pre_tokenize(&mut pre)
            .ok()?;
        let char_at = |b: usize| run[..b].chars().count() as u32;
        let mut pieces = Vec::new();
        for (split, (start, _), _) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte)
        {
            for t in self.tokenizer.get_model().tokenize(split).ok()? {
                pieces.push((
                    t.id,
                    char_at(start + t.offsets.0),
                    char_at(start + t.offsets.1),
                ));
            }
        }
        Some(pieces.into())
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

/// What the `Whitespace` pre-tokenizer's pattern `\w+|[^\w\s]+` makes of a char.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `\w`: Unicode word characters.
    Word,
    /// `\s`: Unicode white space, which separates runs and is dropped.
    Space,
    /// Everything else (punctuation, symbols).
    Other,
}

fn class(c: char) -> Class {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() || c == '_' {
            Class::Word
        } else if c.is_ascii_whitespace() || c == '\x0b' {
            Class::Space
        } else {
            Class::Other
        }
    } else if regex_syntax::is_word_character(c) {
        Class::Word
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// A run of `text`: bytes `start..end`, beginning at char `first_char`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    start: usize,
    end: usize,
    first_char: usize,
}

/// The runs of `text` in order: maximal runs of word chars or of other non-space chars, as the
/// `Whitespace` pre-tokenizer's `\w+|[^\w\s]+` finds them.
fn runs(text: &str) -> impl Iterator<Item = Run> + '_ {
    let mut chars = text.char_indices().enumerate().peekable();
    std::iter::from_fn(move || {
        let (first_char, (start, c)) = loop {
            let (n, (b, c)) = chars.next()?;
            if class(c) != Class::Space {
                break (n, (b, c));
            }
        };
        let kind = class(c);
        let mut end = start + c.len_utf8();
        while let Some(&(_, (b, c))) = chars.peek() {
            if class(c) != kind {
                break;
            }
            end = b + c.len_utf8();
            chars.next();
        }
        Some(Run {
            start,
            end,
            first_char,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{mask_digits, tokenizer_from_bytes};
    use crate::ingest::normalize;

    fn default_encoder() -> Encoder {
        let root = env!("CARGO_MANIFEST_DIR");
        let bytes = std::fs::read(format!("{root}/models/default/tokenizer.json")).unwrap();
        let encoder = Encoder::new(tokenizer_from_bytes(&bytes).unwrap());
        assert!(
            encoder.cacheable,
            "the default model takes the run shortcut"
        );
        encoder
    }

    /// Encodes `text` (prepared as stage 2 prepares it) three times — on a cold cache, then with
    /// every run cached — and compares each with the tokenizer's own pipeline.
    fn assert_same_as_full(encoder: &Encoder, text: &str) {
        let prepared = mask_digits(&normalize(text).text).into_owned();
        let full = encoder.encode_full(&prepared);
        for _ in 0..2 {
            assert_eq!(encoder.encode(&prepared), full, "{prepared}");
        }
    }

    #[test]
    fn cached_and_uncached_encodings_are_equal_on_mixed_languages() {
        let encoder = default_encoder();
        // Another encoder's turn on this thread empties the cache: the first pass is uncached.
        Encoder::new(encoder.tokenizer().clone()).encode("x");
        let text =
            "Ｗｈａｔｓａｐｐ：+52 55 1234 5678 — ¡Trabajo en EE.UU.! 🙂🙂 月入过万USD3000 ok \
                    здравствуйте,девушки!!! 18-25 лет\tработа\u{00a0}в Дубае 包吃包住,工资日结 \
                    café_señorita x2 ＿下划线_mixed中文word ١٢٣ a\u{301}b";
        assert_same_as_full(&encoder, text);
    }

    #[test]
    fn gives_the_full_pipelines_tokens_and_offsets() {
        let encoder = default_encoder();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut texts: Vec<String> = ["", "   ", "[UNK] 包吃包住[UNK]x", "\u{3000}\u{85}x\u{b}y"]
            .map(String::from)
            .to_vec();
        for split in ["train", "test"] {
            for entry in std::fs::read_dir(format!("{root}/corpora/{split}")).unwrap() {
                let file = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for line in file.lines() {
                    let ad: serde_json::Value = serde_json::from_str(line).unwrap();
                    texts.push(ad["text"].as_str().unwrap().to_string());
                    if let Some(t) = ad["translation"]["text"].as_str() {
                        texts.push(t.to_string());
                    }
                }
            }
        }
        for text in &texts {
            assert_same_as_full(&encoder, text);
        }
    }

    #[test]
    fn runs_are_the_whitespace_patterns_matches() {
        let pattern = regex::Regex::new(r"\w+|[^\w\s]+").unwrap();
        let (word, space) = (
            regex::Regex::new(r"^\w$").unwrap(),
            regex::Regex::new(r"^\s$").unwrap(),
        );
        // Every char is classed as the pattern classes it.
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let s = c.encode_utf8(&mut [0; 4]).to_string();
            let expected = if word.is_match(&s) {
                Class::Word
            } else if space.is_match(&s) {
                Class::Space
            } else {
                Class::Other
            };
            assert!(class(c) == expected, "U+{:04X}", c as u32);
        }
        let text = "  ¡Hola,  mundo!! 包吃包住，月入过万 x_1 — тел:8(916)\u{2003}…ok ";
        let expected: Vec<Run> = pattern
            .find_iter(text)
            .map(|m| Run {
                start: m.start(),
                end: m.end(),
                first_char: text[..m.start()].chars().count(),
            })
            .collect();
        assert_eq!(runs(text).collect::<Vec<_>>(), expected);
    }
}
