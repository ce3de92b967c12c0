//! A report over a store of 1,000,000 ads must take under 5 s (issue 6). The store is generated
//! with SQL, once, into `target/bench-report/store.db` (reused by later runs): two years of ads
//! (2025–2026) from 12 offices of skewed size, each with its language and 5 publications; 8% of
//! ads flagged; of the flagged, 30% still new, 20% labelled (in review), 15% escalated, 35%
//! dismissed, decided 1–500 hours after submission. Each ad's `scored` JSON is a real `adscreen
//! score` output of one of the demo ads (1.7 KB on average), so rows have their real size. The
//! report reads the store through the same `Db` layer as on PostgreSQL; the generator's bulk
//! `INSERT … SELECT` is SQLite's own SQL (a recursive series, `strftime`, `json_object`).
//!
//! `cargo bench --bench report`

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};

use adscreen::db::Db;
use adscreen::ingest::AdRecord;
use adscreen::model::Model;
use adscreen::queue::SqlStore;
use adscreen::report::{Format, Period, Report};
use adscreen::{params, Screener};

const ADS: i64 = 1_000_000;

/// Offices, their language, and their share of ads (weights).
const OFFICES: [(&str, &str, i64); 12] = [
    ("Mexico City", "es", 24),
    ("Manila", "en", 16),
    ("Guangzhou", "zh", 12),
    ("Moscow", "ru", 10),
    ("Bogotá", "es", 8),
    ("Lagos", "en", 7),
    ("Kyiv", "ru", 6),
    ("Guatemala City", "es", 5),
    ("Taipei", "zh", 4),
    ("Bishkek", "ru", 3),
    ("Kingston", "en", 3),
    ("Chisinau", "ru", 2),
];

/// Scores the demo ads with the shipped model: the `scored` JSON the generated ads carry.
fn scored_templates() -> Vec<(bool, String)> {
    let screener = Screener {
        model: Model::load(None).expect("models/default"),
        office: None,
    };
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/corpora/demo/ads.jsonl");
    std::fs::read_to_string(demo)
        .unwrap()
        .lines()
        .map(|line| {
            let obj: serde_json::Value = serde_json::from_str(line).unwrap();
            let record = AdRecord::from_json(obj.as_object().unwrap().clone(), "bench").unwrap();
            let ad = screener.screen(record);
            (ad.flagged, serde_json::to_string(&ad).unwrap())
        })
        .collect()
}

