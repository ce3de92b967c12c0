//! Text normalization for features and entity extraction.
//!
//! Ads arrive typed, OCR'd or pasted from web pages, and the people who place lures write contacts
//! so that filters miss them (`W h a t s A p p`, `5 5 5 - 0 1 9 2`, `gmail dot com`). Every step
//! here keeps a map from each output character back to the character of the original text it came
//! from, so that evidence found on the normalized text can be shown in the text as printed.
//!
//! Steps, in order: HTML tags and entities → NFKC (full-width forms, ligatures) → lowercase →
//! Traditional → Simplified Chinese → control characters dropped, whitespace collapsed → dodged
//! contacts rejoined.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::UnicodeNormalization;

/// A normalized text with, for each of its characters, the index of the original character it
/// came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Normalized {
    /// The normalized text.
    pub text: String,
    /// `origin[i]` is the char index, in the original text, of normalized char `i`.
    pub origin: Vec<u32>,
}

impl Normalized {
    /// Maps a char range of the normalized text to the char range of the original text it covers.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let first = self.origin.get(start).copied().unwrap_or(0) as usize;
        let last = self.origin.get(end.saturating_sub(1)).copied().unwrap_or(0) as usize;
        (first, last.max(first) + 1)
    }

    /// An empty text with room for `bytes` bytes (and as many chars).
    fn with_capacity(bytes: usize) -> Self {
        Normalized {
            text: String::with_capacity(bytes),
            origin: Vec::with_capacity(bytes),
        }
    }

    /// Appends `s` unchanged, its chars coming from consecutive original chars from `origin`
    /// on; returns the original char index after them.
    fn push_verbatim(&mut self, s: &str, mut origin: u32) -> u32 {
        self.text.push_str(s);
        for _ in s.chars() {
            self.origin.push(origin);
            origin += 1;
        }
        origin
    }

    fn push(&mut self, c: char, origin: u32) {
        self.text.push(c);
        self.origin.push(origin);
    }
}

/// Normalizes an ad text for features and entity extraction (see the module doc for the steps).
pub fn normalize(original: &str) -> Normalized {
    let html = strip_html(original);
    let folded = fold_chars(&html);
    rejoin_dodges(folded)
}

/// The original text as (char index, char) pairs, with HTML tags blanked and common entities
/// decoded, so that markup pasted from web pages does not become features.
fn strip_html(original: &str) -> Normalized {
    static TAG_OR_ENTITY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"<[!/?a-zA-Z][^<>]{0,512}>|&(?:amp|lt|gt|quot|apos|nbsp|#\d{1,6}|#x[0-9a-fA-F]{1,6});",
        )
        .expect("valid regex")
    });
    let mut out = Normalized::with_capacity(original.len());
    let mut char_index = 0u32;
    let mut last = 0;
    for m in TAG_OR_ENTITY.find_iter(original) {
        char_index = out.push_verbatim(&original[last..m.start()], char_index);
        out.push(decode_entity(m.as_str()), char_index);
        char_index += m.as_str().chars().count() as u32;
        last = m.end();
    }
    out.push_verbatim(&original[last..], char_index);
    out
}

/// What a tag or an entity stands for: a space for a tag, the character for an entity.
fn decode_entity(s: &str) -> char {
    match s {
        "&amp;" => '&',
        "&lt;" => '<',
        "&gt;" => '>',
        "&quot;" => '"',
        "&apos;" => '\'',
        _ if s.starts_with("&#x") => u32::from_str_radix(&s[3..s.len() - 1], 16)
            .ok()
            .and_then(char::from_u32)
            .unwrap_or(' '),
        _ if s.starts_with("&#") => s[2..s.len() - 1]
            .parse()
            .ok()
            .and_then(char::from_u32)
            .unwrap_or(' '),
        _ => ' ',
    }
}

