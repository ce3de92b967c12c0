//! The model bundle on disk: `manifest.json`, `tokenizer.json` (Hugging Face format) and
//! `weights.safetensors`.
//!
//! `weights.safetensors` holds three tensors: `features` (u32, `width × 2`: the token id and the
//! next token id of each feature column, `4294967295` as the second for a unigram), `weights`
//! (f32, `width × 12`: one column per head, the overall label first, then the indicators in
//! taxonomy order) and `intercepts` (f32, 12). The manifest records the SHA-256 of both other
//! files, checked on load, so a bundle altered after training is refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::metrics::Summary;
use super::{Heads, Model, HEADS};
use crate::features::{tokenizer_from_bytes, FeatureKey, Featurizer};

/// The bundle format this version reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const TOKENIZER: &str = "tokenizer.json";
const WEIGHTS: &str = "weights.safetensors";
const MANIFEST: &str = "manifest.json";

/// Where the shipped model lives, relative to the repository (or next to the binary's install).
pub const DEFAULT_MODEL_DIR: &str = "models/default";

/// What a bundle says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Bundle format; a different one is refused.
    pub format_version: u32,
    /// Identifies the model in scores and the store: creation date and a digest of the weights.
    pub model_version: String,
    /// When it was trained (RFC 3339).
    pub created: String,
    /// The data it was trained on.
    pub training_data: TrainingData,
    /// Overall scores at or above this are flagged.
    pub threshold: f32,
    /// How the threshold was chosen.
    pub threshold_rule: String,
    /// Each indicator's threshold (the one with the best held-out F1).
    pub indicator_thresholds: BTreeMap<String, f32>,
    /// The hyperparameters used.
    pub params: serde_json::Value,
    /// Head names, in weight-column order.
    pub heads: Vec<String>,
    /// Heads with too few positive examples to train; they always score near 0.
    pub untrained_heads: Vec<String>,
    /// Held-out figures: `overall`, per language, per indicator.
    pub metrics: BTreeMap<String, Summary>,
    /// Seconds spent training, cross-validation included.
    pub training_seconds: f64,
    /// SHA-256 of every other file of the bundle.
    pub files: BTreeMap<String, String>,
}

/// The training data, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// The files, as given to `train`.
    pub files: Vec<String>,
    /// SHA-256 over the files' bytes, in the order given.
    pub sha256: String,
    /// Labeled ads used.
    pub ads: usize,
    /// Ads per language (`es`, …) and label (`es:1`, …).
    pub counts: BTreeMap<String, usize>,
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Model {
    /// Loads a bundle, verifying its checksums. `None` loads the shipped `models/default/`.
    pub fn load(dir: Option<&Path>) -> Result<Model> {
        let dir = dir.map_or_else(default_dir, Path::to_path_buf);
        let manifest_path = dir.join(MANIFEST);
        let manifest: Manifest = serde_json::from_slice(&fs::read(&manifest_path).with_context(|| {
            format!(
                "no model bundle at {}: pass --model DIR, or train one with `adscreen train --data corpora/train/*.jsonl --out {}`",
                dir.display(),
                dir.display()
            )
        })?)
        .with_context(|| format!("{} is not a valid manifest", manifest_path.display()))?;
        if manifest.format_version != FORMAT_VERSION {
            bail!(
                "{} has bundle format {}, this adscreen reads format {FORMAT_VERSION}: retrain it with `adscreen train`",
                dir.display(),
                manifest.format_version
            );
        }
        for report in manifest
            .files
            .keys()
            .filter(|f| ![TOKENIZER, WEIGHTS].contains(&f.as_str()))
        {
            verified(&dir, &manifest, report)?;
        }
        let tokenizer = tokenizer_from_bytes(&verified(&dir, &manifest, TOKENIZER)?)?;
        let (keys, heads) = read_weights(&verified(&dir, &manifest, WEIGHTS)?)
            .with_context(|| format!("{}/{WEIGHTS}", dir.display()))?;
        Ok(Model {
            featurizer: Featurizer::new(tokenizer, keys),
            heads,
            thresholds: thresholds(&manifest)?,
            manifest,
        })
    }

    /// Writes the bundle into `dir` (created if needed), filling in the manifest's checksums and
    /// model version.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tokenizer_path = dir.join(TOKENIZER);
        self.featurizer.save_tokenizer(&tokenizer_path)?;
        let weights = write_weights(self.featurizer.keys(), &self.heads)?;
        fs::write(dir.join(WEIGHTS), &weights)?;
        let tokenizer_sha = sha256_hex(&fs::read(&tokenizer_path)?);
        let weights_sha = sha256_hex(&weights);
        self.manifest.model_version =
            format!("{}-{}", &self.manifest.created[..10], &weights_sha[..8]);
        self.manifest.files = BTreeMap::from([
            (TOKENIZER.to_string(), tokenizer_sha),
            (WEIGHTS.to_string(), weights_sha),
        ]);
        let json = serde_json::to_string_pretty(&self.manifest)?;
        fs::write(dir.join(MANIFEST), json + "\n")?;
        Ok(())
    }
}

