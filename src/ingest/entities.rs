//! Entity extraction (stage 1, ingest): phone numbers, e-mail addresses, URLs, messenger
//! handles, money amounts and ages found in one ad text.
//!
//! Contacts are what link ads into networks: the same WhatsApp number behind a "modelling agency"
//! in Manila and a "restaurant" in Lagos is one of the strongest signals an analyst gets. So
//! contacts are normalized before anyone compares them: phones to E.164, e-mails lowercased,
//! handles without `@` and lowercased. Money and ages feed the model and are shown to analysts:
//! wages far above the local market and narrow age ranges for young people are classic lures.
//!
//! The input is expected to be NFKC-normalized with spaced-out letters re-joined (see
//! `ingest::normalize`), but nothing here relies on it for safety: every pattern is linear-time,
//! every look-around is a bounded window, and phone parsing has a per-text budget, so hostile
//! input (a megabyte of digits or `@`, random characters, HTML) cannot make this panic or go
//! quadratic.
//!
//! Conventions the `entities` contract leaves open:
//! - **Phones** are kept when phonenumber says `is_valid`. A number it parses but rejects as
//!   unassigned (the fictional US `555` numbers ads and test data use) is kept only when a phone
//!   word (`Tel`, `llame`, `WhatsApp`, `тел`, `电话`, ...) comes right before it *and* its national
//!   number has the length of the region's example numbers. Mexican numbers printed with the old
//!   mobile `1` after `+52` or the `044`/`045`/`01` prefixes are re-parsed without them, so
//!   `+52 1 55 1234 5678` and `55 1234 5678` both give `+525512345678` (current numbering plan).
//!   Digits that look like dates, prices, URLs or e-mails, or that follow a license/registry/QQ
//!   word, are never phones. Numbers without `+` are read in `region`; a number of 11+ digits that
//!   is not valid there is tried as international (`380 67 123 4567` -> `+380671234567`).
//! - **Ages** are `[min, max]`; a bound the ad does not state is `0` (no minimum: "до 35 лет" ->
//!   `[0, 35]`) or `99` (no maximum: "mayores de 18", "18+", "старше 18" -> `[18, 99]`); a single
//!   age ("25 years old") is `[25, 25]`. Ages below 12 are ignored (they are experience or
//!   contract lengths, not ages). A bare range needs an age word or unit nearby.
//! - **Money**: `$` alone is USD; "pesos" is the peso of `region` (COP, ARS, CLP, ... else MXN).
//!   Chinese salary words (`月薪`, `日结`, `时薪`, `年薪`, ...) and `万`/`千` amounts with a stated
//!   period default to CNY. `per` is `None` unless a period is stated right after the amount (or
//!   in the Chinese salary word).
//! - **Handles** need the app named right before the id. WhatsApp and Viber ids must be phones;
//!   other apps take a phone or a username, and a username counts only after `:`, `ID`, `号`, `@`,
//!   or when it contains a digit or `_` (so "contact us on WeChat for details" yields nothing).
//!   `t.me/x`, `vk.com/x`, `wa.me/<number>` and `line.me/ti/p/x` links are handles too, and
//!   every handle whose id is a phone is also listed in `phones`.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::LazyLock;

use linkify::{LinkFinder, LinkKind};
use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};
use regex::{Captures, Regex, RegexSet, RegexSetBuilder, SetMatches};
use serde::{Deserialize, Serialize};

/// Gives phonenumber's metadata database a regex cache large enough for every pattern it uses.
///
/// phonenumber 0.3 compiles its metadata patterns lazily into one 100-entry LRU cache behind a
/// mutex. Ads from a dozen countries use more patterns than that, so the cache thrashes and every
/// thread recompiles regexes under the lock: scoring on two threads was slower than on one.
/// Swapping in a cache that holds all of them makes each pattern compile once.
fn widen_phone_regex_cache() {
    static WIDENED: std::sync::Once = std::sync::Once::new();
    WIDENED.call_once(|| {
        let cache = DATABASE.cache();
        let mut guard = cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = regex_cache::RegexCache::new(16_384);
    });
}

/// Everything the extractor found in one ad text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entities {
    /// E.164, deduplicated, in order of appearance.
    pub phones: Vec<String>,
    /// Lowercased.
    pub emails: Vec<String>,
    /// As printed (scheme optional).
    pub urls: Vec<String>,
    pub handles: Vec<Handle>,
    pub money: Vec<Money>,
    /// `[min, max]`: `0` = no minimum stated, `99` = no maximum stated.
    pub ages: Vec<[u32; 2]>,
}

/// A messenger account: `app` is one of whatsapp, wechat, telegram, qq, vk, line, viber; `id` is
/// an E.164 number or a lowercased username without `@`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handle {
    pub app: String,
    pub id: String,
}

/// An amount of money: `currency` is ISO 4217; `per` is hour, day, week, month or year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Money {
    pub amount: f64,
    pub currency: String,
    pub per: Option<String>,
}

impl Entities {
    /// Union with `other` (e.g. the entities of the translation), keeping first-seen order.
    pub fn merge(&mut self, other: Entities) {
        extend_unique(&mut self.phones, other.phones);
        extend_unique(&mut self.emails, other.emails);
        extend_unique(&mut self.urls, other.urls);
        extend_unique(&mut self.handles, other.handles);
        extend_unique(&mut self.money, other.money);
        extend_unique(&mut self.ages, other.ages);
    }
}

/// Append the items of `new` that `into` does not hold yet. Keyed by the `Debug` text so it
/// stays linear for any item type (`Money` holds an `f64`, so it cannot be hashed directly).
fn extend_unique<T: Debug>(into: &mut Vec<T>, new: impl IntoIterator<Item = T>) {
    let mut new = new.into_iter().peekable();
    if new.peek().is_none() {
        return;
    }
    let mut seen: HashSet<String> = into.iter().map(|t| format!("{t:?}")).collect();
    for item in new {
        if seen.insert(format!("{item:?}")) {
            into.push(item);
        }
    }
}

/// Extract entities from one ad text; `region` reads numbers printed without a country code.
pub fn extract(text: &str, region: Option<Id>) -> Entities {
    widen_phone_regex_cache();
    let links = find_links(text);
    let hits = RuleHits::of(text);
    let money = find_money(text, region, &hits);
    let mut blocked: Vec<Span> = DATE.find_iter(text).map(|m| (m.start(), m.end())).collect();
    blocked.extend(links.iter().map(|l| l.span));
    blocked.extend(money.iter().map(|(span, _)| *span));
    let phones = find_phones(text, region, &Mask::new(blocked.clone()));
    let handles = find_handles(text, &phones, &links);
    blocked.extend(phones.iter().map(|(span, _)| *span));
    let ages = find_ages(text, &Mask::new(blocked), &hits);

    let mut found = Entities::default();
    extend_unique(&mut found.phones, phones.into_iter().map(|(_, p)| p));
    let handle_phones = handles.iter().filter(|h| h.id.starts_with('+'));
    extend_unique(&mut found.phones, handle_phones.map(|h| h.id.clone()));
    extend_unique(&mut found.handles, handles);
    for link in links {
        match link.email {
            true => extend_unique(&mut found.emails, [link.text.to_lowercase()]),
            false => extend_unique(&mut found.urls, [link.text.to_string()]),
        }
    }
    extend_unique(&mut found.money, money.into_iter().map(|(_, m)| m));
    extend_unique(&mut found.ages, ages);
    found
}

// ---------------------------------------------------------------------------------------------
// Shared helpers: spans, windows, patterns.

/// Byte range `[start, end)` of a match in the ad text.
type Span = (usize, usize);

/// Compile a built-in pattern. `\b` is rewritten to the ASCII word boundary: a Unicode `\b`
/// would push the regex engine off its fast DFA on non-ASCII text, and the patterns only put
/// `\b` next to Latin letters (Cyrillic and CJK words are written without it).
fn re(pattern: &str) -> Regex {
    Regex::new(&pattern.replace(r"\b", r"(?-u:\b)")).expect("built-in pattern compiles")
}

/// One set of `patterns`, to learn in one pass over a text which of them match it at all: most
/// ads match few of a table's rules, and a rule's own search scans the whole text for nothing.
fn rule_set<'a>(patterns: impl IntoIterator<Item = &'a Regex>) -> RegexSet {
    RegexSetBuilder::new(patterns.into_iter().map(Regex::as_str))
        // The set's lazy DFA has the states of every rule at once: room for them, so it is
        // not cleared and rebuilt (or given up for a slower engine) on long texts.
        .dfa_size_limit(64 << 20)
        .build()
        .expect("built-in patterns compile")
}

/// The money rules, then the age rules, in one set (see [`rule_set`]): one pass over a text
/// answers for both tables, where a set per table scanned the whole text twice.
static RULE_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    let money = MONEY_RULES.iter().map(|rule| &rule.pattern);
    rule_set(money.chain(AGE_RULES.iter().map(|rule| &rule.pattern)))
});

/// Which rules of the money and age tables match one text at all.
struct RuleHits(SetMatches);

