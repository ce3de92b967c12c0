//! `adscreen submit` and `adscreen queue`: storage, deduplication, filters, triage and its record.

mod common;
use common::{data, run, TestStore};

fn queue_ids(db: &TestStore, filters: &[&str]) -> Vec<i64> {
    let mut args = vec!["queue", "list", "--json", "--db", &db.url];
    args.extend_from_slice(filters);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json_lines()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

fn submit_stores_every_ad_once_and_queues_the_flagged(db: TestStore) {
    let r = run(&[
        "submit",
        &data("ads.jsonl"),
        "--office",
        "Mexico City",
        "--db",
        &db.url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("read 8, rejected 0, stored 8 (already stored 0), flagged and queued 4"),
        "{}",
        r.stdout
    );
    for lang in [
        "es: 2 ads, 1 flagged",
        "zh: 2 ads, 1 flagged",
        "ru: 2 ads, 1 flagged",
    ] {
        assert!(r.stdout.contains(lang), "{}", r.stdout);
    }
    let again = run(&["submit", &data("ads.jsonl"), "--db", &db.url]);
    assert!(
        again.stdout.contains("stored 0 (already stored 8)"),
        "{}",
        again.stdout
    );
    assert_eq!(queue_ids(&db, &[]).len(), 4);
}

fn submit_keeps_valid_records_of_a_file_with_bad_ones(db: TestStore) {
    let r = run(&["submit", &data("ads.csv"), "--db", &db.url]);
    assert_eq!(r.code, 3);
    assert!(
        r.stdout.contains("read 4, rejected 1, stored 3"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("ads.csv:4:"), "{}", r.stderr);
}

fn queue_lists_by_score_with_filters(db: TestStore) {
    run(&[
        "submit",
        &data("ads.jsonl"),
        "--office",
        "Lagos",
        "--db",
        &db.url,
    ]);
    let r = run(&["queue", "list", "--json", "--db", &db.url]);
    let scores: Vec<f64> = r
        .json_lines()
        .iter()
        .map(|o| o["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(queue_ids(&db, &["--lang", "zh"]).len(), 1);
    assert_eq!(queue_ids(&db, &["--office", "Lagos"]).len(), 4);
    assert_eq!(queue_ids(&db, &["--office", "Lima"]).len(), 0);
    assert_eq!(queue_ids(&db, &["--status", "new"]).len(), 4);
    assert_eq!(queue_ids(&db, &["--min-score", "1.01"]).len(), 0);
    let travel = queue_ids(&db, &["--indicator", "travel_arranged"]);
    assert!(!travel.is_empty() && travel.len() <= 4, "{travel:?}");
    let table = run(&["queue", "list", "--db", &db.url]);
    assert!(
        table.stdout.lines().next().unwrap().contains("SCORE"),
        "{}",
        table.stdout
    );
}

fn triage_moves_states_and_records_who_when_and_why(db: TestStore) {
    run(&["submit", &data("ads.jsonl"), "--db", &db.url]);
    let ids = queue_ids(&db, &[]);
    let (a, b) = (ids[0].to_string(), ids[1].to_string());
    let r = run(&[
        "queue",
        "label",
        &a,
        "--suspicious",
        "--indicators",
        "travel_arranged,vague_employer",
        "--note",
        "classic lure",
        "--user",
        "ana",
        "--db",
        &db.url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("status in_review"), "{}", r.stdout);
    assert_eq!(queue_ids(&db, &["--status", "in_review"]), vec![ids[0]]);
    assert_eq!(
        run(&[
            "queue",
            "escalate",
            &a,
            "--to",
            "Houston",
            "--reason",
            "same number as the March lure",
            "--db",
            &db.url
        ])
        .code,
        0
    );
    assert_eq!(run(&["queue", "dismiss", &b, "--db", &db.url]).code, 0);
    let refused = run(&["queue", "dismiss", &a, "--db", &db.url]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("is escalated"),
        "{}",
        refused.stderr
    );

    let shown = run(&["queue", "show", &a, "--json", "--db", &db.url]);
    let ad: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(ad["status"], "escalated");
    assert_eq!(ad["label"]["suspicious"], true);
    assert_eq!(
        ad["label"]["indicators"],
        serde_json::json!(["travel_arranged", "vague_employer"])
    );
    let history = ad["history"].as_array().unwrap();
    let steps: Vec<(String, String, String, String)> = history
        .iter()
        .map(|e| {
            (
                e["action"].to_string(),
                e["user"].to_string(),
                e["from_status"].to_string(),
                e["to_status"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps[0],
        (
            "\"submitted\"".into(),
            "\"tester\"".into(),
            "null".into(),
            "\"new\"".into()
        )
    );
    assert_eq!(
        steps[1],
        (
            "\"label\"".into(),
            "\"ana\"".into(),
            "\"new\"".into(),
            "\"in_review\"".into()
        )
    );
    assert_eq!(
        steps[2],
        (
            "\"escalate\"".into(),
            "\"tester\"".into(),
            "\"in_review\"".into(),
            "\"escalated\"".into()
        )
    );
    assert_eq!(history[2]["note"], "same number as the March lure");
    assert_eq!(history[2]["target"], "Houston");
    assert_eq!(ad["escalated_to"], "Houston");
    assert!(history
        .iter()
        .all(|e| e["at"].as_str().unwrap().ends_with('Z')));
}

fn show_marks_evidence_in_the_text(db: TestStore) {
    run(&["submit", &data("ads.jsonl"), "--db", &db.url]);
    let id = queue_ids(&db, &[])[0].to_string();
    let r = run(&["queue", "show", &id, "--db", &db.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    common::assert_shows(
        &r.stdout,
        &[
            "— text —",
            "[[",
            "]]1",
            "— evidence —",
            "— indicators —",
            "— entities —",
            "— history —",
            "submitted",
        ],
    );
}

fn unknown_ids_and_wrong_states_get_clear_errors(db: TestStore) {
    run(&["submit", &data("ads.jsonl"), "--db", &db.url]);
    let r = run(&["queue", "show", "999", "--db", &db.url]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no ad with id 999"), "{}", r.stderr);
    let r = run(&["queue", "label", "1", "--db", &db.url]);
    assert_eq!(r.code, 2, "clap requires --suspicious or --benign");
}

on_both_stores!(
    submit_stores_every_ad_once_and_queues_the_flagged,
    submit_keeps_valid_records_of_a_file_with_bad_ones,
    queue_lists_by_score_with_filters,
    triage_moves_states_and_records_who_when_and_why,
    show_marks_evidence_in_the_text,
    unknown_ids_and_wrong_states_get_clear_errors,
);