/// The threshold of every head, from the manifest.
fn thresholds(m: &Manifest) -> Result<[f32; HEADS]> {
    let mut t = [m.threshold; HEADS];
    for (h, name) in super::train::head_names().iter().enumerate().skip(1) {
        t[h] = *m.indicator_thresholds.get(name).with_context(|| {
            format!("the manifest has no threshold for {name}: retrain the bundle")
        })?;
    }
    Ok(t)
}

/// Writes report files (evaluation results) into a bundle and records their SHA-256 in its
/// manifest, so that they are checked on load like the model's own files.
pub fn write_reports(dir: &Path, reports: &[(&str, String)]) -> Result<()> {
    let path = dir.join(MANIFEST);
    let mut manifest: Manifest = serde_json::from_slice(&fs::read(&path)?)?;
    for (name, text) in reports {
        fs::write(dir.join(name), text)
            .with_context(|| format!("cannot write {}/{name}", dir.display()))?;
        manifest
            .files
            .insert(name.to_string(), sha256_hex(text.as_bytes()));
    }
    fs::write(&path, serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(())
}

/// `models/default` beside the current directory, or beside the executable's repository.
pub fn default_dir() -> PathBuf {
    let here = PathBuf::from(DEFAULT_MODEL_DIR);
    if here.join(MANIFEST).exists() {
        return here;
    }
    // An installed binary run from elsewhere: look next to the crate it was built from.
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL_DIR)
}

/// A bundle file's bytes, after checking them against the manifest.
fn verified(dir: &Path, manifest: &Manifest, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    let bytes =
        fs::read(&path).with_context(|| {
            format!(
                "the bundle is missing {}: restore the bundle's files or retrain it with `adscreen train`",
                path.display()
            )
        })?;
    let expected = manifest.files.get(name).map(String::as_str).unwrap_or("");
    let actual = sha256_hex(&bytes);
    if actual != expected {
        bail!(
            "checksum mismatch for {}: the manifest says {expected}, the file hashes to {actual}. \
             The bundle was altered after training: restore it or retrain with `adscreen train`",
            path.display()
        );
    }
    Ok(bytes)
}

fn write_weights(keys: &[FeatureKey], heads: &Heads) -> Result<Vec<u8>> {
    let feats: Vec<u8> = keys
        .iter()
        .flat_map(|&(a, b)| [a, b])
        .flat_map(u32::to_le_bytes)
        .collect();
    let weights: Vec<u8> = heads.weights.iter().flat_map(|w| w.to_le_bytes()).collect();
    let intercepts: Vec<u8> = heads
        .intercepts
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let tensors = [
        (
            "features",
            TensorView::new(Dtype::U32, vec![keys.len(), 2], &feats)?,
        ),
        (
            "weights",
            TensorView::new(Dtype::F32, vec![keys.len(), HEADS], &weights)?,
        ),
        (
            "intercepts",
            TensorView::new(Dtype::F32, vec![HEADS], &intercepts)?,
        ),
    ];
    Ok(safetensors::serialize(tensors, &None)?)
}

fn read_weights(bytes: &[u8]) -> Result<(Vec<FeatureKey>, Heads)> {
    let st = safetensors::SafeTensors::deserialize(bytes)?;
    let words = |name: &str, dtype: Dtype| -> Result<Vec<[u8; 4]>> {
        let t = st.tensor(name)?;
        if t.dtype() != dtype {
            bail!("tensor {name} has type {:?}, expected {dtype:?}", t.dtype());
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect())
    };
    let ids: Vec<u32> = words("features", Dtype::U32)?
        .into_iter()
        .map(u32::from_le_bytes)
        .collect();
    let weights: Vec<f32> = words("weights", Dtype::F32)?
        .into_iter()
        .map(f32::from_le_bytes)
        .collect();
    let intercepts: Vec<f32> = words("intercepts", Dtype::F32)?
        .into_iter()
        .map(f32::from_le_bytes)
        .collect();
    let keys: Vec<FeatureKey> = ids.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    if weights.len() != keys.len() * HEADS || intercepts.len() != HEADS {
        bail!(
            "weights do not match {} features × {HEADS} heads",
            keys.len()
        );
    }
    let intercepts: [f32; HEADS] = intercepts.try_into().expect("length checked");
    Ok((
        keys,
        Heads {
            weights,
            intercepts,
        },
    ))
}
