//! The JSON object `adscreen score` prints for a scored ad, written straight into a byte buffer.
//!
//! serde_json's derived serializers escape every field name again for every ad and hand each
//! piece to the writer separately: a fifth of the output thread's work, which runs beside the
//! two scoring threads on a two-core machine. Here the names are byte literals, and only what
//! comes from the ad (its id, evidence, contacts) goes through serde_json's escaping; numbers
//! go through serde_json too, so they print exactly as before. The bytes are those of
//! `serde_json::to_vec(&ad)` (a test compares the two on the corpora); a field added to
//! [`ScoredAd`], [`Evidence`] or [`Entities`] must be added here as well.

use serde::Serialize;

use super::{round3, Evidence, ScoredAd};
use crate::ingest::entities::{Handle, Money};
use crate::ingest::{Entities, Lang};
use crate::taxonomy::Indicator;

/// Appends `ad` to `out` as one JSON object, without a newline.
pub fn write_scored(out: &mut Vec<u8>, ad: &ScoredAd) {
    out.extend_from_slice(b"{\"id\":");
    scalar(out, &ad.id);
    out.extend_from_slice(b",\"lang\":");
    lang(out, ad.lang);
    out.extend_from_slice(b",\"lang_declared\":");
    lang(out, ad.lang_declared);
    out.extend_from_slice(b",\"lang_confidence\":");
    scalar(out, &round3(ad.lang_confidence));
    out.extend_from_slice(b",\"lang_mismatch\":");
    scalar(out, &ad.lang_mismatch);
    out.extend_from_slice(b",\"score\":");
    scalar(out, &round3(ad.score));
    out.extend_from_slice(b",\"flagged\":");
    scalar(out, &ad.flagged);
    out.extend_from_slice(b",\"indicators\":{");
    for (i, (indicator, p)) in Indicator::ALL.iter().zip(ad.indicators.0).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        name(out, indicator.id());
        out.push(b':');
        scalar(out, &round3(p));
    }
    out.extend_from_slice(b"},\"flagged_indicators\":");
    list(out, &ad.flagged_indicators, |out, i| name(out, i.id()));
    out.extend_from_slice(b",\"evidence\":");
    list(out, &ad.evidence, evidence);
    out.extend_from_slice(b",\"entities\":");
    entities(out, &ad.entities);
    out.extend_from_slice(b",\"model_version\":");
    scalar(out, &ad.model_version);
    out.push(b'}');
}

/// One span of evidence.
fn evidence(out: &mut Vec<u8>, e: &Evidence) {
    out.extend_from_slice(b"{\"field\":");
    scalar(out, &e.field);
    out.extend_from_slice(b",\"start\":");
    scalar(out, &e.start);
    out.extend_from_slice(b",\"end\":");
    scalar(out, &e.end);
    out.extend_from_slice(b",\"text\":");
    scalar(out, &e.text);
    out.extend_from_slice(b",\"indicator\":");
    match e.indicator {
        Some(i) => name(out, i.id()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"weight\":");
    scalar(out, &e.weight);
    out.push(b'}');
}

/// Contacts, money and ages.
fn entities(out: &mut Vec<u8>, e: &Entities) {
    out.extend_from_slice(b"{\"phones\":");
    list(out, &e.phones, scalar);
    out.extend_from_slice(b",\"emails\":");
    list(out, &e.emails, scalar);
    out.extend_from_slice(b",\"urls\":");
    list(out, &e.urls, scalar);
    out.extend_from_slice(b",\"handles\":");
    list(out, &e.handles, handle);
    out.extend_from_slice(b",\"money\":");
    list(out, &e.money, money);
    out.extend_from_slice(b",\"ages\":");
    list(out, &e.ages, scalar);
    out.push(b'}');
}

/// One messenger account.
fn handle(out: &mut Vec<u8>, h: &Handle) {
    out.extend_from_slice(b"{\"app\":");
    scalar(out, &h.app);
    out.extend_from_slice(b",\"id\":");
    scalar(out, &h.id);
    out.push(b'}');
}

/// One amount of money.
fn money(out: &mut Vec<u8>, m: &Money) {
    out.extend_from_slice(b"{\"amount\":");
    scalar(out, &m.amount);
    out.extend_from_slice(b",\"currency\":");
    scalar(out, &m.currency);
    out.extend_from_slice(b",\"per\":");
    scalar(out, &m.per);
    out.push(b'}');
}

/// A language code, or null.
fn lang(out: &mut Vec<u8>, lang: Option<Lang>) {
    match lang {
        Some(l) => name(out, l.code()),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON array of `items`, each written by `item`.
fn list<T>(out: &mut Vec<u8>, items: &[T], item: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// A string of adscreen's own (an indicator id, a language code): plain ASCII letters and
/// underscores, which JSON never escapes.
fn name(out: &mut Vec<u8>, s: &str) {
    debug_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// A value as serde_json writes it: numbers, booleans and escaped strings print as before.
fn scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("a value serializes into memory");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{records, Format};
    use crate::model::Model;
    use crate::Screener;

    #[test]
    fn writes_what_serde_json_writes() {
        let screener = Screener {
            model: Model::load(None).unwrap(),
            office: None,
        };
        let root = env!("CARGO_MANIFEST_DIR");
        let mut checked = 0;
        for split in ["train", "test"] {
            for entry in std::fs::read_dir(format!("{root}/corpora/{split}")).unwrap() {
                let file = std::fs::File::open(entry.unwrap().path()).unwrap();
                let input = Box::new(std::io::BufReader::new(file));
                for read in records(input, Format::Jsonl, split) {
                    let ad = screener.screen(read.unwrap().record);
                    let mut out = Vec::new();
                    write_scored(&mut out, &ad);
                    let expected = serde_json::to_vec(&ad).unwrap();
                    assert_eq!(String::from_utf8(out), String::from_utf8(expected));
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked} ads");
    }
}