impl RuleHits {
    /// The rules that match `text`.
    fn of(text: &str) -> Self {
        RuleHits(RULE_SET.matches(text))
    }

    /// Does money rule `i` match?
    fn money(&self, i: usize) -> bool {
        self.0.matched(i)
    }

    /// Does age rule `i` match?
    fn age(&self, i: usize) -> bool {
        self.0.matched(MONEY_RULES.len() + i)
    }
}

/// One alternation of named groups, `(?P<name>alternatives)|...`, from a (name, pattern) table.
fn named_alternation(table: &[(&str, &str)]) -> String {
    let groups: Vec<String> = table
        .iter()
        .map(|(name, p)| format!("(?P<{name}>{p})"))
        .collect();
    groups.join("|")
}

/// Name of the first group of `table` that took part in the match.
fn matched_name<'a>(caps: &Captures, table: &[(&'a str, &str)]) -> Option<&'a str> {
    table
        .iter()
        .map(|(name, _)| *name)
        .find(|name| caps.name(name).is_some())
}

/// Up to `n` bytes of `text` ending at `pos`, shrunk to a char boundary.
fn before(text: &str, pos: usize, n: usize) -> &str {
    let mut start = pos.saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..pos]
}

/// Up to `n` bytes of `text` starting at `pos`, shrunk to a char boundary.
fn after(text: &str, pos: usize, n: usize) -> &str {
    let mut end = pos.saturating_add(n).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[pos..end]
}

/// True when a digit (or, with `seps`, a digit behind one of `seps`) touches `start..end`:
/// then the number there is a fragment of something longer (a phone, a date, an ID).
fn glued_to_digits(text: &str, start: usize, end: usize, seps: &[u8]) -> bool {
    // The byte next to the number and the one beyond it, on one side.
    let touches = |nearest: Option<&u8>, beyond: Option<&u8>| match (nearest, beyond) {
        (Some(d), _) if d.is_ascii_digit() => true,
        (Some(s), Some(d)) => seps.contains(s) && d.is_ascii_digit(),
        _ => false,
    };
    let left = before(text, start, 2).as_bytes();
    let right = after(text, end, 2).as_bytes();
    let beyond_left = left.len().checked_sub(2).map(|i| &left[i]);
    touches(left.last(), beyond_left) || touches(right.first(), right.get(1))
}

/// Keep the earliest of overlapping matches (the longest when they start together).
fn non_overlapping<T>(mut found: Vec<(Span, T)>) -> Vec<(Span, T)> {
    found.sort_by_key(|((start, end), _)| (*start, std::cmp::Reverse(*end)));
    let mut taken_to = 0;
    found.retain(|((start, end), _)| {
        let keep = *start >= taken_to;
        if keep {
            taken_to = *end;
        }
        keep
    });
    found
}

/// Sorted, disjoint spans that later entity kinds may not reuse (a price is not a phone).
struct Mask(Vec<Span>);

impl Mask {
    /// Sort and merge overlapping spans so `hits` can binary-search.
    fn new(mut spans: Vec<Span>) -> Mask {
        spans.sort_unstable();
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start < last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        Mask(merged)
    }

    /// Does `span` overlap any masked span?
    fn hits(&self, (start, end): Span) -> bool {
        let i = self
            .0
            .partition_point(|&(_, masked_end)| masked_end <= start);
        self.0
            .get(i)
            .is_some_and(|&(masked_start, _)| masked_start < end)
    }
}

/// Dates with a 4-digit year in any order, or day.month.yy with dots or slashes: never phones.
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    let (day, mon) = ("(?:0?[1-9]|[12][0-9]|3[01])", "(?:0?[1-9]|1[0-2])");
    re(&format!(
        r"\b(?:{day}[./-]{mon}[./-](?:19|20)[0-9]{{2}}|(?:19|20)[0-9]{{2}}[./-]{mon}[./-]{day}|{day}[./]{mon}[./][0-9]{{2}})\b"
    ))
});

// ---------------------------------------------------------------------------------------------
// E-mails and URLs.

/// An e-mail or URL found by linkify.
struct Link<'t> {
    span: Span,
    email: bool,
    text: &'t str,
}

/// linkify with schemeless URLs allowed (`www.trabajo-usa.com`, `vk.com/id123`).
static LINK_FINDER: LazyLock<LinkFinder> = LazyLock::new(|| {
    let mut finder = LinkFinder::new();
    finder.url_must_have_scheme(false);
    finder
});

/// Top-level domains a schemeless URL may end in: without this, a typo like "trabajo.Llame"
/// (missing space after a full stop) would be a URL.
const KNOWN_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "me", "io", "co", "app", "online", "site", "top", "xyz",
    "club", "work", "jobs", "us", "ca", "mx", "gt", "hn", "sv", "ni", "cr", "pa", "do", "cu", "pe",
    "ec", "ve", "bo", "ar", "cl", "uy", "py", "br", "es", "uk", "de", "fr", "it", "eu", "ph", "ng",
    "gh", "ke", "za", "in", "pk", "cn", "hk", "tw", "jp", "kr", "th", "vn", "id", "my", "sg", "au",
    "ru", "su", "ua", "kz", "by", "md", "uz", "kg", "рф",
];

/// E-mails and URLs in order of appearance.
fn find_links(text: &str) -> Vec<Link<'_>> {
    LINK_FINDER
        .links(text)
        .filter_map(|link| {
            let email = *link.kind() == LinkKind::Email;
            (email || plausible_url(link.as_str())).then(|| Link {
                span: (link.start(), link.end()),
                email,
                text: link.as_str(),
            })
        })
        .collect()
}

/// A URL with a scheme or `www.`, or whose host ends in a known top-level domain.
fn plausible_url(url: &str) -> bool {
    let lower = url.to_lowercase();
    let host = lower.split(['/', '?', '#', ':']).next().unwrap_or("");
    let tld = host.rsplit('.').next().unwrap_or("");
    lower.contains("://") || lower.starts_with("www.") || KNOWN_TLDS.contains(&tld)
}

// ---------------------------------------------------------------------------------------------
// Phones.

/// Maximal runs of ASCII digits: the pieces a printed phone number is made of.
static DIGIT_RUN: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]+"));

/// Words after which digits are an ID, not a phone: licenses, tax and registry numbers, QQ.
/// Only punctuation and a "No."-like word may sit between the word and the digits, so
/// "Lic. Pérez 55 1234 5678" (Licenciado Pérez) keeps its phone.
static NOT_PHONE_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\blic\b|licen[cs]\w*|\brfc\b|\bcurp\b|\bruc\b|\bnit\b|инн|огрн|№|лиценз\w*|许可证|許可證|执照|執照|registro|\breg\b|pasaporte|passport|паспорт|\bqq|扣扣)[^0-9\p{L}]{0,4}(?:(?:no|n[uú]m|number|n[uú]mero|nr|#|号|號)[^0-9\p{L}]{0,3})?$",
    )
});

/// Words that announce a phone number (needed to keep well-formed but unassigned numbers).
static PHONE_CUE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\btel|phone|\bcall|llam[ae]|\bcel|m[oó]vil|whats|\bwsp|viber|telegram|contact|informes|тел|звон|моб|вайбер|ват?сап|电话|電話|手机|手機|联系|聯繫|致电|热线)[^0-9]{0,16}$",
    )
});

/// Shortest and longest digit counts tried as one phone (E.164 allows at most 15).
const MIN_PHONE_DIGITS: usize = 7;
const MAX_PHONE_DIGITS: usize = 15;

/// phonenumber parses allowed per text: a flat allowance plus one per 64 bytes, so ordinary
/// ads are never cut short while a megabyte of digit groups stays bounded.
fn parse_budget(text: &str) -> usize {
    256 + text.len() / 64
}

/// A digit run that may be part of a phone number; `plus` when a `+` precedes it.
struct Piece {
    span: Span,
    plus: bool,
}

/// Phones with the span of their digits, in order of appearance.
fn find_phones(text: &str, region: Option<Id>, mask: &Mask) -> Vec<(Span, String)> {
    let mut scan = PhoneScan {
        text,
        region,
        budget: parse_budget(text),
        found: Vec::new(),
    };
    for chain in chains(text, mask) {
        let mut used = vec![false; chain.len()];
        scan.pass(&chain, &mut used, false);
        scan.pass(&chain, &mut used, true);
    }
    scan.found.sort_by_key(|(span, _)| span.0);
    scan.found
}

/// Group the digit runs into chains joined by phone separators (space, dot, hyphen,
/// parentheses: `8 (916) 123-45-67`). Masked runs and runs too long for a phone break chains.
fn chains(text: &str, mask: &Mask) -> Vec<Vec<Piece>> {
    let mut out: Vec<Vec<Piece>> = Vec::new();
    let mut prev_end = None;
    for run in DIGIT_RUN.find_iter(text) {
        let span = (run.start(), run.end());
        if run.len() > MAX_PHONE_DIGITS || mask.hits(span) {
            prev_end = None;
            continue;
        }
        let joined = prev_end.is_some_and(|end| is_phone_separator(&text[end..span.0]));
        let piece = Piece {
            span,
            plus: before(text, span.0, 2).trim_end().ends_with('+'),
        };
        match out.last_mut() {
            Some(chain) if joined => chain.push(piece),
            _ => out.push(vec![piece]),
        }
        prev_end = Some(span.1);
    }
    out
}

