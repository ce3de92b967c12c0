//! A model bundle is used only as trained: altered files are refused with a checksum error naming
//! the file, and a missing or incompatible bundle says what to run. (An altered weights file and
//! an edited report are covered in tests/train.rs, a missing bundle directory in tests/score.rs.)

mod common;
use common::{data, run};

use std::path::Path;

/// A copy of the shipped bundle to damage.
fn bundle_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::root().join("models/default")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// `adscreen score` with the bundle at `dir`: must fail with exit 1, saying every one of `says`.
fn assert_refused(dir: &Path, says: &[&str]) {
    let r = run(&[
        "score",
        &data("ads.jsonl"),
        "--model",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "scored with a bad bundle: {}",
        r.stdout
    );
    common::assert_shows(&r.stderr, says);
}

#[test]
fn an_altered_tokenizer_is_refused_with_a_checksum_error_naming_it() {
    let bundle = bundle_copy();
    let path = bundle.path().join("tokenizer.json");
    // One changed vocabulary entry, still valid JSON: only the checksum can tell.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"a\":35", "\"a\":36", 1)).unwrap();
    assert_refused(
        bundle.path(),
        &["checksum mismatch for", "tokenizer.json", "adscreen train"],
    );
}

#[test]
fn a_bundle_missing_a_file_says_what_to_run() {
    let bundle = bundle_copy();
    std::fs::remove_file(bundle.path().join("weights.safetensors")).unwrap();
    assert_refused(
        bundle.path(),
        &[
            "the bundle is missing",
            "weights.safetensors",
            "adscreen train",
        ],
    );
}

#[test]
fn a_bundle_of_another_format_version_says_what_to_run() {
    let bundle = bundle_copy();
    let path = bundle.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["format_version"] = 99.into();
    std::fs::write(&path, manifest.to_string()).unwrap();
    assert_refused(
        bundle.path(),
        &["has bundle format 99", "reads format 1", "adscreen train"],
    );
}
