//! `adscreen network` and the links in `queue`: ads written for the purpose (tests/data/
//! network-ads.jsonl) submitted into a real store, in four languages. Every check runs on a
//! SQLite file and, when `ADSCREEN_TEST_POSTGRES` is set, on a PostgreSQL database.

mod common;
use common::{data, run, TestStore};

use serde_json::Value;

/// Runs `check` on a fresh SQLite store, then on a fresh PostgreSQL database if the tests have
/// a server.
fn on_both_engines(test: &str, check: impl Fn(&TestStore)) {
    let dir = tempfile::tempdir().unwrap();
    let stores = [
        Some(TestStore::sqlite(dir.path())),
        TestStore::postgres(test),
    ];
    for db in stores.iter().flatten() {
        // Shown with a failure, to tell which engine failed.
        eprintln!("{test} on {}", db.arg());
        check(db);
    }
}

/// Runs `adscreen ARGS --db DB`, expecting success.
fn ok(db: &TestStore, args: &[&str]) -> common::Run {
    let store = db.arg();
    let mut all = args.to_vec();
    all.extend(["--db", &store]);
    let r = run(&all);
    assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
    r
}

const SWITCHBOARD: &str = "+52 656 629 1000";

/// Fills the store with the test ads, the newspaper's switchboard stop-listed first.
fn submit_with_stop_list(db: &TestStore) {
    ok(
        db,
        &[
            "network",
            "stop",
            "add",
            SWITCHBOARD,
            "--reason",
            "El Diario switchboard",
        ],
    );
    ok(db, &["submit", &data("network-ads.jsonl")]);
}

