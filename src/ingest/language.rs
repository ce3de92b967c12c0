//! Language detection, restricted to the four languages adscreen screens.
//!
//! whatlang with an allow-list of es/en/zh/ru is right on ~27 of 30 short ads (against ~19 with all
//! of its languages), so the allow-list is not optional. A declared language that disagrees with
//! the detected one is reported, never silently replaced: mixed-language ads are whatlang's weak
//! spot, and the officer who declared the language may be right.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// One of the four languages of the ads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Spanish.
    Es,
    /// English.
    En,
    /// Chinese (Simplified or Traditional).
    Zh,
    /// Russian.
    Ru,
}

impl Lang {
    /// All languages, in display order.
    pub const ALL: [Lang; 4] = [Lang::Es, Lang::En, Lang::Zh, Lang::Ru];

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::Ru => "ru",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "es" | "spa" | "spanish" => Ok(Lang::Es),
            "en" | "eng" | "english" => Ok(Lang::En),
            "zh" | "zho" | "chi" | "cmn" | "chinese" | "zh-cn" | "zh-tw" | "zh-hk" => Ok(Lang::Zh),
            "ru" | "rus" | "russian" => Ok(Lang::Ru),
            other => Err(format!(
                "unknown language {other:?}: use one of es, en, zh, ru"
            )),
        }
    }
}

/// What language detection found for one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detected {
    /// The detected language, if the text has enough letters to tell.
    pub lang: Option<Lang>,
    /// whatlang's confidence, 0 to 1.
    pub confidence: f32,
}

/// Detects the language of `text` among es, en, zh and ru.
pub fn detect(text: &str) -> Detected {
    static DETECTOR: LazyLock<whatlang::Detector> = LazyLock::new(|| {
        use whatlang::Lang::*;
        whatlang::Detector::with_allowlist(vec![Spa, Eng, Cmn, Rus])
    });
    // whatlang scores Cyrillic text only against the allowed languages written in it — Russian
    // alone — so it always answers Russian with confidence 1, after scoring every trigram.
    if may_hold_cyrillic(text) && whatlang::detect_script(text) == Some(whatlang::Script::Cyrillic)
    {
        return Detected {
            lang: Some(Lang::Ru),
            confidence: 1.0,
        };
    }
    match DETECTOR.detect(text) {
        Some(info) => Detected {
            lang: Some(match info.lang() {
                whatlang::Lang::Spa => Lang::Es,
                whatlang::Lang::Cmn => Lang::Zh,
                whatlang::Lang::Rus => Lang::Ru,
                _ => Lang::En,
            }),
            confidence: info.confidence() as f32,
        },
        None => Detected {
            lang: None,
            confidence: 0.0,
        },
    }
}

/// False only when `text` holds none of the chars whatlang counts as Cyrillic, so that its main
/// script cannot be Cyrillic: a byte scan that spares the other texts a second script count
/// (the detector makes its own). Lead bytes `D0`–`D4` start U+0400–U+053F; the rest are the
/// first two bytes of U+1D2B, U+1D78, U+2DE0–U+2DFF and U+A640–U+A69F.
fn may_hold_cyrillic(text: &str) -> bool {
    text.as_bytes().windows(2).any(|pair| {
        matches!(
            pair,
            [0xd0..=0xd4, _] | [0xe1, 0xb4 | 0xb5] | [0xe2, 0xb7] | [0xea, 0x99 | 0x9a]
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_four_languages() {
        let cases = [
            (
                "Se solicitan jóvenes para trabajar en hoteles de Estados Unidos",
                Lang::Es,
            ),
            (
                "Young women wanted for hostess work abroad, good pay",
                Lang::En,
            ),
            ("高薪招聘女服务员，包吃包住，机票全包", Lang::Zh),
            (
                "Требуются девушки для работы за границей, жильё предоставляется",
                Lang::Ru,
            ),
        ];
        for (text, lang) in cases {
            assert_eq!(detect(text).lang, Some(lang), "{text}");
        }
    }

    #[test]
    fn cyrillic_prefilter_finds_every_cyrillic_char() {
        let cyrillic = |c: char| {
            matches!(c, '\u{0400}'..='\u{0484}' | '\u{0487}'..='\u{052F}' | '\u{2DE0}'..='\u{2DFF}'
                | '\u{A640}'..='\u{A69D}' | '\u{1D2B}' | '\u{1D78}' | '\u{A69F}')
        };
        for c in (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| cyrillic(c))
        {
            assert!(may_hold_cyrillic(&format!("ab{c}cd")), "U+{:04X}", c as u32);
        }
        assert!(!may_hold_cyrillic("Se solicitan jóvenes — 高薪招聘 €"));
    }

    #[test]
    fn parses_codes_and_rejects_others() {
        assert_eq!("ES".parse::<Lang>(), Ok(Lang::Es));
        assert_eq!("zh-TW".parse::<Lang>(), Ok(Lang::Zh));
        assert!("fr".parse::<Lang>().unwrap_err().contains("es, en, zh, ru"));
    }
}
