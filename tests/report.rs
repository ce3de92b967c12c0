//! `adscreen report`: the figures of a period against a store of known ads with known triage.
//!
//! The store holds the 16 demo ads, submitted and triaged with the CLI. Reports are about time, so
//! the test then moves the submission and event timestamps to set dates with SQL (the CLI records
//! "now"): demo-01…12 are submitted on 2027-02-01 (period 2027Q1), demo-13…16 on 2026-11-01 (the
//! previous quarter). Which demo ads the shipped model flags is read from `adscreen score`, not
//! assumed.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use adscreen::params;
use common::{run, DemoStore};
use serde_json::Value;

const Q1: &str = "2027-02-01T00:00:00.000Z";
const Q4: &str = "2026-11-01T00:00:00.000Z";

/// Which demo ads the model flags, and the indicators it flags on each.
fn scored_demo() -> BTreeMap<String, (bool, Vec<String>)> {
    let r = run(&["score", "corpora/demo/ads.jsonl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json_lines()
        .into_iter()
        .map(|ad| {
            let indicators = ad["flagged_indicators"].as_array().unwrap().iter();
            (
                ad["id"].as_str().unwrap().to_string(),
                (
                    ad["flagged"].as_bool().unwrap(),
                    indicators
                        .map(|i| i.as_str().unwrap().to_string())
                        .collect(),
                ),
            )
        })
        .collect()
}

/// `store` with the demo ads, triaged, and its timestamps set:
/// - demo-01: labelled suspicious 10 h after submission, escalated at 20 h;
/// - demo-03: dismissed at 30 h;
/// - demo-05: labelled benign at 2 h (stays in review: open, decided, not confirmed);
/// - demo-07: escalated on 2027-04-10, after the quarter (so open in the 2027Q1 report);
/// - demo-13 (previous quarter): escalated at 5 h.
fn triaged(store: DemoStore) -> DemoStore {
    let store = store.with_demo_ads();
    let id = |ext: &str| store.id(ext);
    store.run(&[
        "queue",
        "label",
        &id("demo-01"),
        "--suspicious",
        "--indicators",
        "travel_arranged",
    ]);
    store.run(&[
        "queue",
        "escalate",
        &id("demo-01"),
        "--to",
        "Houston",
        "--reason",
        "lead",
    ]);
    store.run(&["queue", "dismiss", &id("demo-03")]);
    store.run(&["queue", "label", &id("demo-05"), "--benign"]);
    store.run(&[
        "queue",
        "escalate",
        &id("demo-07"),
        "--to",
        "Houston",
        "--reason",
        "lead",
    ]);
    store.run(&[
        "queue",
        "escalate",
        &id("demo-13"),
        "--to",
        "Houston",
        "--reason",
        "lead",
    ]);
    let db = store.store.open();
    db.execute(
        "UPDATE ads SET submitted_at = CASE WHEN ext_id <= 'demo-12' THEN ?1 ELSE ?2 END",
        params![Q1, Q4],
    )
    .unwrap();
    db.execute(
        "UPDATE events SET at = (SELECT submitted_at FROM ads WHERE ads.id = events.ad_id)",
        &[],
    )
    .unwrap();
    let moves = [
        ("demo-01", "label", "2027-02-01T10:00:00.000Z"),
        ("demo-01", "escalate", "2027-02-01T20:00:00.000Z"),
        ("demo-03", "dismiss", "2027-02-02T06:00:00.000Z"),
        ("demo-05", "label", "2027-02-01T02:00:00.000Z"),
        ("demo-07", "escalate", "2027-04-10T00:00:00.000Z"),
        ("demo-13", "escalate", "2026-11-01T05:00:00.000Z"),
    ];
    for (ext, action, at) in moves {
        let n = db
            .execute(
                "UPDATE events SET at = ?3 WHERE action = ?2 AND ad_id = (SELECT id FROM ads WHERE ext_id = ?1)",
                params![ext, action, at],
            )
            .unwrap();
        assert_eq!(n, 1, "{ext} {action}");
    }
    store
}

/// `report --format json` with `args` (the period and filters).
fn report_json(store: &DemoStore, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    args.insert(0, "report");
    serde_json::from_str(&store.run(&args).stdout).unwrap()
}

fn counts(v: &Value) -> [i64; 7] {
    [
        "submitted",
        "flagged",
        "escalated",
        "dismissed",
        "open",
        "decided",
        "confirmed",
    ]
    .map(|k| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn row<'a>(report: &'a Value, table: &str, key: &str) -> &'a Value {
    report[table]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {table}"))
}

#[test]
fn report_figures_match_the_known_store() {
    for store in DemoStore::on_each_engine("report_figures_match_the_known_store") {
        let store = triaged(store);
        let scored = scored_demo();
        let flagged = |range: std::ops::RangeInclusive<u32>| {
            range.filter(|n| scored[&format!("demo-{n:02}")].0).count() as i64
        };
        // Every demo ad this test triages must be flagged, or the expectations below do not hold.
        for ext in ["demo-01", "demo-03", "demo-05", "demo-07", "demo-13"] {
            assert!(
                scored[ext].0,
                "{ext} is no longer flagged by the shipped model"
            );
        }
        let q1_flagged = flagged(1..=12);
        let report = report_json(&store, &["--period", "2027Q1"]);
        assert_eq!(report["period"]["label"], "2027Q1");
        assert_eq!(report["previous_period"]["label"], "2026Q4");

        // Q1: 12 ads; escalated demo-01, dismissed demo-03; demo-07's escalation came after the
        // quarter, so it is open; decided: 01, 03, 05; confirmed: 01.
        let totals = &report["totals"];
        assert_eq!(
            counts(&totals["current"]),
            [12, q1_flagged, 1, 1, q1_flagged - 2, 3, 1]
        );
        assert_eq!(
            counts(&totals["previous"]),
            [4, flagged(13..=16), 1, 0, flagged(13..=16) - 1, 1, 1]
        );
        // Decisions after 10 h, 30 h and 2 h: the median is 10 h; the previous quarter's one is 5 h.
        assert_eq!(
            report["median_hours_to_decision"],
            serde_json::json!([10.0, 5.0])
        );

        let mexico = row(&report, "by_office", "Mexico City");
        assert_eq!(counts(&mexico["current"]), [2, 1, 1, 0, 0, 1, 1]);
        let manila = row(&report, "by_office", "Manila");
        assert_eq!(counts(&manila["current"]), [2, 1, 0, 0, 1, 1, 0]);
        let moscow = row(&report, "by_office", "Moscow");
        assert_eq!(counts(&moscow["current"]), [0; 7]);
        assert_eq!(counts(&moscow["previous"]), [1, 1, 1, 0, 0, 1, 1]);
        let es = row(&report, "by_lang", "es");
        assert_eq!(
            counts(&es["current"]),
            [4, flagged(1..=4), 1, 1, flagged(1..=4) - 2, 2, 1]
        );
        let grafico = row(&report, "by_publication", "El Gráfico (clasificados)");
        assert_eq!(counts(&grafico["current"]), [1, 1, 1, 0, 0, 1, 1]);
        assert_eq!(
            row(&report, "by_publication", "(none)")["current"]["submitted"],
            9
        );

        // Indicators: the ads of the quarter on which the model flagged each one.
        for ind in ["vague_employer", "travel_arranged", "document_irregularity"] {
            let on: Vec<u32> = (1..=12)
                .filter(|n| scored[&format!("demo-{n:02}")].1.contains(&ind.to_string()))
                .collect();
            let r = row(&report, "by_indicator", ind);
            assert_eq!(r["current"]["submitted"], on.len(), "{ind}");
            let flagged_on = on
                .iter()
                .filter(|n| scored[&format!("demo-{n:02}")].0)
                .count();
            assert_eq!(r["current"]["flagged"], flagged_on, "{ind}");
        }

        // Queue size: at the start of Q1 one previous-quarter ad is open (demo-15; demo-13 was
        // escalated); at its end the quarter's flagged ads add up, less demo-01 and demo-03.
        let backlog = report["backlog"].as_array().unwrap();
        assert_eq!(
            backlog[0],
            serde_json::json!({"at": "2027-01-01", "open": flagged(13..=16) - 1})
        );
        let last = backlog.last().unwrap();
        assert_eq!(last["at"], "2027-04-01");
        assert_eq!(last["open"], flagged(13..=16) - 1 + q1_flagged - 2);
        assert_eq!(
            report["trend_periods"],
            serde_json::json!(["2026Q2", "2026Q3", "2026Q4", "2027Q1"])
        );

        // One office only.
        let mexico_only = report_json(&store, &["--period", "2027Q1", "--office", "Mexico City"]);
        assert_eq!(
            counts(&mexico_only["totals"]["current"]),
            [2, 1, 1, 0, 0, 1, 1]
        );
        assert_eq!(mexico_only["by_office"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn markdown_and_csv_carry_the_same_figures() {
    for store in DemoStore::on_each_engine("markdown_and_csv_carry_the_same_figures") {
        let store = triaged(store);
        let json = report_json(&store, &["--from", "2027-01-01", "--to", "2027-03-31"]);
        let csv = store
            .run(&["report", "--period", "2027-01..2027-03", "--format", "csv"])
            .stdout;
        let md = store.run(&["report", "--period", "2027Q1"]).stdout;

        let mut rows = csv::Reader::from_reader(csv.as_bytes());
        let figures: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        let find = |section: &str, key: &str, metric: &str| {
            figures
                .iter()
                .find(|r| &r[2] == section && &r[3] == key && &r[4] == metric)
                .unwrap_or_else(|| panic!("no CSV figure {section}/{key}/{metric}"))
                .clone()
        };
        let submitted = find("Summary", "all", "submitted");
        assert_eq!(
            (&submitted[0], &submitted[5], &submitted[6], &submitted[7]),
            ("2027Q1", "12", "4", "8")
        );
        let precision = find("Summary", "all", "precision");
        assert_eq!(precision[5].parse::<f64>().unwrap(), 1.0 / 3.0);
        assert_eq!(&find("Summary", "all", "median time to decision")[5], "10");
        let manila = &json["by_office"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "Manila")
            .unwrap()["current"];
        assert_eq!(
            &find("By office", "Manila", "open")[5],
            manila["open"].to_string()
        );

        assert!(
            md.starts_with("# adscreen report 2027Q1 (compared with 2026Q4)"),
            "{md}"
        );
        common::assert_shows(
            &md,
            &[
                "| all | 12 (+8) |",
                "| 33.3% (-66.7 pp) | 10.0 h (+5.0 h) |",
                "| Mexico City | 2 (+2) | 1 (+1) | 50.0% | 1 (+1) | 0 (+0) | 0 (+0) | 100.0% |",
                "## By indicator (flagged by the model)",
            ],
        );
    }
}

/// `store` with tests/data/network-ads.jsonl (the newspaper's switchboard stop-listed, as in
/// tests/network.rs): networks 5 (ru-nanny, ru-models, ru-farm: one Telegram handle), 1 (the
/// es/en translation pair: one WhatsApp number) and 3 (the Chinese re-post), the other five ads
/// alone. All are moved into 2027Q1 but ru-farm (Saint Petersburg), moved into 2026Q4.
fn with_networks(store: DemoStore) -> DemoStore {
    store.run(&[
        "network",
        "stop",
        "add",
        "+52 656 629 1000",
        "--reason",
        "El Diario switchboard",
    ]);
    store.run(&["submit", &common::data("network-ads.jsonl")]);
    store
        .store
        .open()
        .execute(
            "UPDATE ads SET submitted_at = CASE WHEN ext_id = 'ru-farm' THEN ?2 ELSE ?1 END",
            params![Q1, Q4],
        )
        .unwrap();
    store
}

#[test]
fn top_networks_are_the_periods_linked_ads() {
    for store in DemoStore::on_each_engine("top_networks_are_the_periods_linked_ads") {
        let store = with_networks(store);
        // What `network list` says of each network: score and its ads' scores, by id.
        let listed: BTreeMap<i64, Value> = store
            .run(&["network", "list", "--json"])
            .json_lines()
            .into_iter()
            .map(|n| (n["id"].as_i64().unwrap(), n))
            .collect();
        let ad_score = |network: i64, ext: &str| {
            listed[&network]["ads"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["ext_id"] == ext)
                .unwrap()["score"]
                .as_f64()
                .unwrap()
        };
        let report = report_json(&store, &["--period", "2027Q1"]);
        let top = report["top_networks"].as_array().unwrap();
        // (network, ads in period, size, offices, languages, the ad of the highest score); singletons
        // are not listed; ru-farm (2026Q4) counts in network 5's size only.
        let expected = [
            (5, 2, 3, vec!["Moscow"], vec!["ru"], "ru-nanny"),
            (
                1,
                2,
                2,
                vec!["Ciudad Juárez", "Houston"],
                vec!["en", "es"],
                "es-lure-juarez",
            ),
            (3, 2, 2, vec!["Guangzhou"], vec!["zh"], "zh-hotel-1"),
        ];
        assert_eq!(top.len(), expected.len(), "{top:?}");
        for (row, (id, ads, size, offices, langs, highest)) in top.iter().zip(expected) {
            assert_eq!(row["network"], id, "{row}");
            assert_eq!(row["ads"], ads, "{row}");
            assert_eq!(row["size"], size, "{row}");
            assert_eq!(row["offices"], serde_json::json!(offices), "{row}");
            assert_eq!(row["langs"], serde_json::json!(langs), "{row}");
            let score = listed[&id]["score"].as_f64().unwrap();
            assert!(
                (row["network_score"].as_f64().unwrap() - score).abs() < 1e-6,
                "{row}"
            );
            let max = ad_score(id, highest);
            assert!(
                (row["max_ad_score"].as_f64().unwrap() - max).abs() < 1e-6,
                "{row}"
            );
        }

        // One office: only that office's ads of the network count.
        let houston = report_json(&store, &["--period", "2027Q1", "--office", "Houston"]);
        let houston = houston["top_networks"].as_array().unwrap();
        assert_eq!(houston.len(), 1, "{houston:?}");
        assert_eq!(
            (
                &houston[0]["network"],
                &houston[0]["ads"],
                &houston[0]["offices"]
            ),
            (
                &serde_json::json!(1),
                &serde_json::json!(1),
                &serde_json::json!(["Houston"])
            )
        );

        // Markdown and CSV show the same network figures.
        let key = "5 · offices Moscow · languages ru";
        let md = store.run(&["report", "--period", "2027Q1"]).stdout;
        common::assert_shows(
            &md,
            &[
                "## Top networks",
                &format!(
                    "| {key} | {:.3} | 2 | 3 | {:.3} |",
                    listed[&5]["score"].as_f64().unwrap(),
                    ad_score(5, "ru-nanny")
                ),
            ],
        );
        let csv = store
            .run(&["report", "--period", "2027Q1", "--format", "csv"])
            .stdout;
        let mut rows = csv::Reader::from_reader(csv.as_bytes());
        let ads_in_period: Vec<String> = rows
            .records()
            .map(Result::unwrap)
            .filter(|r| &r[2] == "Top networks" && &r[4] == "ads in period")
            .map(|r| format!("{}={}", &r[3], &r[5]))
            .collect();
        assert_eq!(
            ads_in_period,
            [
                format!("{key}=2"),
                "1 · offices Ciudad Juárez, Houston · languages en, es=2".into(),
                "3 · offices Guangzhou · languages zh=2".into(),
            ]
        );
    }
}

/// The report as JSON, without the time it was generated at.
fn figures(store: &DemoStore, args: &[&str]) -> Value {
    let mut report = report_json(store, args);
    report["generated_at"].take();
    report
}

#[test]
fn postgres_reports_equal_sqlite_reports() {
    let name = "postgres_reports_equal_sqlite_reports";
    let triaged: Vec<DemoStore> = DemoStore::on_each_engine(name)
        .into_iter()
        .map(triaged)
        .collect();
    let [sqlite, postgres] = &triaged[..] else {
        return; // Not on PostgreSQL: on_each_engine said it skips.
    };
    let networks: Vec<DemoStore> = DemoStore::on_each_engine(name)
        .into_iter()
        .map(with_networks)
        .collect();
    let cases: [(&DemoStore, &DemoStore, &[&str]); 6] = [
        (sqlite, postgres, &["--period", "2027Q1"]),
        (
            sqlite,
            postgres,
            &["--period", "2027Q1", "--office", "Mexico City"],
        ),
        (
            sqlite,
            postgres,
            &["--from", "2027-01-10", "--to", "2027-02-20"],
        ),
        (sqlite, postgres, &["--period", "2026-01..2027-06"]),
        (&networks[0], &networks[1], &["--period", "2027Q1"]),
        (
            &networks[0],
            &networks[1],
            &["--period", "2027Q1", "--office", "Houston"],
        ),
    ];
    for (sqlite, postgres, args) in cases {
        let expected = figures(sqlite, args);
        assert_eq!(figures(postgres, args), expected, "report {args:?}");
        // A report that shows nothing would be equal too.
        assert!(
            expected["totals"]["current"]["submitted"].as_i64() > Some(0),
            "{args:?}"
        );
    }
}

#[test]
fn bad_periods_are_refused_with_the_fix() {
    let r = run(&["report", "--period", "2027Q5"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("2027Q1"), "{}", r.stderr);
    let r = run(&["report", "--db", "/nonexistent/x.db"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--period 2027Q1"), "{}", r.stderr);
}

/// Where the tests leave files for a person to look at.
fn output_dir() -> PathBuf {
    let dir = common::root().join("target/test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn html_report_is_self_contained_and_renders_in_chromium() {
    // Rendering is the same on both engines: this one runs on SQLite.
    let store = triaged(DemoStore::sqlite());
    let html_path = output_dir().join("report-2027Q1.html");
    store.run(&[
        "report",
        "--period",
        "2027Q1",
        "--format",
        "html",
        "--out",
        html_path.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    for external in ["src=", "href=", "<script", "@import", "url("] {
        assert!(
            !html.contains(external),
            "the page loads something: {external}"
        );
    }
    common::assert_shows(
        &html,
        &[
            "<td>Mexico City</td>",
            "Guatemala City",
            "El Gráfico (clasificados)",
        ],
    );

    let chromium = PathBuf::from("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "chromium is missing: run tests/setup (it installs Debian's chromium)"
    );
    let png = output_dir().join("report-2027Q1.png");
    let _ = std::fs::remove_file(&png);
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            &format!(
                "--user-data-dir={}",
                store.dir.path().join("chromium").display()
            ),
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,1600",
            &format!("file://{}", html_path.display()),
        ])
        .output()
        .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    // A blank 1200×1600 page compresses to a few KB; tables and three charts do not.
    assert!(
        bytes.len() > 50_000,
        "screenshot of {} bytes: is the page blank?",
        bytes.len()
    );
}