/// What may sit between two digit groups of one printed number.
fn is_phone_separator(between: &str) -> bool {
    (1..=3).contains(&between.len()) && between.bytes().all(|b| b" .-()".contains(&b))
}

/// State of the phone scan over one text.
struct PhoneScan<'t> {
    text: &'t str,
    region: Option<Id>,
    budget: usize,
    found: Vec<(Span, String)>,
}

impl PhoneScan<'_> {
    /// Greedy left to right over a chain: at each unused piece take the longest run of unused
    /// pieces that reads as a phone. The national pass runs first so that two numbers printed
    /// side by side are split correctly before any international reading is tried.
    fn pass(&mut self, chain: &[Piece], used: &mut [bool], international: bool) {
        let mut i = 0;
        while i < chain.len() && self.budget > 0 {
            match self.longest_at(chain, used, i, international) {
                Some(j) => {
                    used[i..=j].fill(true);
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }

    /// Index of the last piece of the longest phone starting at piece `i`, if any.
    fn longest_at(
        &mut self,
        chain: &[Piece],
        used: &[bool],
        i: usize,
        international: bool,
    ) -> Option<usize> {
        let start = chain[i].span.0;
        if used[i] {
            return None;
        }
        let mut digits = String::new();
        let mut ends = Vec::new();
        for j in (i..chain.len()).take_while(|&j| !used[j]) {
            digits.push_str(&self.text[chain[j].span.0..chain[j].span.1]);
            if digits.len() > MAX_PHONE_DIGITS {
                break;
            }
            if digits.len() >= MIN_PHONE_DIGITS {
                ends.push((j, digits.len()));
            }
        }
        // Most digit runs (ages, prices, hours) are too short to be a phone: leave them before
        // the look-behind patterns, which cost more than the rest of the scan.
        if ends.is_empty() || NOT_PHONE_BEFORE.is_match(before(self.text, start, 40)) {
            return None;
        }
        let cued = PHONE_CUE.is_match(before(self.text, start, 40));
        for &(j, len) in ends.iter().rev() {
            if self.budget == 0 {
                return None;
            }
            self.budget -= 1;
            let candidate = Candidate {
                digits: &digits[..len],
                plus: chain[i].plus,
                cued,
            };
            if let Some(e164) = candidate.to_e164(self.region, international) {
                self.found.push(((start, chain[j].span.1), e164));
                return Some(j);
            }
        }
        None
    }
}

/// Digits that may be one phone number, with what the text around them says.
struct Candidate<'a> {
    digits: &'a str,
    plus: bool,
    cued: bool,
}

/// Verdicts remembered per thread; past it, candidates are checked without being remembered.
const E164_MEMO_SIZE: usize = 65_536;

/// A candidate's reading and the verdict on it: its E.164 form, if phonenumber accepts it.
type E164Memo = HashMap<Box<str>, Option<Box<str>>, foldhash::fast::RandomState>;

thread_local! {
    /// phonenumber's recent verdicts on this thread. Parsing and validating a number costs more
    /// than all the other entities of an ad, and the same contacts recur across the ads of a
    /// batch (a network re-posts them), while the verdict depends on nothing but the key.
    static E164_MEMO: RefCell<E164Memo> = RefCell::new(E164Memo::default());
}

impl Candidate<'_> {
    /// E.164 form if phonenumber accepts the digits (see the module doc for the rules).
    /// The international reading is only for long numbers printed without `+`.
    fn to_e164(&self, region: Option<Id>, international: bool) -> Option<String> {
        let key = self.memo_key(region, international);
        E164_MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            if let Some(verdict) = memo.get(key.as_str()) {
                return verdict.as_deref().map(str::to_string);
            }
            let verdict = self.check(region, international);
            if memo.len() < E164_MEMO_SIZE {
                memo.insert(key.into(), verdict.as_deref().map(Box::from));
            }
            verdict
        })
    }

    /// Everything the verdict depends on, as one string: the three flags, the region's code
    /// (`-` for none; codes hold no space), a space, the digits. Built by pushes rather than
    /// `format!`, whose machinery cost more than the memo's lookup.
    fn memo_key(&self, region: Option<Id>, international: bool) -> String {
        let flag = |on: bool| if on { '1' } else { '0' };
        let region = region.as_ref().map_or("-", Id::as_ref);
        let mut key = String::with_capacity(4 + region.len() + self.digits.len());
        key.extend([flag(self.plus), flag(self.cued), flag(international)]);
        key.push_str(region);
        key.push(' ');
        key.push_str(self.digits);
        key
    }

    /// [`Self::to_e164`] without the memo: phonenumber's own verdict.
    fn check(&self, region: Option<Id>, international: bool) -> Option<String> {
        let parsed = if international {
            if self.plus || self.digits.len() < 11 || self.digits.starts_with('0') {
                return None;
            }
            phonenumber::parse(None, format!("+{}", self.digits))
        } else if self.plus {
            phonenumber::parse(None, format!("+{}", self.digits))
        } else {
            phonenumber::parse(Some(region?), self.digits)
        };
        let number = parsed.ok()?;
        let number = mexican_legacy(&number).unwrap_or(number);
        let keep = number.is_valid() || (self.cued && !international && unassigned_ok(&number));
        keep.then(|| number.format().mode(Mode::E164).to_string())
    }
}

/// Mexico dropped the mobile `1` after +52 and the 044/045/01 dialing prefixes in 2019-2020,
/// but ads still print them: re-parse without them so old and new spellings link.
fn mexican_legacy(number: &PhoneNumber) -> Option<PhoneNumber> {
    if number.code().value() != 52 || number.is_valid() {
        return None;
    }
    let national = number.national().to_string();
    let rest = ["044", "045", "01", "1"].iter().find_map(|prefix| {
        national
            .strip_prefix(prefix)
            .filter(|rest| rest.len() == 10)
    })?;
    phonenumber::parse(None, format!("+52{rest}"))
        .ok()
        .filter(PhoneNumber::is_valid)
}

/// A well-formed but unassigned number (fictional `555` numbers): its national number has the
/// length of the example fixed-line or mobile number of a region with its country code.
fn unassigned_ok(number: &PhoneNumber) -> bool {
    let len = number.national().to_string().len();
    let regions = DATABASE.by_code(&number.code().value()).unwrap_or_default();
    regions.iter().any(|meta| {
        [Type::FixedLine, Type::Mobile].into_iter().any(|kind| {
            let example = meta.descriptors().get(kind).and_then(|d| d.example());
            example.is_some_and(|e| e.len() == len)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Messenger handles.

/// Messenger names as printed in ads, one alternation per app.
const APPS: &[(&str, &str)] = &[
    (
        "whatsapp",
        r"whats?\s?app|wh?ats?ap|wasap|guasap|\b(?:whats|wsp|wpp)\b|\bwa\s*[:：]|в[ао]т?[сц]ап+",
    ),
    (
        "wechat",
        r"we\s?chat|weixin|微信号|微信號|微信|加微信?|[vw]信|威信|薇信|\b(?:vx|wx)\b",
    ),
    ("telegram", r"telegram|телеграм+|телега|\btg\b"),
    ("qq", r"\bqq|扣扣"),
    (
        "vk",
        r"\bvk\b|в\s?контакте|vkontakte|(?:^|[^\p{L}])вк(?:[^\p{L}]|$)",
    ),
    ("line", r"(?-i:\bLINE\b)|\bline\s*(?:id\b|[:：])"),
    ("viber", r"viber|вайбер|вибер|вібер"),
];

/// Any app name from `APPS`.
static APP: LazyLock<Regex> = LazyLock::new(|| re(&format!("(?i){}", named_alternation(APPS))));

/// What may sit between an app name and the id: separators, "ID", "y"/"и"/"或"...
static FILLER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:[\s:：/,;|&=\-–.()（）]|(?i:\b(?:id|y|o|or|and|num|number)\b)|или|и\s|或|和|及|号|號)*",
    )
});

/// Marks that the next token is meant as an id ("WeChat: abc", "LINE ID abc", "微信号abc").
static EXPLICIT: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)[:：=@号號]|\bid\b"));

/// A username right after the filler: it starts with a letter, as WeChat, Telegram and VK
/// require (a bare number after "WeChat" that is not a valid phone is not an id).
static USERNAME: LazyLock<Regex> = LazyLock::new(|| re(r"^@?([A-Za-z][A-Za-z0-9_.\-]{0,31})"));

/// A QQ number right after the filler.
static QQ_NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"^([1-9][0-9]{4,11})\b"));

