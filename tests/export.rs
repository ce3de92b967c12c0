//! `adscreen export`: every export re-imports through adscreen's own readers, CSV cannot run
//! formulas in a spreadsheet, and a redacted export keeps nothing of the original contacts.

mod common;

use std::collections::BTreeSet;

use common::{run, DemoStore};
use serde_json::Value;

/// Exports from `store` with `args` into a file of the store's directory; returns its path.
fn export_to(store: &DemoStore, name: &str, args: &[&str]) -> String {
    let path = store.sibling(name);
    let mut all = vec!["export", "--out", &path];
    all.extend_from_slice(args);
    let r = store.run(&all);
    assert!(r.stderr.contains("exported"), "{}", r.stderr);
    path
}

fn jsonl(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every string in a JSON value, however deep.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn jsonl_export_reimports_and_round_trips() {
    for store in DemoStore::on_each_engine("jsonl_export_reimports_and_round_trips") {
        let store = store.with_demo_ads();
        store.run(&[
            "queue",
            "label",
            &store.id("demo-09"),
            "--suspicious",
            "--indicators",
            "travel_arranged",
            "--note",
            "lure",
        ]);
        let path = export_to(&store, "all.jsonl", &[]);
        let exported = jsonl(&path);
        assert_eq!(exported.len(), 16);
        let nine = exported.iter().find(|a| a["id"] == "demo-09").unwrap();
        assert_eq!(nine["label"], 1);
        assert_eq!(nine["indicators"], serde_json::json!(["travel_arranged"]));
        assert_eq!(nine["triage"][0]["note"], "lure");
        assert_eq!(nine["entities"]["handles"][0]["id"], "mei_job888");
        assert!(nine["evidence"].as_array().unwrap().len() > 1);

        // adscreen's own reader takes it back: score reads every record, submit stores every ad.
        let scored = run(&["score", &path]);
        assert_eq!(scored.code, 0, "{}", scored.stderr);
        assert_eq!(scored.json_lines().len(), 16);
        let copy = store.sibling("copy.db");
        let r = run(&["submit", &path, "--db", &copy]);
        assert!(r.stdout.contains("stored 16"), "{}", r.stdout);
        let again = run(&["export", "--db", &copy]);
        let fields = [
            "id",
            "lang",
            "text",
            "translation",
            "office",
            "publication",
            "published",
            "score",
            "flagged_indicators",
        ];
        for (a, b) in exported.iter().zip(again.json_lines()) {
            for f in fields {
                assert_eq!(a[f], b[f], "{f} of {}", a["id"]);
            }
        }
    }
}

#[test]
fn csv_export_cannot_run_formulas_and_reimports() {
    for store in DemoStore::on_each_engine("csv_export_cannot_run_formulas_and_reimports") {
        let store = store.with_demo_ads();
        let hostile = store.dir.path().join("hostile.jsonl");
        std::fs::write(
        &hostile,
        r#"{"id":"=1+1","lang":"es","text":"=HYPERLINK(\"http://evil.example\",\"ver\") Se buscan meseras para Houston","publication":"@SUM(A1:A9)","office":"-Lima","notes":"+1 555 0100 call"}
"#,
    )
    .unwrap();
        store.run(&["submit", hostile.to_str().unwrap()]);
        let path = export_to(&store, "ads.csv", &["--format", "csv", "--bom"]);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.starts_with("\u{feff}".as_bytes()),
            "no byte order mark"
        );

        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let header = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 17);
        for row in &rows {
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@']),
                    "a spreadsheet would run {cell:?}"
                );
            }
        }
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let evil = rows
            .iter()
            .find(|r| r[col("id")] == *"'=1+1")
            .expect("the hostile ad, neutralized");
        assert!(evil[col("text")].starts_with("'=HYPERLINK("));
        assert_eq!(&evil[col("publication")], "'@SUM(A1:A9)");
        assert_eq!(&evil[col("office")], "'-Lima");
        assert_eq!(&evil[col("notes")], "'+1 555 0100 call");

        // The CSV reader takes it back, byte order mark and all.
        let scored = run(&["score", &path]);
        assert_eq!(scored.code, 0, "{}", scored.stderr);
        assert_eq!(scored.json_lines().len(), 17);
    }
}

