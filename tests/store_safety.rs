//! The store survives what happens to real submits: a process killed midway (SIGKILL) and rerun,
//! and two processes submitting to the same file at once.

mod common;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Writes ads `from..to` as JSONL: the test split's print-size ads in all four languages, ad `i`
/// being corpus ad `i % n` with a reference number added, so every one is distinct.
fn write_ads(path: &Path, from: usize, to: usize) {
    let mut corpus = Vec::new();
    let dir = common::root().join("corpora/test");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            corpus.push(serde_json::from_str::<serde_json::Value>(line).unwrap());
        }
    }
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    for i in from..to {
        let mut ad = corpus[i % corpus.len()].clone();
        ad["id"] = format!("ad-{i}").into();
        let text = format!("{} (ref. {i})", ad["text"].as_str().unwrap());
        ad["text"] = text.into();
        serde_json::to_writer(&mut out, &ad).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}

fn submit(db: &Path, ads: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_adscreen"));
    c.args([
        "submit",
        ads.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ])
    .args(["--office", "Mexico City", "--user", "tester"])
    .current_dir(common::root())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

/// A run's stdout, after checking it exited 0.
fn succeeded(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every stored ad once with its one `submitted` event, no event without its ad, and a sound
/// file; returns the number of ads.
fn assert_consistent(db: &Path) -> i64 {
    let conn = Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    let ads = count(&conn, "SELECT count(*) FROM ads");
    assert_eq!(
        count(&conn, "SELECT count(DISTINCT ext_id) FROM ads"),
        ads,
        "duplicates"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE ad_id NOT IN (SELECT id FROM ads)"
        ),
        0,
        "orphaned events"
    );
    // The link index is not checked as foreign keys (schema version 6): its rows are written
    // in the ads' transaction, so a killed submit leaves none behind.
    for table in [
        "ad_signatures",
        "template_links",
        "ad_contacts",
        "ad_groups",
    ] {
        let orphans =
            format!("SELECT count(*) FROM {table} WHERE ad_id NOT IN (SELECT id FROM ads)");
        assert_eq!(count(&conn, &orphans), 0, "orphaned rows in {table}");
    }
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM lsh_buckets b, json_each('[' || b.ads || ']') AS j
             WHERE j.value NOT IN (SELECT id FROM ads)"
        ),
        0,
        "orphaned ads in lsh_buckets"
    );
    // The counts linking keeps are those of the rows they count.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM contacts k WHERE ads <> (SELECT count(*) FROM ad_contacts c WHERE c.contact = k.contact)"
        ),
        0,
        "contacts with a wrong count of carriers"
    );
    assert_eq!(
        count(&conn, "SELECT linked_ads FROM link_settings"),
        count(&conn, "SELECT count(*) FROM ad_groups"),
        "linked ads as counted"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE action = 'submitted'"
        ),
        ads,
        "one submitted event per ad"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM ads WHERE id NOT IN (SELECT ad_id FROM events WHERE action = 'submitted')"
        ),
        0,
        "ads without their submitted event"
    );
    ads
}

#[test]
fn a_submit_killed_midway_and_rerun_stores_every_ad_exactly_once() {
    const ADS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (db, ads) = (dir.path().join("s.db"), dir.path().join("ads.jsonl"));
    write_ads(&ads, 0, ADS);

    let mut first = submit(&db, &ads).spawn().unwrap();
    let started = Instant::now();
    // Kill it once a good part of the ads is committed, while it is still writing.
    let stored_before_kill = loop {
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            first.try_wait().unwrap().is_none(),
            "the submit finished before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(600), "no progress");
        let Ok(conn) = Connection::open(&db) else {
            continue;
        };
        match conn.query_row("SELECT count(*) FROM ads", [], |r| r.get::<_, i64>(0)) {
            Ok(n) if n >= (ADS / 3) as i64 => break n,
            _ => continue,
        }
    };
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let survived = assert_consistent(&db);
    assert!(
        survived >= stored_before_kill && survived < ADS as i64,
        "{survived}"
    );

    let stdout = succeeded(submit(&db, &ads).output().unwrap());
    let summary = format!(
        "read {ADS}, rejected 0, stored {} (already stored {survived})",
        ADS as i64 - survived
    );
    assert!(stdout.contains(&summary), "{stdout}");
    assert_eq!(assert_consistent(&db), ADS as i64);
}

#[test]
fn two_processes_submitting_to_one_store_both_succeed_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    // Overlapping halves: ads 2,000..4,000 are in both files.
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    write_ads(&a, 0, 4_000);
    write_ads(&b, 2_000, 6_000);
    let runs = [
        submit(&db, &a).spawn().unwrap(),
        submit(&db, &b).spawn().unwrap(),
    ];
    let (mut stored, mut already) = (0, 0);
    for run in runs {
        let stdout = succeeded(run.wait_with_output().unwrap());
        let summary = stdout.lines().next().unwrap();
        // "read 4000, rejected 0, stored N (already stored M), flagged and queued K"
        let number_after = |label: &str| -> usize {
            let rest = &summary[summary.find(label).unwrap() + label.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        stored += number_after("stored ");
        already += number_after("already stored ");
    }
    assert_eq!((stored, already), (6_000, 2_000));
    assert_eq!(assert_consistent(&db), 6_000);
}