/// Links that are handles: (app, pattern capturing the id), anchored at the link start.
const LINK_APPS: &[(&str, &str)] = &[
    (
        "telegram",
        r"(?i)^(?:https?://)?(?:www\.)?(?:t|telegram)\.me/@?([A-Za-z0-9_]{2,})",
    ),
    (
        "vk",
        r"(?i)^(?:https?://)?(?:www\.|m\.)?vk\.com/([A-Za-z0-9_.]+)",
    ),
    (
        "whatsapp",
        r"(?i)^(?:https?://)?(?:api\.)?wa\.me/\+?([0-9]{7,15})",
    ),
    (
        "line",
        r"(?i)^(?:https?://)?line\.me/(?:ti/p/)?~?([A-Za-z0-9_.\-]+)",
    ),
];

static LINK_APP: LazyLock<Vec<(&str, Regex)>> =
    LazyLock::new(|| LINK_APPS.iter().map(|(app, p)| (*app, re(p))).collect());

/// Handles named in the text or given as links, in order of appearance.
fn find_handles(text: &str, phones: &[(Span, String)], links: &[Link]) -> Vec<Handle> {
    let mut found: Vec<(usize, Handle)> = APP
        .captures_iter(text)
        .filter_map(|caps| {
            let app = matched_name(&caps, APPS)?;
            let name = caps.get(0)?;
            let id = id_after(text, name.start(), name.end(), app, phones)?;
            Some((
                name.start(),
                Handle {
                    app: app.to_string(),
                    id,
                },
            ))
        })
        .collect();
    found.extend(links.iter().filter(|l| !l.email).filter_map(|link| {
        let handle = handle_in_link(link.text)?;
        Some((link.span.0, handle))
    }));
    found.sort_by_key(|(pos, _)| *pos);
    found.into_iter().map(|(_, handle)| handle).collect()
}

/// The id printed after the app name at `name_start..name_end`, looked for in a short window.
/// Other app names in between are skipped, so "WhatsApp/Viber +380..." gives both apps.
fn id_after(
    text: &str,
    name_start: usize,
    name_end: usize,
    app: &str,
    phones: &[(Span, String)],
) -> Option<String> {
    let window = after(text, name_end, 64);
    let mut rest = window;
    let mut explicit = EXPLICIT.is_match(&text[name_start..name_end]);
    for _ in 0..4 {
        let filler = FILLER.find(rest).map_or(0, |m| m.end());
        explicit |= EXPLICIT.is_match(&rest[..filler]);
        rest = &rest[filler..];
        match APP.find(rest) {
            Some(next) if next.start() == 0 && !next.is_empty() => rest = &rest[next.end()..],
            _ => break,
        }
    }
    let digits = rest.trim_start_matches(['+', '(', ' ']);
    let digits_at = name_end + window.len() - digits.len();
    let phone = phones
        .binary_search_by_key(&digits_at, |(span, _)| span.0)
        .ok();
    let phone = phone.map(|k| phones[k].1.clone());
    match app {
        "qq" => QQ_NUMBER.captures(rest).map(|c| c[1].to_string()),
        "whatsapp" | "viber" => phone,
        _ => phone
            .or_else(|| handle_in_link(rest).filter(|h| h.app == app).map(|h| h.id))
            .or_else(|| username(rest, explicit)),
    }
}

/// A username at the start of `rest`, if it is clearly meant as one (see the module doc);
/// the start of a link ("t.me/...") is not a username.
fn username(rest: &str, explicit: bool) -> Option<String> {
    let caps = USERNAME.captures(rest)?;
    if rest[caps.get(0)?.end()..].starts_with('/') {
        return None;
    }
    let id = caps[1].trim_end_matches(['.', '-']);
    let marked = explicit || rest.starts_with('@');
    let looks_like_id = id.bytes().any(|b| b.is_ascii_digit() || b == b'_');
    (marked || looks_like_id).then(|| id.to_lowercase())
}

