//! Template similarity: MinHash signatures of an ad's wording and the LSH band keys that find
//! near-duplicates without comparing every pair.
//!
//! Shingles are character 4-grams of the normalized text (lowercased, NFKC, Traditional →
//! Simplified) with every digit masked to `0` and everything but letters and digits dropped.
//! Dropping whitespace makes Chinese (written without spaces), Russian and Spanish look alike to
//! the shingler, and masking digits makes an ad re-posted with another phone number, price or date
//! the same template. Signatures are 64 MinHash values; LSH cuts them into 16 bands of 4, so two texts whose shingle sets have Jaccard similarity `s`
//! share a band with probability `1 − (1 − s⁴)¹⁶`: 0.53 at s = 0.5, 0.98 at s = 0.7. Candidates
//! are then kept only if the signatures estimate `s ≥ 0.5`.

use std::hash::Hasher;
use std::sync::LazyLock;

use fnv::FnvHasher;

/// Characters per shingle.
const SHINGLE: usize = 4;
/// Texts with fewer shingles than this ("Call 555-0100") say too little to be a template.
const MIN_SHINGLES: usize = 12;
/// MinHash values per signature.
pub const HASHES: usize = 64;
/// LSH bands; `HASHES / BANDS` values per band.
pub const BANDS: usize = 16;
/// Estimated Jaccard similarity at or above which two texts are the same template.
pub const MIN_SIMILARITY: f32 = 0.5;

/// The MinHash values of one text.
pub type Signature = Vec<u32>;

/// The 64 hash functions, `h ↦ (a·h + b) >> 32` over 64-bit shingle hashes (multiply-add-shift,
/// a universal family), with `a` odd. The constants come from SplitMix64 with a fixed seed, so
/// signatures, which the store keeps, never change between builds.
///
/// Not gaoya's `MinHasher32`: its constants come from `rand`'s sampling, which may change with a
/// `rand` upgrade and silently invalidate the keys stores hold, and it reduces every value modulo
/// a prime where one multiply-add does.
static HASH_FUNCTIONS: LazyLock<[(u64, u64); HASHES]> = LazyLock::new(|| {
    let mut state: u64 = 0x00ad_5c4e_e000_5eed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    std::array::from_fn(|_| (next() | 1, next()))
});

/// The signature of a normalized text, or `None` when it is too short to be a template.
pub fn signature(normalized: &str) -> Option<Signature> {
    let chars: Vec<char> = normalized
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| if c.is_numeric() { '0' } else { c })
        .collect();
    if chars.len() < SHINGLE + MIN_SHINGLES - 1 {
        return None;
    }
    let mut shingles: Vec<u64> = chars
        .windows(SHINGLE)
        .map(|w| {
            let mut h = FnvHasher::default();
            for c in w {
                h.write_u32(*c as u32);
            }
            h.finish()
        })
        .collect();
    shingles.sort_unstable();
    shingles.dedup();
    let mut sig = vec![u32::MAX; HASHES];
    for h in shingles {
        for (min, (a, b)) in sig.iter_mut().zip(HASH_FUNCTIONS.iter()) {
            *min = (*min).min((h.wrapping_mul(*a).wrapping_add(*b) >> 32) as u32);
        }
    }
    Some(sig)
}

/// One key per band: the band number in the top 8 bits, a hash of its values in the other 56,
/// so that all bands live in one integer index.
pub fn band_keys(sig: &[u32]) -> impl Iterator<Item = i64> + '_ {
    let rows = HASHES / BANDS;
    sig.chunks(rows).enumerate().map(|(band, values)| {
        // FNV, not std's randomly seeded hasher: keys are stored and must not change.
        let mut h = FnvHasher::default();
        for v in values {
            h.write_u32(*v);
        }
        ((band as i64) << 56) | (h.finish() >> 8) as i64
    })
}

/// Estimated Jaccard similarity of the texts behind two signatures.
pub fn similarity(a: &[u32], b: &[u32]) -> f32 {
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f32 / a.len().max(1) as f32
}

/// A signature as stored: little-endian `u32`s.
pub fn to_blob(sig: &[u32]) -> Vec<u8> {
    sig.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The signature of a stored blob.
pub fn from_blob(blob: &[u8]) -> Signature {
    blob.chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::normalize;

    fn sig(text: &str) -> Signature {
        signature(&normalize(text).text).expect("long enough")
    }

    #[test]
    fn signatures_are_stable_across_builds() {
        // Signatures and band keys are stored: if this changes, stores must be
        // rebuilt with `adscreen network rebuild`, and the release notes must say so.
        let s = sig("Se solicitan señoritas para trabajar en Houston");
        assert_eq!(&s[..3], &[60_334_448, 16_749_801, 81_804_048]);
    }

    #[test]
    fn a_chinese_ad_reposted_with_another_phone_is_the_same_template() {
        let a = sig("高薪招聘女服务员，包吃包住，月入过万，免费办理出国手续，联系电话13812345678");
        let b = sig("高薪招聘女服务员，包吃包住，月入过万，免费办理出国手续，联系电话15998765432");
        assert_eq!(similarity(&a, &b), 1.0);
    }

    #[test]
    fn a_changed_city_stays_similar_and_another_ad_does_not() {
        let a = sig("Se solicitan señoritas de 18 a 25 años para trabajar en Houston, pasaje pagado, hospedaje incluido.");
        let b = sig("Se solicitan señoritas de 18 a 25 años para trabajar en Miami, pasaje pagado, hospedaje incluido.");
        let c = sig("Vendo departamento en la colonia Roma, dos recámaras, estacionamiento, informes al teléfono.");
        assert!(similarity(&a, &b) >= 0.7, "{}", similarity(&a, &b));
        assert!(
            similarity(&a, &c) < MIN_SIMILARITY,
            "{}",
            similarity(&a, &c)
        );
        assert!(band_keys(&a).zip(band_keys(&b)).any(|(x, y)| x == y));
    }

    #[test]
    fn short_texts_have_no_signature() {
        assert_eq!(signature("tel 5550100"), None);
    }

    #[test]
    fn blobs_round_trip() {
        let s = sig("Работа в Москве для девушек, жильё бесплатно");
        assert_eq!(from_blob(&to_blob(&s)), s);
    }
}
