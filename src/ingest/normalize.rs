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
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

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
    fn push_verbatim(&mut self, s: &str, origin: u32) -> u32 {
        self.text.push_str(s);
        let end = origin + s.chars().count() as u32;
        self.origin.extend(origin..end);
        end
    }

    fn push(&mut self, c: char, origin: u32) {
        self.text.push(c);
        self.origin.push(origin);
    }
}

/// Normalizes an ad text for features and entity extraction (see the module doc for the steps).
pub fn normalize(original: &str) -> Normalized {
    // Most ads carry no markup: fold the original directly, each char its own origin.
    let folded = if original.contains(['<', '&']) {
        let html = strip_html(original);
        fold_chars(&html.text, |k| html.origin[k])
    } else {
        fold_chars(original, |k| k as u32)
    };
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

/// NFKC, lowercase, Traditional → Simplified, control characters out, whitespace collapsed;
/// `origin(k)` is the original char index of char `k` of `text`.
///
/// NFKC is applied to each starter with its combining marks, so that every output char can be
/// traced to the starter it came from.
fn fold_chars(text: &str, origin: impl Fn(usize) -> u32) -> Normalized {
    let mut out = Normalized::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut cluster = String::new();
    // `at` walks bytes, `k` chars.
    let (mut at, mut k) = (0, 0);
    while at < bytes.len() {
        let ascii = ascii_prefix(&text[at..]);
        if ascii > 0 {
            // One ASCII byte is one char: `k` and `at` advance together.
            push_ascii(&mut out, &text[at..at + ascii], |j| origin(k + j));
            at += ascii;
            k += ascii;
            continue;
        }
        let mut chars = text[at..].chars();
        let c = chars.next().expect("a char starts here");
        let o = origin(k);
        let mut next = chars.as_str();
        if !starts_with_mark(next) {
            // Most chars of the ads' scripts are NFKC already: skip the normalizer for them.
            let plain = is_plain_letter(c);
            if plain || is_nfkc_quick([c].into_iter()) == IsNormalized::Yes {
                match plain {
                    true => out.push(lowercase_plain(c), o),
                    false => c.to_lowercase().for_each(|l| push_folded(&mut out, l, o)),
                }
                at += c.len_utf8();
                k += 1;
                continue;
            }
        }
        cluster.clear();
        cluster.push(c);
        k += 1;
        while let Some(mark) = next.chars().next().filter(|&m| is_mark(m)) {
            cluster.push(mark);
            next = &next[mark.len_utf8()..];
            k += 1;
        }
        for c in cluster.nfkc().flat_map(char::to_lowercase) {
            push_folded(&mut out, c, o);
        }
        at = bytes.len() - next.len();
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

/// How many leading bytes of `rest` fold one by one: its ASCII bytes, less the last of them when
/// a combining mark follows it (NFKC composes the two, so that char takes the cluster path).
fn ascii_prefix(rest: &str) -> usize {
    let n = rest
        .bytes()
        .position(|b| !b.is_ascii())
        .unwrap_or(rest.len());
    match n > 0 && starts_with_mark(&rest[n..]) {
        true => n - 1,
        false => n,
    }
}

/// Appends ASCII text folded: NFKC leaves a lone ASCII char as it is, so only its case folds, and
/// each run of blank ASCII (exactly the controls and the space, see `push_folded`) becomes at
/// most one space. Whole runs of non-blank chars are copied at once rather than char by char:
/// most of an ad is ASCII. `origin(j)` is the original char index of byte `j` of `run`.
fn push_ascii(out: &mut Normalized, run: &str, origin: impl Fn(usize) -> u32) {
    let is_blank = |b: &u8| matches!(b, 0..=0x20 | 0x7f);
    let bytes = run.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let blank = is_blank(&bytes[i]);
        let end = bytes[i..]
            .iter()
            .position(|b| is_blank(b) != blank)
            .map_or(bytes.len(), |n| i + n);
        if blank {
            push_blank(out, origin(i));
        } else {
            let from = out.text.len();
            out.text.push_str(&run[i..end]);
            out.text[from..].make_ascii_lowercase();
            out.origin.extend((i..end).map(&origin));
        }
        i = end;
    }
}

/// Latin-1 letters, basic Cyrillic and the CJK Unified Ideographs: NFKC leaves each of them as it
/// is, none lowercases to a blank, and each lowercases to the one char [`lowercase_plain`] gives
/// (a test checks all three), so they need neither the quick check's table nor a case lookup.
fn is_plain_letter(c: char) -> bool {
    matches!(c, '\u{c0}'..='\u{ff}' | '\u{400}'..='\u{45f}' | '\u{4e00}'..='\u{9fff}')
}

/// The lowercase of a plain letter: the Latin-1 and basic Cyrillic capitals sit at fixed
/// offsets from their small letters (a test checks every plain letter against
/// `char::to_lowercase`), which spares the case table's search for the ads' commonest chars.
fn lowercase_plain(c: char) -> char {
    let offset = match c {
        '\u{c0}'..='\u{de}' if c != '\u{d7}' => 0x20,
        '\u{400}'..='\u{40f}' => 0x50,
        '\u{410}'..='\u{42f}' => 0x20,
        _ => 0,
    };
    char::from_u32(c as u32 + offset).expect("a small letter")
}

/// Whether `c` is a combining mark that NFKC keeps with the starter before it. No char below
/// U+0300 and no plain letter is one (a test checks both): the check before the table lookup
/// spares it for the chars that follow nearly every Cyrillic or Chinese char.
fn is_mark(c: char) -> bool {
    c >= '\u{300}' && !is_plain_letter(c) && canonical_combining_class(c) != 0
}

/// Whether `rest` begins with a combining mark (never ASCII).
fn starts_with_mark(rest: &str) -> bool {
    rest.as_bytes().first().is_some_and(|b| !b.is_ascii())
        && rest.chars().next().is_some_and(is_mark)
}

/// Appends one folded char, turning any run of whitespace or control chars into one space.
fn push_folded(out: &mut Normalized, c: char, origin: u32) {
    if is_invisible(c) {
        return;
    }
    if c.is_whitespace() || c.is_control() {
        push_blank(out, origin);
    } else {
        out.push(c, origin);
    }
}

/// Appends a space unless the text is empty or already ends with one.
fn push_blank(out: &mut Normalized, origin: u32) {
    if !out.text.is_empty() && !out.text.ends_with(' ') {
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
    fn plain_letters_are_stable_under_nfkc_and_lowercase_to_letters() {
        for c in (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| is_plain_letter(c))
        {
            assert_eq!(c.to_string().nfkc().collect::<String>(), c.to_string());
            assert_eq!(canonical_combining_class(c), 0);
            assert!(
                c.to_lowercase().eq([lowercase_plain(c)]),
                "U+{:04X}",
                c as u32
            );
            for l in c.to_lowercase() {
                assert!(!(l.is_whitespace() || l.is_control() || is_invisible(l)));
            }
        }
    }

    #[test]
    fn no_mark_below_u0300() {
        for c in (0..0x300).filter_map(char::from_u32) {
            assert_eq!(canonical_combining_class(c), 0, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn combining_marks_compose() {
        assert_eq!(norm("visa\u{301} Cafe\u{301}"), "visá café");
    }
}