/// The generated store (made on first use).
fn store() -> SqlStore {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-report"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    let store = SqlStore::open(&adscreen::db::Location::Sqlite(path.clone())).unwrap();
    if ads(store.db()) == ADS {
        return store;
    }
    drop(store);
    std::fs::remove_file(&path).unwrap();
    let store = SqlStore::open(&adscreen::db::Location::Sqlite(path.clone())).unwrap();
    let db = store.db();
    let started = std::time::Instant::now();
    db.script(
        "CREATE TEMP TABLE offices (k INTEGER PRIMARY KEY, name TEXT, lang TEXT, lo INTEGER, hi INTEGER);
         CREATE TEMP TABLE templates (flagged INTEGER, k INTEGER, scored TEXT, PRIMARY KEY (flagged, k));",
    )
    .unwrap();
    let total: i64 = OFFICES.iter().map(|o| o.2).sum();
    let mut lo = 0;
    for (k, (name, lang, weight)) in (0i64..).zip(OFFICES.iter()) {
        let hi = lo + weight * 1000 / total;
        db.execute(
            "INSERT INTO offices VALUES (?1, ?2, ?3, ?4, ?5)",
            params![k, *name, *lang, lo, hi],
        )
        .unwrap();
        lo = hi;
    }
    db.execute(
        "UPDATE offices SET hi = 1000 WHERE k = ?1",
        params![OFFICES.len() as i64 - 1],
    )
    .unwrap();
    let mut counts = [0i64, 0];
    for (flagged, scored) in scored_templates() {
        let k = counts[flagged as usize];
        counts[flagged as usize] += 1;
        db.execute(
            "INSERT INTO templates VALUES (?1, ?2, ?3)",
            params![flagged, k, scored],
        )
        .unwrap();
    }
    // h1..h4 are deterministic pseudo-random numbers in 0..1000 derived from the ad number.
    db.script(&format!(
        "BEGIN;
         CREATE TEMP TABLE gen AS
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ADS})
         SELECT i, (i * 7919) % 1000 AS h1, (i * 104729 + 17) % 1000 AS h2,
                (i * 15485863 + 5) % 1000 AS h3, (i * 49979693 + 11) % 1000 AS h4,
                1735689600 + (i * 63072000 / {ADS}) AS t
         FROM n;
         INSERT INTO ads (id, content_key, ext_id, lang, lang_detected, text, translation, office, metadata,
                          score, flagged, scored, model_version, status, submitted_at, source)
         SELECT g.i, 'bench-' || g.i, 'bench-' || g.i, o.lang, o.lang,
                'Generated ad ' || g.i || ' ' || substr(json_extract(t.scored, '$.id'), 1, 20) || printf('%.*c', 120, 'x'),
                NULL, o.name,
                json_object('publication', o.name || ' Daily ' || (g.h3 % 5), 'published', NULL),
                CASE WHEN g.h2 < 80 THEN 0.9 ELSE 0.1 END, g.h2 < 80, t.scored, 'bench',
                CASE WHEN g.h2 >= 80 THEN NULL WHEN g.h4 < 300 THEN 'new' WHEN g.h4 < 500 THEN 'in_review'
                     WHEN g.h4 < 650 THEN 'escalated' ELSE 'dismissed' END,
                strftime('%Y-%m-%dT%H:%M:%fZ', g.t, 'unixepoch'), 'bench'
         FROM gen g
         JOIN offices o ON (g.h1 * g.h1 / 1000) >= o.lo AND (g.h1 * g.h1 / 1000) < o.hi
         JOIN templates t ON t.flagged = (g.h2 < 80) AND t.k = g.i % 8;
         INSERT INTO events (ad_id, at, \"user\", action, from_status, to_status)
         SELECT id, submitted_at, 'bench', 'submitted', NULL, CASE WHEN flagged THEN 'new' END FROM ads;
         INSERT INTO events (ad_id, at, \"user\", action, from_status, to_status, label)
         SELECT a.id, strftime('%Y-%m-%dT%H:%M:%fZ', g.t + 3600 * (1 + g.h3 / 2), 'unixepoch'), 'bench', 'label',
                'new', 'in_review', json_object('suspicious', json(CASE WHEN g.h3 % 3 = 0 THEN 'true' ELSE 'false' END), 'indicators', json('[]'))
         FROM ads a JOIN gen g ON g.i = a.id WHERE a.status = 'in_review';
         INSERT INTO events (ad_id, at, \"user\", action, from_status, to_status)
         SELECT a.id, strftime('%Y-%m-%dT%H:%M:%fZ', g.t + 3600 * (1 + g.h3 / 2), 'unixepoch'), 'bench',
                CASE a.status WHEN 'escalated' THEN 'escalate' ELSE 'dismiss' END, 'new', a.status
         FROM ads a JOIN gen g ON g.i = a.id WHERE a.status IN ('escalated', 'dismissed');
         COMMIT;
         ANALYZE;"
    ))
    .unwrap();
    assert_eq!(ads(db), ADS);
    eprintln!(
        "generated {ADS} ads in {:.0?} into {}",
        started.elapsed(),
        path.display()
    );
    store
}

/// How many ads the store holds.
fn ads(db: &dyn Db) -> i64 {
    db.value("SELECT count(*) FROM ads", &[]).unwrap()
}

fn report(c: &mut Criterion) {
    let store = store();
    let db = store.db();
    let quarter: Period = "2026Q2".parse().unwrap();
    let everything =
        Period::from_dates("2025-01-01".parse().unwrap(), "2026-12-31".parse().unwrap()).unwrap();
    let cases = [
        (
            "one quarter (125,000 ads), all offices, HTML",
            &quarter,
            None,
            Format::Html,
        ),
        (
            "two years (all 1,000,000 ads), all offices, HTML",
            &everything,
            None,
            Format::Html,
        ),
        (
            "two years, one office (Mexico City), Markdown",
            &everything,
            Some("Mexico City"),
            Format::Md,
        ),
    ];
    let mut g = c.benchmark_group("report (store of 1,000,000 ads)");
    for (name, period, office, format) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                let report = Report::compute(db, period, office).unwrap();
                report.render(format).unwrap().len()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = report
}
criterion_main!(benches);
