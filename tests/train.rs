//! `adscreen train` and `adscreen eval`: a bundle that loads, scores and reports; a tampered one
//! is refused.

mod common;
use common::{data, run, Run};
use std::path::Path;

/// `adscreen train --data tests/data/labeled.jsonl --out OUT EXTRA…`
fn train(out: &Path, extra: &[&str]) -> Run {
    let labeled = data("labeled.jsonl");
    let mut args = vec!["train", "--data", &labeled, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

/// A bundle's manifest.
fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn trains_a_bundle_that_scores_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let out_s = out.to_str().unwrap();
    let r = train(&out, &["--vocab-size", "2000", "--folds", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in ["manifest.json", "tokenizer.json", "weights.safetensors"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let manifest = manifest(&out);
    assert_eq!(manifest["training_data"]["ads"], 160);
    for lang in ["es", "en", "zh", "ru"] {
        let pr = manifest["metrics"][lang]["pr_auc"].as_f64().unwrap();
        assert!(pr > 0.5, "{lang} held-out PR-AUC {pr}");
    }
    assert!(manifest["threshold_rule"]
        .as_str()
        .unwrap()
        .contains("recall"));
    assert_eq!(
        manifest["indicator_thresholds"].as_object().unwrap().len(),
        11
    );

    let scored = run(&["score", &data("ads.jsonl"), "--model", out_s]);
    assert_eq!(scored.code, 0, "{}", scored.stderr);
    assert_eq!(scored.json_lines().len(), 8);

    let eval = run(&["eval", "--model", out_s, "--data", &data("labeled.jsonl")]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    common::assert_shows(
        &eval.stdout,
        &[
            "PR-AUC",
            "ROC-AUC",
            "overall",
            "es",
            "zh",
            "travel_arranged",
            "calibration",
        ],
    );
    let json = run(&[
        "eval",
        "--model",
        out_s,
        "--data",
        &data("labeled.jsonl"),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(report["metrics"]["ru"]["pr_auc"].as_f64().unwrap() > 0.5);

    // --write keeps the report in the bundle, checked on load like the model's files.
    let written = run(&[
        "eval",
        "--model",
        out_s,
        "--data",
        &data("labeled.jsonl"),
        "--write",
    ]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    let md = std::fs::read_to_string(out.join("metrics.md")).unwrap();
    assert!(md.contains("PR-AUC") && md.contains("calibration"), "{md}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(saved["ads"], 160);
    assert_eq!(
        run(&["score", &data("ads.jsonl"), "--model", out_s]).code,
        0
    );
    std::fs::write(out.join("metrics.md"), "edited").unwrap();
    let edited = run(&["score", &data("ads.jsonl"), "--model", out_s]);
    assert!(
        edited.stderr.contains("checksum mismatch") && edited.stderr.contains("metrics.md"),
        "{}",
        edited.stderr
    );
    std::fs::write(out.join("metrics.md"), md).unwrap();

    // Alter the weights: the bundle must be refused.
    let weights = out.join("weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&weights, bytes).unwrap();
    let refused = run(&["score", &data("ads.jsonl"), "--model", out_s]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("checksum mismatch"),
        "{}",
        refused.stderr
    );
}

#[test]
fn training_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let fit = |name: &str| {
        let out = dir.path().join(name);
        let r = train(
            &out,
            &[
                "--vocab-size",
                "1000",
                "--folds",
                "2",
                "--max-iterations",
                "30",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        out
    };
    let (a, b) = (fit("a"), fit("b"));
    for f in ["tokenizer.json", "weights.safetensors"] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two runs"
        );
    }
}

#[test]
fn folds_zero_skips_cross_validation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let r = train(&out, &["--folds", "0", "--vocab-size", "1000"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let manifest = manifest(&out);
    assert_eq!(manifest["threshold"], 0.5);
    assert!(manifest["metrics"].as_object().unwrap().is_empty());
    assert!(manifest["threshold_rule"]
        .as_str()
        .unwrap()
        .contains("--folds 0"));
    let one = train(&out, &["--folds", "1"]);
    assert!(
        one.stderr.contains("at least 2 folds (or 0"),
        "{}",
        one.stderr
    );
}

#[test]
fn training_data_needs_labels() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&[
        "train",
        "--data",
        &data("ads.jsonl"),
        "--out",
        dir.path().join("m").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("field `label`: missing"), "{}", r.stderr);
}

#[test]
fn the_shipped_model_loads_with_its_manifest() {
    let manifest = manifest(&common::root().join("models/default"));
    assert_eq!(manifest["format_version"], 1);
    let t = manifest["threshold"].as_f64().unwrap();
    assert!(t > 0.0 && t < 1.0);
}