/// NFKC, lowercase, Traditional → Simplified, control characters out, whitespace collapsed.
///
/// NFKC is applied to each starter with its combining marks, so that every output char can be
/// traced to the starter it came from.
fn fold_chars(input: &Normalized) -> Normalized {
    let mut out = Normalized::with_capacity(input.text.len());
    let mut chars = input.text.chars().zip(&input.origin).peekable();
    let mut cluster = String::new();
    while let Some((c, &origin)) = chars.next() {
        let has_marks = chars
            .peek()
            .is_some_and(|&(next, _)| !next.is_ascii() && canonical_combining_class(next) != 0);
        if c.is_ascii() && !has_marks {
            // NFKC leaves a lone ASCII char as it is: only its case folds.
            push_folded(&mut out, c.to_ascii_lowercase(), origin);
            continue;
        }
        cluster.clear();
        cluster.push(c);
        while let Some((mark, _)) = chars.next_if(|&(m, _)| canonical_combining_class(m) != 0) {
            cluster.push(mark);
        }
        for c in cluster.nfkc().flat_map(char::to_lowercase) {
            push_folded(&mut out, c, origin);
        }
    }
    if out.text.ends_with(' ') {
        out.text.pop();
        out.origin.pop();
    }
    // fast2s only ever changes three-byte chars (the CJK ranges): skip its copy of texts without.
    if out.text.bytes().any(|b| b & 0xf0 == 0xe0) {
        let simplified = fast2s::convert(&out.text);
        // fast2s maps char to char, so the origin map stays valid.
        debug_assert_eq!(simplified.chars().count(), out.origin.len());
        out.text = simplified;
    }
    out
}

/// Appends one folded char, turning any run of whitespace or control chars into one space.
fn push_folded(out: &mut Normalized, c: char, origin: u32) {
    let blank = c.is_whitespace() || c.is_control() || is_invisible(c);
    if !blank {
        out.push(c, origin);
    } else if !out.text.is_empty() && !out.text.ends_with(' ') && !is_invisible(c) {
        out.push(' ', origin);
    }
}

/// Zero-width and formatting characters that hide inside words to break keyword filters.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{ad}')
}

/// Rejoins contacts written to dodge filters: spaced-out letters and digits (`w h a t s a p p`,
/// `5 5 5 - 0 1 9 2`), `dot com`, `(at)`.
fn rejoin_dodges(text: Normalized) -> Normalized {
    static SPACED: LazyLock<Regex> = LazyLock::new(|| {
        // Four or more single letters/digits (or dashes, dots) separated by single spaces.
        Regex::new(r"\b(?:[\p{L}\p{N}\-.] ){3,}[\p{L}\p{N}]\b").expect("valid regex")
    });
    static DOT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\s*[(\[]?\s*\b(?:dot|punto|точка)\b\s*[)\]]?\s*(com|net|org|info|ru|ua|kz|by|cn|mx|co|es|us|ph|ng|in|uk)\b")
            .expect("valid regex")
    });
    static AT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\s*(?:[(\[]\s*(?:at|arroba|собака)\s*[)\]]|\s(?:at|arroba|собака)\s+(?:(gmail|hotmail|yahoo|outlook|mail|yandex|qq|163|126|icloud|proton)))\s*")
            .expect("valid regex")
    });
    // The regexes need Unicode word boundaries, which send the regex crate to its slow engine:
    // cheap checks skip them for the ~all ads that have nothing to rejoin.
    let mut text = text;
    if has_spaced_run(&text.text) {
        text = rewrite(text, &SPACED, |caps| caps[0].split(' ').collect());
    }
    if ["dot", "punto", "точка"]
        .iter()
        .any(|w| text.text.contains(w))
    {
        text = rewrite(text, &DOT, |caps| format!(".{}", &caps[1]));
    }
    if might_spell_at(&text.text) {
        text = rewrite(text, &AT, |caps| {
            let domain = caps.get(1).map_or("", |m| m.as_str());
            format!("@{domain}")
        });
    }
    text
}

/// Whether the text has four single characters in a row separated by spaces (a superset of what
/// the `SPACED` regex rejoins; whitespace is already collapsed to single spaces).
fn has_spaced_run(text: &str) -> bool {
    let mut run = 0;
    for token in text.split(' ') {
        // One char, possibly followed by punctuation (`0,` ends `2 2 3 0, 5°`).
        let mut chars = token.chars();
        let single = chars.next().is_some() && chars.next().is_none_or(|c| !c.is_alphanumeric());
        run = if single { run + 1 } else { 0 };
        if run >= 4 {
            return true;
        }
    }
    false
}

