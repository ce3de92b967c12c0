//! `adscreen score`: output shape, order, evidence offsets, languages, and bad input.

mod common;
use common::{data, run, run_stdin};
use serde_json::Value;

fn chars(s: &str, start: u64, end: u64) -> String {
    s.chars()
        .skip(start as usize)
        .take((end - start) as usize)
        .collect()
}

#[test]
fn prints_one_object_per_ad_in_input_order() {
    let r = run(&["score", &data("ads.jsonl")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json_lines();
    let ids: Vec<&str> = out.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "t-lure-es",
            "t-plain-es",
            "t-lure-en",
            "t-plain-en",
            "t-lure-zh",
            "t-plain-zh",
            "t-lure-ru",
            "t-plain-ru"
        ]
    );
    for o in &out {
        assert_eq!(o["indicators"].as_object().unwrap().len(), 11, "{o}");
        for key in [
            "lang",
            "lang_declared",
            "lang_confidence",
            "score",
            "flagged",
            "evidence",
            "entities",
            "flagged_indicators",
        ] {
            assert!(o.get(key).is_some(), "missing {key} in {o}");
        }
        let s = o["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }
}

#[test]
fn flags_lures_and_passes_ordinary_classifieds() {
    let out = run(&["score", &data("ads.jsonl")]).json_lines();
    for o in &out {
        let id = o["id"].as_str().unwrap();
        assert_eq!(
            o["flagged"].as_bool().unwrap(),
            id.contains("lure"),
            "{id} scored {}",
            o["score"]
        );
    }
}

#[test]
fn detects_each_language() {
    let out = run(&["score", &data("ads.jsonl")]).json_lines();
    for o in &out {
        assert_eq!(o["lang"], o["lang_declared"], "{o}");
        assert_eq!(o["lang_mismatch"], false);
    }
}

#[test]
fn evidence_offsets_point_at_the_text_shown() {
    let input = std::fs::read_to_string(data("ads.jsonl")).unwrap();
    let records: Vec<Value> = input
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let out = run(&["score", &data("ads.jsonl")]).json_lines();
    let mut seen_translation = false;
    for (rec, o) in records.iter().zip(&out) {
        if o["flagged"].as_bool().unwrap() {
            assert!(
                !o["evidence"].as_array().unwrap().is_empty(),
                "flagged ad without evidence: {o}"
            );
        }
        for e in o["evidence"].as_array().unwrap() {
            let field = e["field"].as_str().unwrap();
            let text = if field == "text" {
                rec["text"].as_str().unwrap()
            } else {
                seen_translation = true;
                rec["translation"]["text"].as_str().unwrap()
            };
            let (start, end) = (e["start"].as_u64().unwrap(), e["end"].as_u64().unwrap());
            assert_eq!(chars(text, start, end), e["text"].as_str().unwrap());
            assert!(
                e["text"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .any(char::is_alphanumeric),
                "{e}"
            );
        }
    }
    assert!(
        seen_translation,
        "an ad with a translation is scored on both texts"
    );
}

#[test]
fn extracts_entities() {
    let out = run(&["score", &data("ads.jsonl")]).json_lines();
    let es = &out[0]["entities"];
    assert_eq!(es["phones"][0], "+525543219876");
    assert_eq!(es["handles"][0]["app"], "whatsapp");
    assert_eq!(es["ages"][0], serde_json::json!([18, 25]));
    assert_eq!(es["money"][0]["currency"], "USD");
    let zh = &out[4]["entities"];
    assert_eq!(zh["handles"][0]["app"], "wechat");
    let ru = &out[7]["entities"];
    assert_eq!(ru["phones"][0], "+79161234567");
}

#[test]
fn reads_stdin_and_reports_a_declared_language_that_disagrees() {
    let r = run_stdin(&["score", "-"], "{\"id\":\"x\",\"lang\":\"en\",\"text\":\"Se busca personal de limpieza para oficinas en el centro, horario de mañana\"}\n".as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let o = &r.json_lines()[0];
    assert_eq!(o["lang"], "es");
    assert_eq!(o["lang_declared"], "en");
    assert_eq!(o["lang_mismatch"], true);
}

#[test]
fn reads_csv_with_mapped_columns_and_rejects_short_rows() {
    let r = run(&["score", &data("ads.csv")]);
    assert_eq!(r.code, 3, "rejected rows make the exit code non-zero");
    let ids: Vec<String> = r
        .json_lines()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["c1", "c2", "c4"]);
    assert!(
        r.stderr.contains("ads.csv:4:") && r.stderr.contains("columns"),
        "{}",
        r.stderr
    );
    let c2 = &r.json_lines()[1];
    assert!(
        c2["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "translation"),
        "the translation column is read: {c2}"
    );
}

#[test]
fn reads_plain_text_ads_separated_by_blank_lines() {
    let r = run(&["score", &data("ads.txt")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.json_lines();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["id"], "ads:1");
    assert_eq!(out[1]["id"], "ads:5");
    assert!(out[1]["flagged"].as_bool().unwrap());
}

#[test]
fn bad_records_are_rejected_one_by_one_and_the_rest_scored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"id\":\"ok1\",\"text\":\"Se vende casa en Cuenca\"}\n");
    input.extend_from_slice(b"{\"id\":\"broken\",\"text\":\"no closing brace\"\n");
    input.extend_from_slice(b"{\"id\":\"utf\",\"text\":\"caf\xe9\"}\n");
    input.extend_from_slice(b"{\"id\":\"blank\",\"text\":\"   \"}\n");
    input.extend_from_slice(
        format!("{{\"id\":\"huge\",\"text\":\"{}\"}}\n", "a".repeat(70_000)).as_bytes(),
    );
    input.extend_from_slice(b"{\"id\":\"fr\",\"lang\":\"fr\",\"text\":\"Cherche serveuse\"}\n");
    input.extend_from_slice(
        b"{\"id\":\"ok2\",\"text\":\"Nanny wanted in Kingston, references required\"}\n",
    );
    std::fs::write(&path, input).unwrap();
    let r = run(&["score", path.to_str().unwrap()]);
    assert_eq!(r.code, 3);
    let ids: Vec<String> = r
        .json_lines()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["ok1", "ok2"]);
    let errors: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(errors.len(), 5, "{}", r.stderr);
    let expect = [
        (2, "malformed JSON"),
        (3, "UTF-8"),
        (4, "field `text`: empty"),
        (5, "over the limit"),
        (6, "field `lang`"),
    ];
    for ((line, what), err) in expect.iter().zip(&errors) {
        assert!(
            err.contains(&format!("mixed.jsonl:{line}:")) && err.contains(what),
            "{err}"
        );
    }
}

#[test]
fn a_missing_model_says_what_to_run() {
    let r = run(&[
        "score",
        &data("ads.jsonl"),
        "--model",
        "/nonexistent/bundle",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no model bundle at /nonexistent/bundle")
            && r.stderr.contains("adscreen train"),
        "{}",
        r.stderr
    );
}

#[test]
fn hostile_text_is_scored_without_harm() {
    let nasty = format!("{{\"id\":\"h\",\"text\":\"<script>alert(1)</script>\\u0000\\u001b[31m {} W h a t s A p p 5 5 5 1 2 3 4\"}}\n", "@".repeat(50_000));
    let r = run_stdin(&["score"], nasty.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json_lines().len(), 1);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let ad = std::fs::read_to_string(data("ads.jsonl")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_adscreen"))
        .args(["score", "-"])
        .current_dir(common::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for _ in 0..500 {
            if stdin.write_all(ad.as_bytes()).is_err() {
                break;
            }
        }
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"id\""));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
