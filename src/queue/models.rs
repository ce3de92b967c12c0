//! Promoted models kept in the store, so that every server sharing it — on any machine — runs
//! the same model: `model promote` records the bundle's files here, and each server looks for a
//! newer one every few seconds, writes it to a local cache and swaps it in (checksums verified).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::store::now;
use super::SqlStore;
use crate::model::bundle::sha256_hex;
use crate::params;

/// A model promoted through the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotedModel {
    /// Its row in `models`.
    pub id: i64,
    /// SHA-256 of its manifest (which names every other file's digest).
    pub digest: String,
    /// When it was promoted.
    pub promoted_at: String,
    /// The admin who promoted it.
    pub promoted_by: String,
}

/// Where promoted models are kept.
pub trait ModelStore {
    /// Records the bundle in `dir` (every file in it) as the promoted model.
    fn record_model(&mut self, dir: &Path, by: &str) -> Result<PromotedModel>;
    /// The latest promoted model, if any was ever promoted through the store.
    fn promoted_model(&self) -> Result<Option<PromotedModel>>;
    /// The files of model `id`, by name.
    fn model_files(&self, id: i64) -> Result<Vec<(String, Vec<u8>)>>;
}

impl ModelStore for SqlStore {
    fn record_model(&mut self, dir: &Path, by: &str) -> Result<PromotedModel> {
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((name, fs::read(entry.path())?));
            }
        }
        let manifest = files
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .with_context(|| format!("{} has no manifest.json", dir.display()))?;
        let digest = sha256_hex(&manifest.1);
        let tx = self.db().transaction()?;
        let at = now();
        let id: i64 = tx.value(
            "INSERT INTO models (digest, promoted_at, promoted_by) VALUES (?1, ?2, ?3) RETURNING id",
            params![&digest, &at, by],
        )?;
        for (name, bytes) in files {
            tx.execute(
                "INSERT INTO model_files (model, name, bytes) VALUES (?1, ?2, ?3)",
                params![id, name, bytes],
            )?;
        }
        tx.commit()?;
        Ok(PromotedModel {
            id,
            digest,
            promoted_at: at,
            promoted_by: by.to_string(),
        })
    }

    fn promoted_model(&self) -> Result<Option<PromotedModel>> {
        self.db()
            .query_opt(
                "SELECT id, digest, promoted_at, promoted_by FROM models ORDER BY id DESC LIMIT 1",
                &[],
            )?
            .map(|r| {
                Ok(PromotedModel {
                    id: r.get(0)?,
                    digest: r.get(1)?,
                    promoted_at: r.get(2)?,
                    promoted_by: r.get(3)?,
                })
            })
            .transpose()
    }

    fn model_files(&self, id: i64) -> Result<Vec<(String, Vec<u8>)>> {
        self.db().query_map(
            "SELECT name, bytes FROM model_files WHERE model = ?1 ORDER BY name",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}

/// Writes a promoted model's files under `cache` (once per digest) and returns the bundle
/// directory. The files land in a temporary directory renamed into place, so that two servers
/// on one machine never load a half-written bundle.
pub fn materialize(store: &dyn ModelStore, model: &PromotedModel, cache: &Path) -> Result<PathBuf> {
    let dir = cache.join(&model.digest);
    if dir.join("manifest.json").exists() {
        return Ok(dir);
    }
    let incoming = cache.join(format!(".{}.{}", model.digest, std::process::id()));
    fs::create_dir_all(&incoming)
        .with_context(|| format!("cannot create {}", incoming.display()))?;
    for (name, bytes) in store.model_files(model.id)? {
        if name.contains('/') || name.starts_with('.') {
            continue;
        }
        fs::write(incoming.join(&name), bytes)?;
    }
    if fs::rename(&incoming, &dir).is_err() {
        // Another server got there first: theirs is complete.
        let _ = fs::remove_dir_all(&incoming);
    }
    Ok(dir)
}

/// The local cache of models fetched from the store.
pub fn default_cache() -> PathBuf {
    std::env::temp_dir().join("adscreen-models")
}