/// Whether the text may spell `@` as a word (`(at)`, `arroba`, `ana at gmail`).
fn might_spell_at(text: &str) -> bool {
    ["(at)", "[at]", "arroba", "собака"]
        .iter()
        .any(|w| text.contains(w))
        || (text.contains(" at ")
            && [
                "mail", "yahoo", "yandex", "qq", "163", "126", "icloud", "proton",
            ]
            .iter()
            .any(|d| text.contains(d)))
}

/// Replaces every match of `re` with what `replace` returns, keeping the origin map: the last
/// replacement char maps to the match's last char, the others to its first, so that a span over
/// the replacement covers the whole match in the original.
fn rewrite(
    text: Normalized,
    re: &Regex,
    replace: impl Fn(&regex::Captures) -> String,
) -> Normalized {
    if !re.is_match(&text.text) {
        return text;
    }
    let mut out = Normalized::default();
    let mut byte_to_char = 0;
    let mut last = 0;
    for caps in re.captures_iter(&text.text) {
        let m = caps.get(0).expect("group 0");
        for c in text.text[last..m.start()].chars() {
            out.push(c, text.origin[byte_to_char]);
            byte_to_char += 1;
        }
        let replacement = replace(&caps);
        let len = m.as_str().chars().count();
        let (head, tail) = (
            text.origin[byte_to_char],
            text.origin[byte_to_char + len - 1],
        );
        let n = replacement.chars().count();
        for (j, c) in replacement.chars().enumerate() {
            out.push(c, if j + 1 == n { tail } else { head });
        }
        byte_to_char += len;
        last = m.end();
    }
    for c in text.text[last..].chars() {
        out.push(c, text.origin[byte_to_char]);
        byte_to_char += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).text
    }

    #[test]
    fn folds_full_width_case_and_whitespace() {
        assert_eq!(
            norm("ＴＥＬ：５５５  Hola\n\n\tMUNDO "),
            "tel:555 hola mundo"
        );
    }

    #[test]
    fn converts_traditional_chinese() {
        assert_eq!(norm("招聘 薪資優厚 請聯絡"), "招聘 薪资优厚 请联络");
    }

    #[test]
    fn rejoins_dodged_contacts() {
        assert_eq!(norm("W h a t s A p p 5 5 5 - 0 1 9 2"), "whatsapp555-0192");
        assert_eq!(norm("escribe a maria dot com ya"), "escribe a maria.com ya");
        assert_eq!(norm("jobs (at) gmail dot com"), "jobs@gmail.com");
        assert_eq!(norm("ana at gmail.com"), "ana@gmail.com");
        assert_eq!(norm("a la una y a las dos"), "a la una y a las dos");
    }

    #[test]
    fn spots_spaced_runs_cheaply() {
        assert!(has_spaced_run("llama al 5 5 5 1"));
        assert!(has_spaced_run("w h a t s"));
        assert!(!has_spaced_run("a la una y a las dos"));
        assert!(!has_spaced_run("ordinary words only"));
        assert!(has_spaced_run("av. cabildo 2 2 3 0, 5°"));
    }

    #[test]
    fn strips_html_and_invisible_chars() {
        assert_eq!(
            norm("<b>Trabajo</b>&amp;vi\u{200b}sa <script>x</script>"),
            "trabajo &visa x"
        );
    }

    #[test]
    fn origin_points_into_the_original() {
        let original = "ＴＥＬ： W h a t s A p p";
        let n = normalize(original);
        assert_eq!(n.text.chars().count(), n.origin.len());
        let start = n.text.chars().position(|c| c == 'w').unwrap();
        let (s, e) = n.original_span(start, n.origin.len());
        let shown: String = original.chars().skip(s).take(e - s).collect();
        assert_eq!(shown, "W h a t s A p p");
    }

    #[test]
    fn combining_marks_compose() {
        assert_eq!(norm("visa\u{301} Cafe\u{301}"), "visá café");
    }
}