/// A handle encoded in a link (`t.me/x`, `vk.com/x`, `wa.me/<number>`, `line.me/ti/p/x`).
fn handle_in_link(link: &str) -> Option<Handle> {
    LINK_APP.iter().find_map(|(app, pattern)| {
        let raw = pattern.captures(link)?.get(1)?.as_str();
        let id = match *app {
            "whatsapp" => Candidate {
                digits: raw,
                plus: true,
                cued: true,
            }
            .to_e164(None, false)?,
            _ => raw.trim_end_matches(['.', '-']).to_lowercase(),
        };
        Some(Handle {
            app: app.to_string(),
            id,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Money.

/// Currency signs and names by ISO 4217 code; `PESO` is resolved by region. Order matters
/// inside the alternation: `HK$` before `$`, and `euros` before `EUR` (else "eur" + "os").
const CURRENCIES: &[(&str, &str)] = &[
    ("HKD", r"HK\$|HKD|港币|港幣"),
    ("TWD", r"NT\$|TWD|新台币|新台幣"),
    ("CAD", r"CA?\$|CAD"),
    ("COP", r"COL\$|COP"),
    (
        "USD",
        r"US\$|U\$S|USD|\$|d[oó]lar(?:es)?|dollars?|bucks|долл(?:ар(?:ов|а)?)?\.?|дол\.|бакс(?:ов|а)?|美元|美金",
    ),
    ("MXN", r"MXN|M\.N\."),
    ("PESO", r"pesos?"),
    ("EUR", r"€|euros?|EUR|евро|欧元|歐元"),
    ("GBP", r"£|GBP|英镑|英鎊"),
    ("CNY", r"¥|￥|RMB|CNY|人民币|人民幣|元|块|塊"),
    (
        "RUB",
        r"₽|rublos?|rubles?|RUB|руб(?:лей|ля|ль)?\.?|р\.|卢布|盧布",
    ),
    ("UAH", r"₴|UAH|грн\.?|грив(?:ен|ень|ны|ня)"),
    ("KZT", r"₸|KZT|тенге|тг\."),
    ("PHP", r"₱|PHP"),
    ("NGN", r"₦|NGN|naira|N"),
    ("INR", r"₹|INR|Rs\.?|rupees?"),
    ("PEN", r"S/\.?|PEN|soles"),
];

/// Periods by name; Latin words carry `\b`, Cyrillic and CJK ones cannot.
const PERIODS: &[(&str, &str)] = &[
    (
        "hour",
        r"\b(?:hours?|hrs?|h|horas?)\b|час(?:ов|а)?|ч\.|小时|小時|钟头|鐘頭|时|時",
    ),
    (
        "day",
        r"\b(?:days?|daily|d[ií]as?|diarios?)\b|день|сутки|дн\.|日|天",
    ),
    (
        "week",
        r"\b(?:weeks?|weekly|wk|semanas?|semanal(?:es)?)\b|недел[юяи]|нед\.?|周|週|星期",
    ),
    (
        "month",
        r"\b(?:months?|monthly|mo|mes(?:es)?|mensual(?:es)?)\b|месяц|мес\.?|月",
    ),
    (
        "year",
        r"\b(?:years?|yearly|annual(?:ly)?|yr|años?|anual(?:es)?)\b|год|年",
    ),
];

/// An amount: `1.500`, `5 000`, `$5,000.50`, `2.5`, `15,00`.
const NUMBER: &str = r"(?P<num>[0-9]{1,3}(?:[,.\x{a0}' ][0-9]{3}){1,5}(?:[.,][0-9]{1,2})?|[0-9]{1,9}(?:[.,][0-9]{1,2})?)";

/// Multipliers after an amount: `20 mil`, `80 т.`, `2.5万`, `150k`.
const MAGNITUDE: &str =
    r"(?P<mag>k|mil|тыс\.?|тысяч[аи]?|т\.|млн\.?|mill[oó]n(?:es)?|million|万|萬|千)";

/// Chinese salary words; the period is in the word (月 month, 日 day, 时 hour, 年 year, 周 week).
const CN_SALARY: &str = r"(?P<per>月薪|月入|月收入|日结|日結|日薪|时薪|時薪|年薪|周薪|週薪|底薪|工资|工資|薪资|薪資|薪水)";

/// One way money is printed: `default` currency when none is printed, `needs_period` for
/// shapes that are only money when a period follows (`2.5万/月`).
struct MoneyRule {
    pattern: Regex,
    default: Option<&'static str>,
    needs_period: bool,
}

/// The money table: prefix currency, suffix currency, Chinese salary word, `万`/`千` + period.
static MONEY_RULES: LazyLock<Vec<MoneyRule>> = LazyLock::new(|| {
    let cur: Vec<&str> = CURRENCIES.iter().map(|(_, p)| *p).collect();
    let cur = cur.join("|");
    let (num, mag) = (NUMBER, MAGNITUDE);
    let rule = |p: String, default, needs_period| MoneyRule {
        pattern: re(&format!("(?i){p}")),
        default,
        needs_period,
    };
    vec![
        rule(
            format!(r"(?:^|[^\p{{L}}])(?P<pre>{cur})\s?{num}(?:\s?{mag})?(?:\s?(?P<post>{cur}))?"),
            None,
            false,
        ),
        rule(
            format!(r"{num}(?:\s?{mag})?\s?(?P<post>{cur})"),
            None,
            false,
        ),
        rule(
            format!(
                r"{CN_SALARY}[:：]?\s*(?:过|過|超过|超過|上|高达|高達|约|約)?\s*{num}?(?:\s?{mag})?(?:\s?(?P<post>{cur}))?"
            ),
            Some("CNY"),
            false,
        ),
        rule(
            format!(r"{num}\s?(?P<mag>万|萬|千)\s?(?:元|块|塊)?"),
            Some("CNY"),
            true,
        ),
    ]
});

/// A whole currency token, resolved to its code.
static CURRENCY_CODE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!("(?i)^(?:{})$", named_alternation(CURRENCIES))));

/// A period stated right after an amount: `/mes`, `a month`, `la hora`, `в месяц`, `每月`.
static PERIOD_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    let connector = r"(?:/|\b(?:per|a|an|al|la|el|por|cada|each|every)\b|в\s|за\s|每|一)";
    re(&format!(
        r"(?i)^\s*(?:{connector}\s*){{0,2}}(?:{})",
        named_alternation(PERIODS)
    ))
});

/// A period word anywhere in a Chinese salary word.
static PERIOD_WORD: LazyLock<Regex> = LazyLock::new(|| re(&named_alternation(PERIODS)));

/// Money in order of appearance, with spans (prices must not be read as phones or ages).
fn find_money(text: &str, region: Option<Id>, hits: &RuleHits) -> Vec<(Span, Money)> {
    let found = MONEY_RULES
        .iter()
        .enumerate()
        .filter(|&(i, _)| hits.money(i))
        .flat_map(|(_, rule)| {
            let matches = rule.pattern.captures_iter(text);
            matches.filter_map(move |caps| money_from(text, &caps, rule, region))
        })
        .collect();
    non_overlapping(found)
}

/// Build one `Money` from a match of `rule`, or `None` if the match is not money after all.
fn money_from(
    text: &str,
    caps: &Captures,
    rule: &MoneyRule,
    region: Option<Id>,
) -> Option<(Span, Money)> {
    let whole = caps.get(0)?;
    let num = caps.name("num");
    let mag = caps.name("mag");
    if num.is_some_and(|n| glued_to_digits(text, n.start(), n.end(), b"")) {
        return None;
    }
    let amount = match (num, mag) {
        (None, None) => return None,
        (n, m) => {
            let base = n.map_or(Some(1.0), |n| parse_amount(n.as_str()))?;
            base * m.map_or(1.0, |m| magnitude(m.as_str()))
        }
    };
    let post = caps
        .name("post")
        .filter(|p| !glued_to_word(text, p.end(), p.as_str()));
    let token = post.or(caps.name("pre")).map(|t| t.as_str());
    let currency = match token {
        Some(token) => currency_code(token, region)?,
        None => rule.default?,
    };
    let per = match caps.name("per") {
        Some(word) => period_in(&PERIOD_WORD, word.as_str()),
        None => period_in(&PERIOD_AFTER, after(text, whole.end(), 40)),
    };
    let money_ok = amount.is_finite() && amount > 0.0 && (per.is_some() || !rule.needs_period);
    let money = Money {
        amount,
        currency: currency.to_string(),
        per: per.map(str::to_string),
    };
    money_ok.then_some(((whole.start(), whole.end()), money))
}

/// A Latin or Cyrillic currency word running on into more letters ("5 Nights" is not naira).
fn glued_to_word(text: &str, end: usize, token: &str) -> bool {
    let alphabetic_end = token
        .chars()
        .last()
        .is_some_and(|c| c.is_alphabetic() && (c as u32) < 0x2000);
    let next = text[end..].chars().next();
    alphabetic_end && next.is_some_and(char::is_alphabetic)
}

/// Parse `1.500` / `5 000` / `1,234.56` / `2.5` / `15,00`: a last `.` or `,` followed by one or
/// two digits is the decimal mark; every other separator groups thousands.
fn parse_amount(number: &str) -> Option<f64> {
    let (whole, fraction) = match number.rfind(['.', ',']) {
        Some(mark) if (2..=3).contains(&(number.len() - mark)) => {
            (&number[..mark], &number[mark + 1..])
        }
        _ => (number, ""),
    };
    let whole: String = whole.chars().filter(char::is_ascii_digit).collect();
    format!("{whole}.{fraction}0").parse().ok()
}

/// The multiplier a magnitude word stands for.
fn magnitude(word: &str) -> f64 {
    let word = word.to_lowercase();
    if word.starts_with("mill") || word.starts_with("млн") {
        1e6
    } else if word == "万" || word == "萬" {
        1e4
    } else {
        1e3
    }
}

/// ISO code of a currency token; pesos are the peso of the region (MXN by default).
fn currency_code(token: &str, region: Option<Id>) -> Option<&'static str> {
    let caps = CURRENCY_CODE.captures(token)?;
    match matched_name(&caps, CURRENCIES)? {
        "PESO" => Some(match region {
            Some(Id::CO) => "COP",
            Some(Id::AR) => "ARS",
            Some(Id::CL) => "CLP",
            Some(Id::DO) => "DOP",
            Some(Id::CU) => "CUP",
            Some(Id::UY) => "UYU",
            Some(Id::PH) => "PHP",
            _ => "MXN",
        }),
        code => Some(code),
    }
}

/// The name of the period `pattern` finds in `text`.
fn period_in(pattern: &Regex, text: &str) -> Option<&'static str> {
    let caps = pattern.captures(text)?;
    matched_name(&caps, PERIODS)
}

// ---------------------------------------------------------------------------------------------
// Ages.

/// Which bounds a matched age phrase gives.
#[derive(Clone, Copy)]
enum Bound {
    Range,
    AtLeast,
    AtMost,
    Exact,
}

/// One way ages are printed; `needs_context` when the phrase alone could be something else
/// (`de 8 a 17` are working hours) and an age word or unit must be nearby.
struct AgeRule {
    pattern: Regex,
    bound: Bound,
    needs_context: bool,
}

/// Words for "age".
const AGE_WORD: &str = r"edad(?:es)?|\b(?:ages?|aged)\b|возраст\w*|年龄|年齡|年纪|年紀";

/// Age units ("years", "лет", "岁").
const AGE_UNIT: &str = r"\b(?:a[ñn]os?|years?|yrs?)\b|лет|года?|周岁|週歲|岁|歲";

/// The age table. Where two rules match at one place the longer match wins, so the optional
/// age word in front of a range keeps "age 18-30" from being read as "age 18".
static AGE_RULES: LazyLock<Vec<AgeRule>> = LazyLock::new(|| {
    let n = |name: &str| format!("(?P<{name}>[0-9]{{1,2}})");
    let (lo, hi) = (n("lo"), n("hi"));
    let rule = |p: String, bound, needs_context| AgeRule {
        pattern: re(&format!("(?i){p}")),
        bound,
        needs_context,
    };
    vec![
        rule(
            format!(
                r"(?:(?:{AGE_WORD})\s*[:：]?\s*)?(?:\b(?:de|entre|from|between)\b\s*|от\s*|с\s)?{lo}\s*(?:-|–|—|~|～|\b(?:to|a|y|and)\b|до|по|至|到)\s*{hi}"
            ),
            Bound::Range,
            true,
        ),
        rule(
            format!(
                r"(?:no\s+menor(?:es)?\s+de|mayor(?:es)?\s+de|older\s+than|старше|не\s+моложе|не\s+младше)\s*{lo}"
            ),
            Bound::AtLeast,
            false,
        ),
        rule(
            r"(?P<lo>1[68]|21)\s?\+|\+\s?(?P<lo2>1[68]|21)".into(),
            Bound::AtLeast,
            false,
        ),
        rule(
            format!(r"{lo}\s*(?:周岁|週歲|岁|歲)\s*(?:及)?以上"),
            Bound::AtLeast,
            false,
        ),
        rule(
            format!(
                r"(?:\b(?:over|above|minimum)\b|at\s+least|m[aá]s\s+de|m[ií]nimo|a\s+partir\s+de|desde\s+los|от|не\s+менее)\s*{lo}"
            ),
            Bound::AtLeast,
            true,
        ),
        rule(
            format!(r"{hi}\s*(?:周岁|週歲|岁|歲)\s*(?:及)?以下"),
            Bound::AtMost,
            false,
        ),
        rule(
            format!(
                r"(?:menor(?:es)?\s+de|hasta|\bunder\b|up\s+to|younger\s+than|до|не\s+старше|моложе)\s*{hi}"
            ),
            Bound::AtMost,
            true,
        ),
        rule(
            format!(
                r"{lo}\s*(?:years?\s+old|yrs?\s+old|y/o\b|a[ñn]os\s+de\s+edad|周岁|週歲|岁|歲)"
            ),
            Bound::Exact,
            false,
        ),
        rule(
            format!(r"(?:{AGE_WORD})\s*[:：]?\s*{lo}"),
            Bound::Exact,
            false,
        ),
    ]
});