#[test]
fn redacted_exports_keep_no_contact_and_reuse_placeholders() {
    for store in
        DemoStore::on_each_engine("redacted_exports_keep_no_contact_and_reuse_placeholders")
    {
        let store = store.with_demo_ads();
        let thirteen = store.id("demo-13");
        store.run(&[
            "queue",
            "label",
            &thirteen,
            "--suspicious",
            "--user",
            "ivan.petrov",
            "--note",
            "same recruiter as +7 (916) 123-45-67; ask for Olga Petrova, olga.p@mail.ru",
        ]);
        store.run(&[
            "queue",
            "escalate",
            &thirteen,
            "--to",
            "Houston",
            "--reason",
            "also on WhatsApp 55 3412 8890 (see demo-01)",
        ]);

        // The contacts to hide: what the ingest stage extracts from the ads, those in the notes, and
        // the names that follow a cue in the demo ads.
        let mut phones: BTreeSet<String> = ["+79161234567".to_string()].into();
        let mut words: BTreeSet<String> = [
            "olga.p@mail.ru",
            "olga petrova",
            "lupita",
            "grace",
            "emeka",
            "ivan.petrov",
            "tester",
        ]
        .map(String::from)
        .into();
        for ad in run(&["score", "corpora/demo/ads.jsonl"]).json_lines() {
            let e = &ad["entities"];
            phones.extend(
                e["phones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string()),
            );
            words.extend(
                e["emails"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_string()),
            );
            words.extend(
                e["handles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["id"].as_str().unwrap().to_lowercase()),
            );
        }
        // The last 7 digits of every phone: what would identify it in any spacing.
        let tails: Vec<String> = phones
            .iter()
            .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
            .map(|d| d[d.len() - 7..].to_string())
            .collect();
        let check = |field: &str| {
            let digits: String = field.chars().filter(char::is_ascii_digit).collect();
            for t in &tails {
                assert!(
                    !digits.contains(t.as_str()),
                    "phone …{t} survives in {field:?}"
                );
            }
            let lower = field.to_lowercase();
            for w in words.iter().filter(|w| !w.starts_with('+')) {
                assert!(!lower.contains(w.as_str()), "{w:?} survives in {field:?}");
            }
        };

        let path = export_to(&store, "redacted.jsonl", &["--redact"]);
        let ads = jsonl(&path);
        let mut all = Vec::new();
        ads.iter().for_each(|ad| strings(ad, &mut all));
        all.iter().for_each(|s| check(s));
        let csv = std::fs::read_to_string(export_to(
            &store,
            "redacted.csv",
            &["--redact", "--format", "csv"],
        ))
        .unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        for row in reader.records() {
            row.unwrap().iter().for_each(check);
        }

        // The same number gets the same placeholder: in demo-01's text, its extracted phone, its
        // WhatsApp handle, and the analyst's note on demo-13.
        let ad = |ext: &str| ads.iter().find(|a| a["id"] == ext).unwrap();
        let one = ad("demo-01");
        let placeholder = one["entities"]["phones"][0].as_str().unwrap();
        assert!(placeholder.starts_with("[PHONE-"), "{placeholder}");
        assert_eq!(one["entities"]["handles"][0]["id"], placeholder);
        assert!(one["text"]
            .as_str()
            .unwrap()
            .contains(&format!("WhatsApp {placeholder}, preguntar por [NAME-")));
        let notes: Vec<&str> = ad("demo-13")["triage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["note"].as_str().unwrap())
            .collect();
        assert!(notes[1].contains(placeholder), "{notes:?}");
        assert!(
            notes[0].contains("ask for [NAME-") && notes[0].contains("[EMAIL-"),
            "{notes:?}"
        );
        // Redacted ads still read as ads.
        assert_eq!(run(&["score", &path]).json_lines().len(), 16);
    }
}

#[test]
fn labels_export_is_training_data() {
    for store in DemoStore::on_each_engine("labels_export_is_training_data") {
        let store = store.with_demo_ads();
        for (ext, verdict) in [
            ("demo-01", "--suspicious"),
            ("demo-05", "--suspicious"),
            ("demo-09", "--suspicious"),
            ("demo-02", "--benign"),
            ("demo-06", "--benign"),
            ("demo-10", "--benign"),
        ] {
            store.run(&[
                "queue",
                "label",
                &store.id(ext),
                verdict,
                "--indicators",
                "vague_employer",
            ]);
        }
        let path = export_to(&store, "labels.jsonl", &["--labels"]);
        let records = jsonl(&path);
        assert_eq!(records.len(), 6);
        for r in &records {
            let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                ["id", "indicators", "label", "lang", "text", "translation"]
            );
        }
        let labels: Vec<i64> = records
            .iter()
            .map(|r| r["label"].as_i64().unwrap())
            .collect();
        assert_eq!(labels, [1, 0, 1, 0, 1, 0]);
        let model = store.sibling("model");
        let r = run(&["train", "--data", &path, "--folds", "0", "--out", &model]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{model}/manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["training_data"]["ads"], 6, "{manifest}");
    }
}

#[test]
fn exports_carry_network_and_template_ids() {
    for store in DemoStore::on_each_engine("exports_carry_network_and_template_ids") {
        store.run(&["submit", &common::data("network-ads.jsonl")]);

        // The es/en translation pair shares a WhatsApp number and a template; the Russian ads share a
        // Telegram handle but not their wording (see tests/network.rs).
        let exported = jsonl(&export_to(&store, "all.jsonl", &[]));
        let ids: std::collections::BTreeMap<&str, (&Value, &Value)> = exported
            .iter()
            .map(|a| (a["id"].as_str().unwrap(), (&a["network"], &a["cluster"])))
            .collect();
        assert_eq!(ids["es-lure-juarez"], ids["en-lure-laredo"]);
        assert!(
            ids["es-lure-juarez"].0.is_i64(),
            "{:?}",
            ids["es-lure-juarez"]
        );
        assert_eq!(ids["ru-nanny"].0, ids["ru-farm"].0);
        assert_ne!(ids["ru-nanny"].1, ids["ru-farm"].1);
        assert_ne!(ids["ru-nanny"].0, ids["es-lure-juarez"].0);

        // CSV: the same ids in their columns, and the file still re-imports.
        let csv_path = export_to(&store, "all.csv", &["--format", "csv"]);
        let mut reader = csv::Reader::from_path(&csv_path).unwrap();
        let header = reader.headers().unwrap().clone();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        for row in &rows {
            let (network, cluster) = ids[&row[col("id")]];
            assert_eq!(row[col("network")], network.to_string(), "{row:?}");
            assert_eq!(row[col("cluster")], cluster.to_string(), "{row:?}");
        }
        let copy = store.sibling("copy.db");
        let r = run(&["submit", &csv_path, "--db", &copy]);
        assert!(r.stdout.contains("stored 12"), "{}", r.stdout);
    }
}
