//! Analysts' labels → retraining → promotion: `train --from-db` lets a label override the corpus,
//! `model promote` refuses a worse candidate, installs a better one, audits both decisions, and a
//! running server picks the promoted model up without restarting.

mod common;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{data, root, run, run_stdin, Server, TestStore};

fn copy_bundle(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// A small, weak bundle trained on tests/data/labeled.jsonl.
fn small_model(out: &Path, db: Option<&str>) -> common::Run {
    let labeled = data("labeled.jsonl");
    let mut args = vec![
        "train",
        "--data",
        &labeled,
        "--out",
        out.to_str().unwrap(),
        "--folds",
        "0",
        "--vocab-size",
        "1000",
    ];
    if let Some(db) = db {
        args.extend(["--from-db", "--db", db]);
    }
    run(&args)
}

fn train_from_db_lets_an_analysts_label_override_the_corpus(store: TestStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = store.arg();
    // One ad of the corpus and one new ad, both labelled by an analyst.
    let corpus_line = std::fs::read_to_string(data("labeled.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let corpus_ad: serde_json::Value = serde_json::from_str(&corpus_line).unwrap();
    let new_ad = r#"{"id": "field-1", "lang": "es", "text": "Se buscan jornaleros para la cosecha de fresa en California, visa H-2A tramitada por la empresa, sin costo para el trabajador."}"#;
    let input = format!("{corpus_line}\n{new_ad}\n");
    assert_eq!(
        run_stdin(&["submit", "-", "--db", &db], input.as_bytes()).code,
        0
    );
    let flipped = if corpus_ad["label"] == 1 {
        "--benign"
    } else {
        "--suspicious"
    };
    for id in ["1", "2"] {
        let r = run(&["queue", "label", id, flipped, "--db", &db]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let out = dir.path().join("model");
    let r = small_model(&out, Some(&db));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("2 analysts' labels from the store: 1 override the files, 1 are new ads"),
        "{}",
        r.stderr
    );
    let m = manifest(&out);
    assert_eq!(m["training_data"]["ads"], 161);
    let files = m["training_data"]["files"].to_string();
    assert!(
        files.contains("store:") && files.contains("(2 labels)"),
        "{files}"
    );
}

fn promote_refuses_a_worse_model_installs_a_better_one_and_the_server_picks_it_up(
    store: TestStore,
) {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    let r = small_model(&small, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shipped = root().join("models/default");
    let current = dir.path().join("current");
    copy_bundle(&shipped, &current);
    let s = Server::start_on(std::sync::Arc::new(store), Some(&current));
    let eval = root().join("corpora/test/es-en.jsonl");
    let promote = |candidate: &Path, user: &str| {
        run(&[
            "model",
            "promote",
            candidate.to_str().unwrap(),
            "--current",
            current.to_str().unwrap(),
            "--data",
            eval.to_str().unwrap(),
            "--user",
            user,
            "--db",
            &s.db,
        ])
    };

    let r = promote(&small, "analyst");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("only an admin"), "{}", r.stderr);

    // The small model is worse than the shipped one: refused, nothing changes.
    let r = promote(&small, "admin");
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("promotion refused"), "{}", r.stderr);
    common::assert_shows(&r.stdout, &["overall", "es", "en", "worse"]);
    assert_eq!(manifest(&current), manifest(&shipped));

    // Now the other way round: the server runs the small model, the shipped one is better.
    std::fs::remove_dir_all(&current).unwrap();
    copy_bundle(&small, &current);
    let small_version = manifest(&small)["model_version"].clone();
    let shipped_version = manifest(&shipped)["model_version"].clone();
    let started = Instant::now();
    while s.call("GET", "/health", None, None).1["model"] != small_version {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server never loaded the small model"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = promote(&shipped, "admin");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("promoted"), "{}", r.stdout);
    assert_eq!(manifest(&current), manifest(&shipped));
    assert!(dir.path().join("current.previous/manifest.json").exists());
    let started = Instant::now();
    while s.call("GET", "/health", None, None).1["model"] != shipped_version {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server never picked up the promoted model"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let audit = run(&["audit", "--json", "--db", &s.db]).json_lines();
    let decisions: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("model_"))
        .collect();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["action"], "model_promote");
    assert_eq!(decisions[1]["action"], "model_refuse");
    for d in decisions {
        assert_eq!(d["user"], "admin");
        assert!(d["before"]["figures"]["es"]["pr_auc"].is_number(), "{d}");
        assert!(d["after"]["figures"]["es"]["pr_auc"].is_number(), "{d}");
        assert!(d["after"]["comparison"]["slices"].is_array(), "{d}");
    }
}

on_both_stores!(
    train_from_db_lets_an_analysts_label_override_the_corpus,
    promote_refuses_a_worse_model_installs_a_better_one_and_the_server_picks_it_up,
);