/// An age word before the phrase, or inside it.
static AGE_WORD_RE: LazyLock<Regex> = LazyLock::new(|| re(&format!("(?i){AGE_WORD}")));

/// An age unit right after the phrase.
static AGE_UNIT_AFTER: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"(?i)^\s*(?:{AGE_UNIT})")));

/// Units that make the numbers hours, money or sizes instead of ages.
static NOT_AGE_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:\b(?:h|hrs?|horas?|hours?|mil|k|kg|cm|km|m|usd|pesos|d[oó]lares)\b|час|ч\b|руб|тыс|點|点|元|万|:|%|\$|€)",
    )
});

/// Ages as `[min, max]` in order of appearance; `mask` holds spans already taken by dates,
/// links, money and phones.
fn find_ages(text: &str, mask: &Mask, hits: &RuleHits) -> Vec<[u32; 2]> {
    let found = AGE_RULES
        .iter()
        .enumerate()
        .filter(|&(i, _)| hits.age(i))
        .flat_map(|(_, rule)| {
            let matches = rule.pattern.captures_iter(text);
            matches.filter_map(move |caps| age_from(text, &caps, rule, mask))
        })
        .collect();
    non_overlapping(found)
        .into_iter()
        .map(|(_, age)| age)
        .collect()
}

/// Build one `[min, max]` from a match of `rule`, or `None` if it is not an age.
fn age_from(text: &str, caps: &Captures, rule: &AgeRule, mask: &Mask) -> Option<(Span, [u32; 2])> {
    let whole = caps.get(0)?;
    let span = (whole.start(), whole.end());
    let first = caps.name("lo").or(caps.name("lo2")).or(caps.name("hi"))?;
    let last = caps.name("hi").unwrap_or(first);
    let tail = after(text, span.1, 24);
    // Cheapest tests first: most matches (digits of phones and prices) fail the first two, and
    // the context's three searches are only needed by the rules that ask for it.
    let in_context = || {
        AGE_WORD_RE.is_match(whole.as_str())
            || AGE_UNIT_AFTER.is_match(tail)
            || AGE_WORD_RE.is_match(before(text, span.0, 40))
    };
    let rejected = mask.hits(span)
        || glued_to_digits(text, first.start(), last.end(), b"-./")
        || NOT_AGE_AFTER.is_match(tail)
        || (rule.needs_context && !in_context());
    if rejected {
        return None;
    }
    let first: u32 = first.as_str().parse().ok()?;
    let last: u32 = last.as_str().parse().ok()?;
    let age = match rule.bound {
        Bound::Range => [first, last],
        Bound::AtLeast => [first, 99],
        Bound::AtMost => [0, last],
        Bound::Exact => [first, first],
    };
    let plausible = age.iter().all(|&a| a == 0 || (12..=99).contains(&a)) && age[0] <= age[1];
    plausible.then_some((span, age))
}

// ---------------------------------------------------------------------------------------------
// Default region.

/// Offices and countries by the region their local numbers belong to. Matched as whole words
/// after lowercasing and stripping accents; earlier entries win ("New Mexico" is not Mexico).
const PLACES: &[(&str, Id)] = &[
    ("new mexico", Id::US),
    ("mexico", Id::MX),
    ("cdmx", Id::MX),
    ("guadalajara", Id::MX),
    ("monterrey", Id::MX),
    ("tijuana", Id::MX),
    ("puebla", Id::MX),
    ("cancun", Id::MX),
    ("colombia", Id::CO),
    ("bogota", Id::CO),
    ("medellin", Id::CO),
    ("cali", Id::CO),
    ("peru", Id::PE),
    ("lima", Id::PE),
    ("guatemala", Id::GT),
    ("honduras", Id::HN),
    ("tegucigalpa", Id::HN),
    ("san pedro sula", Id::HN),
    ("el salvador", Id::SV),
    ("san salvador", Id::SV),
    ("nicaragua", Id::NI),
    ("managua", Id::NI),
    ("dominican", Id::DO),
    ("dominicana", Id::DO),
    ("santo domingo", Id::DO),
    ("ecuador", Id::EC),
    ("quito", Id::EC),
    ("guayaquil", Id::EC),
    ("venezuela", Id::VE),
    ("caracas", Id::VE),
    ("argentina", Id::AR),
    ("buenos aires", Id::AR),
    ("chile", Id::CL),
    ("santiago", Id::CL),
    ("bolivia", Id::BO),
    ("la paz", Id::BO),
    ("cuba", Id::CU),
    ("havana", Id::CU),
    ("habana", Id::CU),
    ("spain", Id::ES),
    ("espana", Id::ES),
    ("madrid", Id::ES),
    ("philippines", Id::PH),
    ("filipinas", Id::PH),
    ("manila", Id::PH),
    ("cebu", Id::PH),
    ("davao", Id::PH),
    ("nigeria", Id::NG),
    ("lagos", Id::NG),
    ("abuja", Id::NG),
    ("ghana", Id::GH),
    ("accra", Id::GH),
    ("kenya", Id::KE),
    ("nairobi", Id::KE),
    ("india", Id::IN),
    ("delhi", Id::IN),
    ("mumbai", Id::IN),
    ("united kingdom", Id::GB),
    ("london", Id::GB),
    ("canada", Id::CA),
    ("toronto", Id::CA),
    ("united states", Id::US),
    ("usa", Id::US),
    ("washington", Id::US),
    ("new york", Id::US),
    ("hong kong", Id::HK),
    ("香港", Id::HK),
    ("taiwan", Id::TW),
    ("taipei", Id::TW),
    ("台北", Id::TW),
    ("臺北", Id::TW),
    ("台湾", Id::TW),
    ("台灣", Id::TW),
    ("china", Id::CN),
    ("beijing", Id::CN),
    ("shanghai", Id::CN),
    ("guangzhou", Id::CN),
    ("shenzhen", Id::CN),
    ("fuzhou", Id::CN),
    ("中国", Id::CN),
    ("北京", Id::CN),
    ("上海", Id::CN),
    ("广州", Id::CN),
    ("福州", Id::CN),
    ("russia", Id::RU),
    ("moscow", Id::RU),
    ("saint petersburg", Id::RU),
    ("st. petersburg", Id::RU),
    ("novosibirsk", Id::RU),
    ("vladivostok", Id::RU),
    ("россия", Id::RU),
    ("москва", Id::RU),
    ("санкт-петербург", Id::RU),
    ("ukraine", Id::UA),
    ("kyiv", Id::UA),
    ("kiev", Id::UA),
    ("kharkiv", Id::UA),
    ("odesa", Id::UA),
    ("odessa", Id::UA),
    ("lviv", Id::UA),
    ("украина", Id::UA),
    ("україна", Id::UA),
    ("киев", Id::UA),
    ("київ", Id::UA),
    ("kazakhstan", Id::KZ),
    ("almaty", Id::KZ),
    ("astana", Id::KZ),
    ("казахстан", Id::KZ),
    ("алматы", Id::KZ),
    ("belarus", Id::BY),
    ("minsk", Id::BY),
    ("минск", Id::BY),
    ("moldova", Id::MD),
    ("chisinau", Id::MD),
    ("uzbekistan", Id::UZ),
    ("tashkent", Id::UZ),
    ("kyrgyzstan", Id::KG),
    ("bishkek", Id::KG),
    ("vietnam", Id::VN),
    ("hanoi", Id::VN),
    ("thailand", Id::TH),
    ("bangkok", Id::TH),
    ("indonesia", Id::ID),
    ("jakarta", Id::ID),
];

/// Guess the phone region for numbers printed without a country code: from the office name
/// first ("Mexico City", "Manila", "Москва", "北京", country names too; case- and
/// accent-insensitive), else from a region subtag of `lang` ("es-CO"), else from the language
/// (es -> MX, en -> US, zh -> CN, ru -> RU).
pub fn default_region(office: Option<&str>, lang: &str) -> Option<Id> {
    office
        .and_then(region_of_office)
        .or_else(|| region_of_lang(lang))
}

/// The region of the first `PLACES` entry named in the office.
fn region_of_office(office: &str) -> Option<Id> {
    let folded = fold(office);
    PLACES
        .iter()
        .find(|(name, _)| contains_word(&folded, name))
        .map(|&(_, id)| id)
}

/// The region a language tag implies.
fn region_of_lang(lang: &str) -> Option<Id> {
    let mut parts = lang.split(['-', '_']);
    let primary = parts.next()?.to_ascii_lowercase();
    let subtag = parts
        .next()
        .and_then(|r| r.to_ascii_uppercase().parse().ok());
    subtag.or(match primary.as_str() {
        "es" => Some(Id::MX),
        "en" => Some(Id::US),
        "zh" => Some(Id::CN),
        "ru" => Some(Id::RU),
        _ => None,
    })
}

/// Lowercase and strip Latin accents ("Bogotá" -> "bogota", "Ciudad de MÉXICO" -> "... mexico").
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            'ș' | 'ş' => 's',
            'ё' => 'е',
            other => other,
        })
        .collect()
}

