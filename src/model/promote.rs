//! Promotion: a candidate bundle replaces the current one only if, on the same evaluation data,
//! it is not worse in any language beyond a stated tolerance.
//!
//! The measure is held-out PR-AUC, overall and per language: it ranks ads the way analysts read
//! the queue and does not depend on where either model put its threshold.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::metrics::Summary;
use super::Model;
use crate::ingest::Lang;

/// One slice (overall or a language) of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct SliceComparison {
    /// `overall`, `es`, `en`, `zh` or `ru`.
    pub slice: String,
    /// Ads of the evaluation data in the slice.
    pub ads: usize,
    /// The current model's PR-AUC.
    pub current: Option<f64>,
    /// The candidate's PR-AUC.
    pub candidate: Option<f64>,
}

impl SliceComparison {
    /// True when the candidate is worse than the current model by more than `tolerance`.
    pub fn worse(&self, tolerance: f64) -> bool {
        match (self.current, self.candidate) {
            (Some(cur), Some(cand)) => cand < cur - tolerance,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// Both models' figures on the same data, slice by slice.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Overall first, then each language present.
    pub slices: Vec<SliceComparison>,
    /// How much worse the candidate may be in any slice.
    pub tolerance: f64,
}

impl Comparison {
    /// Pairs two evaluation reports (as [`super::metrics::report`] makes them).
    pub fn new(
        current: &BTreeMap<String, Summary>,
        candidate: &BTreeMap<String, Summary>,
        tolerance: f64,
    ) -> Self {
        let names = std::iter::once("overall").chain(Lang::ALL.iter().map(|l| l.code()));
        let slices = names
            .filter_map(|slice| {
                let cur = current.get(slice)?;
                Some(SliceComparison {
                    slice: slice.to_string(),
                    ads: cur.ads,
                    current: cur.pr_auc,
                    candidate: candidate.get(slice).and_then(|s| s.pr_auc),
                })
            })
            .collect();
        Comparison { slices, tolerance }
    }

    /// The slices where the candidate is worse beyond the tolerance: promotion is refused unless
    /// this is empty.
    pub fn regressions(&self) -> Vec<&SliceComparison> {
        self.slices
            .iter()
            .filter(|s| s.worse(self.tolerance))
            .collect()
    }
}

/// Installs the bundle in `candidate` as `current`, keeping the old one as `current.previous`.
/// The new files are copied beside `current` and checked (checksums) before the swap, so a reader
/// of `current` sees the old bundle or the new one, never a mix.
pub fn install(candidate: &Path, current: &Path) -> Result<PathBuf> {
    let name = current
        .file_name()
        .with_context(|| format!("{} is not a bundle directory", current.display()))?
        .to_string_lossy()
        .into_owned();
    let incoming = current.with_file_name(format!(".{name}.incoming"));
    let previous = current.with_file_name(format!("{name}.previous"));
    let _ = fs::remove_dir_all(&incoming);
    fs::create_dir_all(&incoming)
        .with_context(|| format!("cannot create {}", incoming.display()))?;
    for entry in fs::read_dir(candidate)
        .with_context(|| format!("cannot read the candidate {}", candidate.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), incoming.join(entry.file_name()))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    if let Err(e) = Model::load(Some(&incoming)) {
        let _ = fs::remove_dir_all(&incoming);
        bail!("the copied candidate does not load, nothing changed: {e:#}");
    }
    if previous.exists() {
        fs::remove_dir_all(&previous)
            .with_context(|| format!("cannot remove {}", previous.display()))?;
    }
    fs::rename(current, &previous)
        .with_context(|| format!("cannot move {} aside", current.display()))?;
    fs::rename(&incoming, current)
        .with_context(|| format!("cannot install the candidate as {}", current.display()))?;
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_is_worse_only_beyond_the_tolerance() {
        let s = |current, candidate| SliceComparison {
            slice: "es".into(),
            ads: 10,
            current: Some(current),
            candidate: Some(candidate),
        };
        assert!(!s(0.95, 0.945).worse(0.01));
        assert!(s(0.95, 0.93).worse(0.01));
        assert!(!s(0.90, 0.99).worse(0.0));
    }
}
