//! The LSH bucket index as stored: one `lsh_buckets` row per bucket, holding the ids of its
//! [`BUCKET_CANDIDATES`](super::BUCKET_CANDIDATES) most recent ads, newest first, as text
//! (`"6,5,4,3"`).
//!
//! A list in a column because linking only ever reads or replaces a bucket whole: a batch reads
//! each bucket it meets by its key and writes each one it changed once (an upsert), where a row
//! per ad and bucket cost an insert for every ad and a delete for every ad it pushed out.

use anyhow::{Context, Result};

/// The stored form of a bucket's ids.
pub fn to_text(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// A bucket's ids, from its stored form.
pub fn from_text(text: &str) -> Result<Vec<i64>> {
    text.split(',')
        .map(|id| {
            id.parse()
                .with_context(|| format!("lsh_buckets holds {text:?}, not a list of ad ids: run `adscreen network rebuild`"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_their_stored_form() {
        let ids = [1_000_123, 42, 7, 1];
        assert_eq!(to_text(&ids), "1000123,42,7,1");
        assert_eq!(from_text(&to_text(&ids)).unwrap(), ids);
        assert!(from_text("3,,1").is_err());
    }
}