/// `name` occurs in `haystack` as a whole word (CJK names have no word boundaries to check).
fn contains_word(haystack: &str, name: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    haystack.match_indices(name).any(|(at, _)| {
        let cjk = name.chars().any(|c| c as u32 >= 0x2E80);
        let prev = haystack[..at].chars().next_back();
        let next = haystack[at + name.len()..].chars().next();
        cjk || (!is_word(prev) && !is_word(next))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(text: &str, region: Option<Id>) -> Vec<String> {
        extract(text, region).phones
    }

    fn handle(app: &str, id: &str) -> Handle {
        Handle {
            app: app.into(),
            id: id.into(),
        }
    }

    fn money(amount: f64, currency: &str, per: Option<&str>) -> Money {
        Money {
            amount,
            currency: currency.into(),
            per: per.map(Into::into),
        }
    }

    fn money_in(text: &str, region: Option<Id>) -> Vec<Money> {
        extract(text, region).money
    }

    fn ages(text: &str) -> Vec<[u32; 2]> {
        extract(text, None).ages
    }

    // --- phones -------------------------------------------------------------------------------

    #[test]
    fn phones_with_country_code() {
        let mx = "+525512345678";
        assert_eq!(phones("Informes +52 1 55 1234 5678", None), [mx]);
        assert_eq!(phones("Informes +52 55 1234 5678", Some(Id::US)), [mx]);
        assert_eq!(
            phones("Звоните +380 67 123 4567", Some(Id::RU)),
            ["+380671234567"]
        );
        assert_eq!(phones("(+52) 55-1234-5678", None), [mx]);
    }

    #[test]
    fn phones_national_formats_by_region() {
        assert_eq!(
            phones("Llame al 55 1234 5678 hoy", Some(Id::MX)),
            ["+525512345678"]
        );
        assert_eq!(
            phones("Tel. 044 55 1234 5678", Some(Id::MX)),
            ["+525512345678"]
        );
        assert_eq!(
            phones("тел. 8 (916) 123-45-67", Some(Id::RU)),
            ["+79161234567"]
        );
        assert_eq!(
            phones("致电 138 0013 8000", Some(Id::CN)),
            ["+8613800138000"]
        );
        assert_eq!(phones("手机13800138000", Some(Id::CN)), ["+8613800138000"]);
        assert_eq!(
            phones("Text 0917 123 4567 now", Some(Id::PH)),
            ["+639171234567"]
        );
        assert_eq!(
            phones("Call 0803 123 4567", Some(Id::NG)),
            ["+2348031234567"]
        );
        assert_eq!(
            phones("Call (212) 555-1234", Some(Id::US)),
            ["+12125551234"]
        );
    }

    #[test]
    fn phones_glued_to_words() {
        assert_eq!(
            phones("电话13800138000联系", Some(Id::CN)),
            ["+8613800138000"]
        );
        assert_eq!(phones("тел.89161234567", Some(Id::RU)), ["+79161234567"]);
    }

    #[test]
    fn phones_without_plus_read_as_international_when_long() {
        assert_eq!(
            phones("Viber 380 67 123 4567", Some(Id::MX)),
            ["+380671234567"]
        );
    }

    #[test]
    fn phones_side_by_side_are_split() {
        let found = phones("Tel 55 1234 5678 55 8765 4321", Some(Id::MX));
        assert_eq!(found, ["+525512345678", "+525587654321"]);
    }

    #[test]
    fn fictional_555_numbers_need_a_phone_word() {
        assert_eq!(
            phones("Call (555) 123-4567", Some(Id::US)),
            ["+15551234567"]
        );
        assert!(phones("Ref (555) 123-4567", Some(Id::US)).is_empty());
        assert!(phones("Call 555-0192", Some(Id::US)).is_empty());
    }

    #[test]
    fn phones_deduplicated_in_order() {
        let text = "Tel 8 916 123-45-67, WhatsApp +79161234567, или 8 (926) 765-43-21";
        assert_eq!(phones(text, Some(Id::RU)), ["+79161234567", "+79267654321"]);
    }

    #[test]
    fn no_phones_in_dates_prices_years_or_licenses() {
        let mx = Some(Id::MX);
        assert!(phones("Publicado 12/05/2024 y 12.05.2024, desde 2019", mx).is_empty());
        assert!(phones("Sueldo $5,000 o $5.000.000 pesos", mx).is_empty());
        assert!(phones("Lic. 5512345678", mx).is_empty());
        assert!(phones("license number 2125551234", Some(Id::US)).is_empty());
        assert!(phones("RFC: 5512345678", mx).is_empty());
        assert!(phones("№ лицензии 9161234567", Some(Id::RU)).is_empty());
        assert!(phones("许可证号：13800138000", Some(Id::CN)).is_empty());
        assert!(phones("QQ：13800138000", Some(Id::CN)).is_empty());
        assert_eq!(phones("Lic. Pérez 55 1234 5678", mx), ["+525512345678"]);
    }

    #[test]
    fn no_phones_without_region_or_plus() {
        assert!(phones("call 5512345678", None).is_empty());
    }

    // --- e-mails and URLs ---------------------------------------------------------------------

    #[test]
    fn emails_lowercased_and_urls_with_or_without_scheme() {
        let text = "Escriba a Ana.Lopez@Gmail.COM o visite www.trabajo-usa.com, vk.com/id123, \
                    t.me/jobs_usa y https://empleos.example.mx/oferta?id=7.";
        let found = extract(text, Some(Id::MX));
        assert_eq!(found.emails, ["ana.lopez@gmail.com"]);
        assert_eq!(
            found.urls,
            [
                "www.trabajo-usa.com",
                "vk.com/id123",
                "t.me/jobs_usa",
                "https://empleos.example.mx/oferta?id=7"
            ]
        );
    }

    #[test]
    fn typos_are_not_urls() {
        assert!(extract("Buen trabajo.Llame ya. 1.500 euros", None)
            .urls
            .is_empty());
    }

    // --- handles ------------------------------------------------------------------------------

    #[test]
    fn whatsapp_handles_are_phones() {
        let wa = handle("whatsapp", "+525512345678");
        for text in [
            "WhatsApp +52 55 1234 5678",
            "WA: 55 1234 5678",
            "Wsp 55-1234-5678",
            "whats 5512345678",
        ] {
            let found = extract(text, Some(Id::MX));
            assert_eq!(found.handles, std::slice::from_ref(&wa), "{text}");
            assert_eq!(found.phones, ["+525512345678"], "{text}");
        }
        for text in ["ватсап 89161234567", "вотсап: +7 916 123 45 67"] {
            let found = extract(text, Some(Id::RU));
            assert_eq!(
                found.handles,
                [handle("whatsapp", "+79161234567")],
                "{text}"
            );
        }
    }

    #[test]
    fn wechat_handles() {
        for (text, id) in [
            ("WeChat: abc_123", "abc_123"),
            ("微信：abc123", "abc123"),
            ("微信号 abc123", "abc123"),
            ("加V信：Job888", "job888"),
            ("威信 hr_li", "hr_li"),
            ("加微 abc123", "abc123"),
            ("加vx：work2024", "work2024"),
        ] {
            assert_eq!(
                extract(text, Some(Id::CN)).handles,
                [handle("wechat", id)],
                "{text}"
            );
        }
        assert!(extract("contact us on WeChat for details", None)
            .handles
            .is_empty());
    }

    #[test]
    fn telegram_handles() {
        for text in [
            "Telegram @jobs_usa",
            "tg: @jobs_usa",
            "телеграм @Jobs_USA",
            "t.me/jobs_usa",
        ] {
            let found = extract(text, None).handles;
            assert_eq!(found, [handle("telegram", "jobs_usa")], "{text}");
        }
        let found = extract("Telegram: t.me/jobs_usa", None).handles;
        assert_eq!(found, [handle("telegram", "jobs_usa")]);
    }

    #[test]
    fn qq_vk_line_viber_handles() {
        let cases = [
            ("QQ：12345678", handle("qq", "12345678")),
            ("扣扣 87654321", handle("qq", "87654321")),
            ("VK vk.com/id123", handle("vk", "id123")),
            ("ВКонтакте: ivan_petrov", handle("vk", "ivan_petrov")),
            ("пишите в вк: ivan_petrov", handle("vk", "ivan_petrov")),
            ("LINE ID: abc", handle("line", "abc")),
            ("Line：thai_jobs", handle("line", "thai_jobs")),
            ("Viber +380 67 123 4567", handle("viber", "+380671234567")),
            ("вайбер +380671234567", handle("viber", "+380671234567")),
        ];
        for (text, expected) in cases {
            assert_eq!(extract(text, None).handles, [expected], "{text}");
        }
    }

    #[test]
    fn one_number_for_two_apps() {
        let found = extract("WhatsApp/Viber: +380 67 123 4567", None);
        let id = "+380671234567";
        assert_eq!(found.handles, [handle("whatsapp", id), handle("viber", id)]);
        assert_eq!(found.phones, [id]);
    }

    #[test]
    fn wa_me_links_are_whatsapp_and_phones() {
        let found = extract("Escríbenos: https://wa.me/5215512345678", None);
        assert_eq!(found.handles, [handle("whatsapp", "+525512345678")]);
        assert_eq!(found.phones, ["+525512345678"]);
    }

    #[test]
    fn bare_at_username_is_not_a_handle() {
        assert!(extract("Síguenos @empleos_usa", None).handles.is_empty());
        assert!(extract("online work, line cook wanted", None)
            .handles
            .is_empty());
    }

    // --- money --------------------------------------------------------------------------------

    #[test]
    fn money_english() {
        assert_eq!(
            money_in("Earn $5,000 a month!", None),
            [money(5000.0, "USD", Some("month"))]
        );
        assert_eq!(money_in("$15/hr", None), [money(15.0, "USD", Some("hour"))]);
        let php = money_in("₱25,000 monthly", None);
        assert_eq!(php, [money(25000.0, "PHP", Some("month"))]);
        assert_eq!(
            money_in("Pay N150,000", None),
            [money(150000.0, "NGN", None)]
        );
        assert_eq!(money_in("Pay ₦150k", None), [money(150000.0, "NGN", None)]);
        assert_eq!(money_in("Rs. 40,000", None), [money(40000.0, "INR", None)]);
        assert!(money_in("Stay 5 Nights", None).is_empty());
    }

    #[test]
    fn money_spanish() {
        let mx = Some(Id::MX);
        assert_eq!(
            money_in("USD 3000/mes", mx),
            [money(3000.0, "USD", Some("month"))]
        );
        assert_eq!(
            money_in("€1.500 al mes", mx),
            [money(1500.0, "EUR", Some("month"))]
        );
        assert_eq!(money_in("1.500 euros", mx), [money(1500.0, "EUR", None)]);
        let hourly = money_in("15 dólares la hora", mx);
        assert_eq!(hourly, [money(15.0, "USD", Some("hour"))]);
        assert_eq!(money_in("S/ 2500", mx), [money(2500.0, "PEN", None)]);
        assert_eq!(money_in("20 mil pesos", mx), [money(20000.0, "MXN", None)]);
        assert_eq!(
            money_in("20 mil pesos", Some(Id::CO)),
            [money(20000.0, "COP", None)]
        );
        assert_eq!(money_in("$8,000 pesos", mx), [money(8000.0, "MXN", None)]);
        assert_eq!(money_in("$8,000", mx), [money(8000.0, "USD", None)]);
    }

    #[test]
    fn money_russian() {
        let ru = Some(Id::RU);
        let usd = money_in("5 000 долларов в месяц", ru);
        assert_eq!(usd, [money(5000.0, "USD", Some("month"))]);
        assert_eq!(money_in("от 2000$", ru), [money(2000.0, "USD", None)]);
        assert_eq!(
            money_in("50 000 руб./мес", ru),
            [money(50000.0, "RUB", Some("month"))]
        );
        assert_eq!(money_in("з/п 80 т.р.", ru), [money(80000.0, "RUB", None)]);
        assert_eq!(
            money_in("1500 грн в сутки", ru),
            [money(1500.0, "UAH", Some("day"))]
        );
    }

    #[test]
    fn money_chinese() {
        let cn = Some(Id::CN);
        let month = Some("month");
        assert_eq!(money_in("月薪8000元", cn), [money(8000.0, "CNY", month)]);
        assert_eq!(money_in("月入过万", cn), [money(10000.0, "CNY", month)]);
        assert_eq!(money_in("2.5万/月", cn), [money(25000.0, "CNY", month)]);
        assert_eq!(money_in("日结300", cn), [money(300.0, "CNY", Some("day"))]);
        assert_eq!(money_in("時薪120", cn), [money(120.0, "CNY", Some("hour"))]);
        assert_eq!(
            money_in("年薪30万", cn),
            [money(300000.0, "CNY", Some("year"))]
        );
        assert_eq!(money_in("月薪3000美元", cn), [money(3000.0, "USD", month)]);
        assert!(money_in("招聘30万人", cn).is_empty());
    }

    // --- ages ---------------------------------------------------------------------------------

    #[test]
    fn age_ranges() {
        for (text, age) in [
            ("chicas 18-25 años", [18, 25]),
            ("edad de 18 a 35", [18, 35]),
            ("entre 20 y 30 años", [20, 30]),
            ("age 18-30", [18, 30]),
            ("aged 21 to 35", [21, 35]),
            ("девушки от 18 до 25 лет", [18, 25]),
            ("18-25岁", [18, 25]),
            ("18至30岁", [18, 30]),
            ("年龄18-35", [18, 35]),
        ] {
            assert_eq!(ages(text), [age], "{text}");
        }
    }

    #[test]
    fn open_ended_ages_use_0_and_99() {
        for (text, age) in [
            ("mayores de 18", [18, 99]),
            ("solo 18+", [18, 99]),
            ("старше 18", [18, 99]),
            ("18岁以上", [18, 99]),
            ("до 35 лет", [0, 35]),
            ("menores de 30 años", [0, 30]),
            ("35周岁以下", [0, 35]),
            ("25 years old", [25, 25]),
            ("年龄：22", [22, 22]),
        ] {
            assert_eq!(ages(text), [age], "{text}");
        }
    }

    #[test]
    fn no_ages_from_prices_phones_dates_or_hours() {
        assert!(ages("de 18 a 35").is_empty());
        assert!(ages("Edad 25. Horario de 18 a 22 hrs").len() == 1);
        assert!(ages("$18-25 per hour").is_empty());
        assert!(ages("тел. 8 916 123-18-25, возраст не важен").is_empty());
        assert!(ages("publicado 18-05-2024, edad indiferente").is_empty());
        assert!(ages("2-3 años de experiencia").is_empty());
    }

    // --- merge, regions, contract -------------------------------------------------------------

    #[test]
    fn merge_is_an_ordered_union() {
        let mut text = extract(
            "WhatsApp +52 55 1234 5678, $5,000 a month, 18-25 años",
            None,
        );
        let translation = extract("WhatsApp +52 55 1234 5678, ages 18-25, info@x.com", None);
        text.merge(translation);
        assert_eq!(text.phones, ["+525512345678"]);
        assert_eq!(text.handles.len(), 1);
        assert_eq!(text.ages, [[18, 25]]);
        assert_eq!(text.emails, ["info@x.com"]);
    }

    #[test]
    fn default_region_from_office_then_language() {
        assert_eq!(default_region(Some("Mexico City"), "en"), Some(Id::MX));
        assert_eq!(
            default_region(Some("Embajada en BOGOTÁ"), "es"),
            Some(Id::CO)
        );
        assert_eq!(default_region(Some("Consulate Manila"), "en"), Some(Id::PH));
        assert_eq!(default_region(Some("Москва"), "en"), Some(Id::RU));
        assert_eq!(default_region(Some("Kyiv office"), "ru"), Some(Id::UA));
        assert_eq!(default_region(Some("北京办事处"), "en"), Some(Id::CN));
        assert_eq!(default_region(Some("Lagos"), "en"), Some(Id::NG));
        assert_eq!(
            default_region(Some("Santa Fe, New Mexico"), "es"),
            Some(Id::US)
        );
        assert_eq!(default_region(Some("Somewhere"), "ru"), Some(Id::RU));
        assert_eq!(default_region(None, "zh"), Some(Id::CN));
        assert_eq!(default_region(None, "es-CO"), Some(Id::CO));
        assert_eq!(default_region(None, "fr"), None);
    }

    #[test]
    fn serializes_to_the_contract_shape() {
        let found = extract(
            "WhatsApp +52 55 1234 5678. $5,000 a month. 18-25 años",
            None,
        );
        let json = serde_json::to_value(&found).expect("serializes");
        let expected = serde_json::json!({
            "phones": ["+525512345678"], "emails": [], "urls": [],
            "handles": [{"app": "whatsapp", "id": "+525512345678"}],
            "money": [{"amount": 5000.0, "currency": "USD", "per": "month"}],
            "ages": [[18, 25]]
        });
        assert_eq!(json, expected);
    }

    // --- robustness ---------------------------------------------------------------------------

    #[test]
    fn hostile_input_returns() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let random: String = (0..50_000)
            .filter_map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from_u32((seed % 0x3_0000) as u32)
            })
            .collect();
        let inputs = [
            "1".repeat(200_000),
            "1 ".repeat(100_000),
            "@".repeat(200_000),
            "a@".repeat(100_000),
            "$1 ".repeat(70_000),
            "WhatsApp ".repeat(22_000),
            "18-25 años ".repeat(18_000),
            "<div><a href='http://x.co/?q=1'>+52 55 1234 5678</a></div>".repeat(3_500),
            "微信：abc123 月薪8000元 ".repeat(10_000),
            random,
        ];
        for input in &inputs {
            let found = extract(input, Some(Id::MX));
            assert!(found.phones.len() <= input.len());
        }
    }
}