/// Groups listed as (sorted ext ids), in list order.
fn groups(db: &TestStore, extra: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["network", "list", "--json"];
    args.extend_from_slice(extra);
    ok(db, &args)
        .json_lines()
        .iter()
        .map(|g| {
            let mut ids: Vec<String> = g["ads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["ext_id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        })
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Store ids follow the order of tests/data/network-ads.jsonl in a fresh store.
const ES_LURE: &str = "1";
const RU_NANNY: &str = "5";
const DIARIO_DEPTO: &str = "10";

#[test]
fn links_translations_reposts_and_handles_but_not_a_switchboard() {
    on_both_engines(
        "links_translations_reposts_and_handles_but_not_a_switchboard",
        |db| {
            submit_with_stop_list(db);
            let networks = groups(db, &[]);
            assert_eq!(
                networks,
                [
                    ids(&["ru-farm", "ru-models", "ru-nanny"]),
                    ids(&["en-lure-laredo", "es-lure-juarez"]),
                    ids(&["zh-hotel-1", "zh-hotel-2"]),
                ],
                "riskiest first; the switchboard ads and the bakery stay alone"
            );
            // Template clusters: the translation pair and the Chinese re-post, not the
            // Telegram ads (different wording).
            assert_eq!(
                groups(db, &["--clusters"]),
                [
                    ids(&["en-lure-laredo", "es-lure-juarez"]),
                    ids(&["zh-hotel-1", "zh-hotel-2"])
                ]
            );
            // The incremental links are what a full rebuild finds.
            ok(db, &["network", "rebuild"]);
            assert_eq!(groups(db, &[]), networks);
        },
    );
}

#[test]
fn network_show_says_what_ties_it_and_what_was_ignored() {
    on_both_engines(
        "network_show_says_what_ties_it_and_what_was_ignored",
        |db| {
            ok(db, &["submit", &data("network-ads.jsonl")]);
            // Without a stop-list the switchboard glues three unrelated ads together…
            assert!(groups(db, &[]).contains(&ids(&[
                "es-diario-clinica",
                "es-diario-depto",
                "es-diario-mudanzas",
                "es-diario-taller"
            ])));
            // …until it counts as common (4 of 12 ads is more than 20%), which a rebuild
            // applies; the Telegram handle, on 3 ads, still links.
            let r = ok(
                db,
                &[
                    "network",
                    "rebuild",
                    "--common-share",
                    "0.2",
                    "--common-min",
                    "4",
                ],
            );
            assert!(r.stdout.contains("3 networks"), "{}", r.stdout);
            assert_eq!(groups(db, &[]).len(), 3);

            let page = ok(db, &["network", "show", RU_NANNY]).stdout;
            common::assert_shows(
                &page,
                &[
                    "network 5",
                    "telegram:ivan_work                       ads [5, 6, 7]",
                    "offices: Moscow, Saint Petersburg",
                    "seen 2026-07-15 – 2026-09-09",
                    "ru-nanny",
                ],
            );
            let page = ok(db, &["queue", "show", DIARIO_DEPTO]).stdout;
            common::assert_shows(
            &page,
            &[
                "— linked ads —",
                "(none)",
                "ignored phone:+526566291000: common: on 4 of 12 ads (more than 20% and at least 4)",
            ],
        );
        },
    );
}

#[test]
fn queue_shows_linked_ads_with_reasons_and_orders_by_network() {
    on_both_engines(
        "queue_shows_linked_ads_with_reasons_and_orders_by_network",
        |db| {
            submit_with_stop_list(db);
            let page = ok(db, &["queue", "show", ES_LURE]).stdout;
            assert!(
                page.contains("en-lure-laredo") && page.contains("template similarity 0."),
                "{page}"
            );
            let shown: Value =
                serde_json::from_str(&ok(db, &["queue", "show", RU_NANNY, "--json"]).stdout)
                    .unwrap();
            let linked = shown["links"]["linked"].as_array().unwrap();
            assert_eq!(linked.len(), 2);
            for l in linked {
                assert_eq!(l["why"], serde_json::json!(["shared telegram:ivan_work"]));
            }

            let by_network =
                ok(db, &["queue", "list", "--json", "--order", "network"]).json_lines();
            let first: Vec<(&str, i64)> = by_network
                .iter()
                .take(3)
                .map(|o| (o["ext_id"].as_str().unwrap(), o["linked"].as_i64().unwrap()))
                .collect();
            assert_eq!(
                first,
                [("ru-nanny", 2), ("ru-models", 2), ("ru-farm", 2)],
                "the Telegram network outranks single ads that score higher"
            );
            let by_score = ok(db, &["queue", "list", "--json"]).json_lines();
            assert_eq!(by_score[0]["ext_id"], "es-lure-juarez");
        },
    );
}

#[test]
fn exports_a_network_as_json_and_graphml() {
    on_both_engines("exports_a_network_as_json_and_graphml", |db| {
        submit_with_stop_list(db);
        let json: Value = serde_json::from_str(
            &ok(db, &["network", "export", RU_NANNY, "--format", "json"]).stdout,
        )
        .unwrap();
        assert_eq!(json["kind"], "network");
        assert_eq!(json["stats"]["ads"], 3);
        assert_eq!(json["contacts"][0]["contact"], "telegram:ivan_work");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.graphml");
        let file = file.to_str().unwrap();
        ok(
            db,
            &[
                "network", "export", RU_NANNY, "--format", "graphml", "--out", file,
            ],
        );
        let xml = std::fs::read_to_string(file).unwrap();
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut nodes, mut edges) = (0, 0);
        loop {
            match reader.read_event().expect("well-formed GraphML") {
                quick_xml::events::Event::Start(e) if e.name().0 == "node" => nodes += 1,
                quick_xml::events::Event::Start(e) if e.name().0 == "edge" => edges += 1,
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(
            (nodes, edges),
            (4, 3),
            "three ads, one handle, three prints"
        );
        assert!(xml.contains("Из рук в руки"), "text kept as UTF-8");
    });
}

#[test]
fn stop_list_entries_are_checked_and_listed() {
    on_both_engines("stop_list_entries_are_checked_and_listed", |db| {
        let store = db.arg();
        let r = run(&[
            "network",
            "stop",
            "add",
            "switchboard",
            "--reason",
            "x",
            "--db",
            &store,
        ]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("phone:+"), "{}", r.stderr);
        ok(
            db,
            &[
                "network",
                "stop",
                "add",
                SWITCHBOARD,
                "info@eldiario.mx",
                "--reason",
                "El Diario",
            ],
        );
        let listed = ok(db, &["network", "stop", "list"]).stdout;
        common::assert_shows(
            &listed,
            &["phone:+526566291000", "email:info@eldiario.mx", "El Diario"],
        );
        ok(db, &["network", "stop", "remove", "info@eldiario.mx"]);
        assert!(!ok(db, &["network", "stop", "list"])
            .stdout
            .contains("email:"));
    });
}

/// What linking keeps in the store beside the groups, as text: the LSH buckets, each
/// network's figures and member sums (totals rounded: batches add them up in another order),
/// and each contact's carriers.
fn link_index(db: &TestStore) -> Vec<Vec<String>> {
    let conn = db.open();
    let text = |sql: &str, f: &dyn Fn(&adscreen::db::Row) -> String| -> Vec<String> {
        conn.query_map(sql, &[], |r| Ok(f(r))).unwrap()
    };
    let bands = text(
        "SELECT band_key, ads FROM lsh_buckets ORDER BY band_key",
        &|r| {
            format!(
                "{} {}",
                r.get::<i64>(0).unwrap(),
                r.get::<String>(1).unwrap()
            )
        },
    );
    let networks = text(
        "SELECT id, size, network_score, members FROM networks ORDER BY id",
        &|r| {
            let mut members: Value = serde_json::from_str(&r.get::<String>(3).unwrap()).unwrap();
            let total = members["total_score"].as_f64().unwrap();
            members["total_score"] = format!("{total:.5}").into();
            let (id, size, score) = (
                r.get::<i64>(0).unwrap(),
                r.get::<i64>(1).unwrap(),
                r.get::<f64>(2).unwrap(),
            );
            format!("{id} {size} {score:.5} {members}")
        },
    );
    let contacts = text(
        "SELECT contact, ads, latest FROM contacts ORDER BY contact",
        &|r| {
            format!(
                "{} {} {}",
                r.get::<String>(0).unwrap(),
                r.get::<i64>(1).unwrap(),
                r.get::<i64>(2).unwrap()
            )
        },
    );
    // A contact noted as joined has all its carriers in one network.
    let split: i64 = conn
        .value(
            "SELECT count(*) FROM contacts k WHERE k.joined = 1 AND 1 < (
                 SELECT count(DISTINCT g.network) FROM ad_contacts c
                 JOIN ad_groups g ON g.ad_id = c.ad_id WHERE c.contact = k.contact)",
            &[],
        )
        .unwrap();
    assert_eq!(
        split, 0,
        "contacts noted as joined whose carriers are in several networks"
    );
    let linked: i64 = conn.value("SELECT count(*) FROM ad_groups", &[]).unwrap();
    let counted: i64 = conn
        .value("SELECT linked_ads FROM link_settings", &[])
        .unwrap();
    assert_eq!(counted, linked, "linked ads as counted");
    vec![bands, networks, contacts]
}

#[test]
fn batches_keep_the_index_and_sums_a_rebuild_writes() {
    on_both_engines("batches_keep_the_index_and_sums_a_rebuild_writes", |db| {
        // The test ads in three submissions, then seven re-posts of the Spanish lure (more
        // than a bucket keeps) in two more, the last with an ad that ties the Chinese hotel
        // network to the Russian one: groups merge across batches and buckets overflow.
        let dir = tempfile::tempdir().unwrap();
        let ads: Vec<String> = std::fs::read_to_string(data("network-ads.jsonl"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let lure: Value = serde_json::from_str(&ads[0]).unwrap();
        let reposts: Vec<String> = (1..=7)
            .map(|k| {
                let mut ad = lure.clone();
                ad["id"] = format!("es-lure-repost-{k}").into();
                ad["office"] = ["Tijuana", "Monterrey"][k % 2].into();
                ad["text"] = format!("{} Ref. {k}", lure["text"].as_str().unwrap()).into();
                ad.to_string()
            })
            .collect();
        let hotel: Value = serde_json::from_str(&ads[2]).unwrap();
        let bridge = serde_json::json!({
            "id": "zh-hotel-telegram",
            "lang": "zh",
            "office": "Moscow",
            "text": format!("{} 或 Telegram @ivan_work", hotel["text"].as_str().unwrap()),
        });
        let mut last = reposts[3..].to_vec();
        last.push(bridge.to_string());
        let batches = [&ads[..4], &ads[4..8], &ads[8..], &reposts[..3], &last[..]];
        for (n, batch) in batches.iter().enumerate() {
            let file = dir.path().join(format!("batch-{n}.jsonl"));
            std::fs::write(&file, batch.join("\n")).unwrap();
            ok(db, &["submit", file.to_str().unwrap()]);
        }
        let incremental = link_index(db);
        let fullest = db
            .open()
            .query_map("SELECT ads FROM lsh_buckets", &[], |r| {
                Ok(r.get::<String>(0)?.split(',').count())
            })
            .unwrap()
            .into_iter()
            .max();
        assert_eq!(fullest, Some(4), "a bucket keeps its 4 most recent ads");
        ok(db, &["network", "rebuild"]);
        assert_eq!(link_index(db), incremental);
    });
}
