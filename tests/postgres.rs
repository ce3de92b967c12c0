//! Several sites on one shared store: `adscreen serve` processes sharing a PostgreSQL database,
//! claims that never hand the same ad to two analysts, submissions stored once whichever server
//! takes them, a promoted model picked up by every server, the append-only audit log under the
//! documented grants, and `migrate` / `copy` from an office's SQLite file. Checks that make
//! sense on one SQLite file too run on both.

mod common;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adscreen::db::Value;
use common::{root, run, run_stdin, Server, TestStore, PASSWORD};
use serde_json::{json, Value as Json};

/// `n` distinct ads that the shipped model flags (variations of a lure, each with its own
/// contact so that none is a duplicate of another).
fn lures(n: usize) -> Vec<Json> {
    (0..n)
        .map(|i| {
            json!({"id": format!("lure-{i}"), "text": format!(
                "Trabajo en Estados Unidos para señoritas de 18 a 25 años, sin experiencia. \
                 Ganancias de 4000 dólares al mes, pasaje y visa pagados, se descuenta del sueldo. \
                 Hospedaje incluido. Urgente, pocas plazas. WhatsApp +52 55 {:04} {:04}",
                1000 + i, 2000 + i
            )})
        })
        .collect()
}

fn submit(s: &Server, ads: &[Json]) -> Json {
    let (code, body) = s.call(
        "POST",
        "/api/ads",
        Some("sub_mx"),
        Some(&json!({"ads": ads})),
    );
    assert_eq!(code, 200, "{body}");
    body
}

/// Adds `n` analysts named analyst0… (password login is not needed: tokens).
fn analysts(store: &TestStore, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("analyst{i}");
            let r = run_stdin(
                &[
                    "users", "add", &name, "--role", "analyst", "--db", &store.url,
                ],
                format!("{PASSWORD}\n").as_bytes(),
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            let t = run(&["users", "token", &name, "--db", &store.url]);
            assert_eq!(t.code, 0, "{}", t.stderr);
            t.stdout.trim().to_string()
        })
        .collect()
}

fn post(base: &str, token: &str, path: &str, body: Json) -> (u16, Json) {
    let res = ureq::post(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body);
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path}: {e}"),
    };
    (res.status(), res.into_json().unwrap_or(Json::Null))
}

/// Two servers with the shipped model on one new PostgreSQL store (None: skipped).
fn two_servers(test: &str) -> Option<(Arc<TestStore>, Server, Server)> {
    let store = Arc::new(TestStore::postgres(test)?);
    let a = Server::start_on(store.clone(), None);
    let b = Server::start_another(store.clone(), None);
    Some((store, a, b))
}

#[test]
fn two_servers_and_twenty_analysts_never_claim_the_same_ad_and_lose_nothing() {
    let Some((store, a, b)) = two_servers("two servers, twenty analysts") else {
        return;
    };
    let ads = lures(120);
    submit(&a, &ads[..60]);
    submit(&b, &ads[60..]);
    let tokens = analysts(&store, 20);

    // Each analyst claims the next ad on one server or the other and labels it, until the
    // queue is empty or the time is up.
    let claimed = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
    let labeled = Arc::new(Mutex::new(Vec::<i64>::new()));
    let deadline = Instant::now() + Duration::from_secs(60);
    std::thread::scope(|scope| {
        for (i, token) in tokens.iter().enumerate() {
            let (claimed, labeled) = (claimed.clone(), labeled.clone());
            let bases = [a.base.clone(), b.base.clone()];
            scope.spawn(move || {
                let user = format!("analyst{i}");
                for round in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let base = &bases[(i + round) % 2];
                    let (code, c) = post(base, token, "/api/claim", json!({"minutes": 30}));
                    assert_eq!(code, 200, "{c}");
                    let Some(id) = c["id"].as_i64() else {
                        break;
                    };
                    claimed.lock().unwrap().push((user.clone(), id));
                    let other = &bases[(i + round + 1) % 2];
                    let (code, l) = post(
                        other,
                        token,
                        &format!("/api/ads/{id}/label"),
                        json!({"suspicious": round % 3 != 0, "indicators": ["travel_arranged"]}),
                    );
                    assert_eq!(code, 200, "{l}");
                    labeled.lock().unwrap().push(id);
                }
            });
        }
    });
    let claimed = claimed.lock().unwrap().clone();
    let labeled = labeled.lock().unwrap().clone();
    let distinct: BTreeSet<i64> = claimed.iter().map(|(_, id)| *id).collect();
    assert_eq!(distinct.len(), claimed.len(), "an ad was claimed twice");
    assert!(claimed.len() >= 20, "only {} claims", claimed.len());
    let per_analyst: BTreeMap<&str, usize> =
        claimed.iter().fold(BTreeMap::new(), |mut m, (u, _)| {
            *m.entry(u.as_str()).or_default() += 1;
            m
        });
    assert!(
        per_analyst.len() >= 15,
        "few analysts got work: {per_analyst:?}"
    );

    // Nothing lost: every ad stored once, every label and claim in the store and the audit log.
    let db = store.open();
    assert_eq!(
        db.value::<i64>("SELECT count(*) FROM ads", &[]).unwrap(),
        120
    );
    let labels: i64 = db
        .value(
            "SELECT count(*) FROM ads WHERE label IS NOT NULL AND status = 'in_review'",
            &[],
        )
        .unwrap();
    assert_eq!(labels as usize, labeled.len());
    for action in ["claim", "label"] {
        let in_audit: i64 = db
            .value(
                "SELECT count(*) FROM audit WHERE action = ?1",
                &[Value::from(action)],
            )
            .unwrap();
        assert_eq!(in_audit as usize, claimed.len(), "{action} entries");
    }
    let twice: i64 = db
        .value(
            "SELECT count(*) FROM (SELECT ad_id FROM events WHERE action = 'claim' GROUP BY ad_id HAVING count(*) > 1) t",
            &[],
        )
        .unwrap();
    assert_eq!(twice, 0);
    if claimed.len() == 120 {
        let (_, c) = post(&a.base, &tokens[0], "/api/claim", json!({}));
        assert_eq!(c["id"], Json::Null, "every ad is taken");
    }
}

#[test]
fn the_same_ads_sent_to_two_servers_at_once_are_stored_once() {
    let Some((store, a, b)) = two_servers("same ads to two servers") else {
        return;
    };
    let ads = lures(50);
    let (ra, rb) = std::thread::scope(|scope| {
        let ta = scope.spawn(|| submit(&a, &ads));
        let tb = scope.spawn(|| submit(&b, &ads));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let stored = |r: &Json| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["duplicate"] == false)
            .count()
    };
    assert_eq!(stored(&ra) + stored(&rb), 50, "{ra}\n{rb}");
    let db = store.open();
    assert_eq!(
        db.value::<i64>("SELECT count(*) FROM ads", &[]).unwrap(),
        50
    );
    // Both servers answer with the same store id for each ad.
    for (x, y) in ra["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rb["results"].as_array().unwrap())
    {
        assert_eq!(x["id"], y["id"]);
    }
}

#[test]
fn a_server_reconnects_after_the_database_drops_its_connections() {
    let Some(store) = TestStore::postgres("reconnect") else {
        return;
    };
    let store = Arc::new(store);
    let s = Server::start_on(store.clone(), None);
    submit(&s, &lures(3));
    let database = store.url.rsplit('/').next().unwrap().to_string();
    // What a database restart or failover does to every open connection.
    store
        .open()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?1 AND pid <> pg_backend_pid()",
            &[Value::from(database)],
        )
        .unwrap();
    let answered = (0..10).find(|_| s.call("GET", "/api/ads", Some("analyst"), None).0 == 200);
    assert!(answered.is_some(), "the server never reconnected");
    let (code, list) = s.call("GET", "/api/ads", Some("analyst"), None);
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");
}

fn claim(store: &TestStore, user: &str) -> Option<i64> {
    let r = run(&[
        "queue",
        "claim",
        "--user",
        user,
        "--minutes",
        "5",
        "--db",
        &store.url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .strip_prefix("claimed ad ")
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
}

/// Claims go riskiest first, skip held ads, and lapse: an expired claim returns to the pool.
fn claims_skip_held_ads_and_lapse(store: TestStore) {
    let r = run(&["submit", "corpora/demo/ads.jsonl", "--db", &store.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got = Vec::new();
    while let Some(id) = claim(&store, &format!("a{}", got.len())) {
        got.push(id);
    }
    assert_eq!(got.len(), 8, "the demo file has 8 flagged ads");
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 8);
    // The first claim lapses (its analyst walked away): the next claim gets that ad.
    let db = store.open();
    db.execute(
        "UPDATE ads SET claim_expires = '2000-01-01T00:00:00.000Z' WHERE id = ?1",
        &[Value::from(got[0])],
    )
    .unwrap();
    assert_eq!(claim(&store, "late"), Some(got[0]));
    assert_eq!(claim(&store, "later"), None);
    let shown = run(&[
        "queue",
        "show",
        &got[0].to_string(),
        "--json",
        "--db",
        &store.url,
    ]);
    let history = serde_json::from_str::<Json>(&shown.stdout).unwrap()["history"].clone();
    let claims: Vec<&Json> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "claim")
        .collect();
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[1]["target"], "late");
}

/// `migrate` creates the schema once and then says it is up to date.
fn migrate_creates_then_reports_up_to_date(store: TestStore) {
    let first = run(&["migrate", "--db", &store.url]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.contains("schema version 0 → "),
        "{}",
        first.stdout
    );
    let again = run(&["migrate", "--db", &store.url]);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
}

/// The audit log refuses UPDATE and DELETE whoever asks.
fn audit_entries_cannot_be_changed(store: TestStore) {
    assert_eq!(run(&["migrate", "--db", &store.url]).code, 0);
    let db = store.open();
    db.execute(
        "INSERT INTO audit (at, \"user\", action) VALUES ('2026-01-01', 'ana', 'read')",
        &[],
    )
    .unwrap();
    for sql in ["UPDATE audit SET action = 'x'", "DELETE FROM audit"] {
        let err = db.execute(sql, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("append-only"), "{sql}: {err:#}");
    }
}

/// An ad whose text holds a NUL character (hostile input) is stored on either engine, with
/// U+FFFD in its place (PostgreSQL text cannot hold NUL), beside the valid ads of its batch.
fn text_with_nul_characters_is_stored(store: TestStore) {
    let input = "{\"id\": \"nul\", \"text\": \"Trabajo en USA\\u0000 sin papeles, WhatsApp +52 55 1234 5678\"}\n\
                 {\"id\": \"ok\", \"text\": \"Se busca cocinero para restaurante en Monterrey\"}\n";
    let r = run_stdin(&["submit", "-", "--db", &store.url], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text: String = store
        .open()
        .value("SELECT text FROM ads WHERE ext_id = 'nul'", &[])
        .unwrap();
    assert_eq!(
        text,
        "Trabajo en USA\u{FFFD} sin papeles, WhatsApp +52 55 1234 5678"
    );
    let n: i64 = store.open().value("SELECT count(*) FROM ads", &[]).unwrap();
    assert_eq!(n, 2);
}

on_both_stores!(
    claims_skip_held_ads_and_lapse,
    migrate_creates_then_reports_up_to_date,
    audit_entries_cannot_be_changed,
    text_with_nul_characters_is_stored,
);

#[test]
fn the_application_role_of_the_documented_grants_can_append_to_the_audit_log_only() {
    let Some(store) = TestStore::postgres("audit grants") else {
        return;
    };
    assert_eq!(run(&["migrate", "--db", &store.url]).code, 0);
    let role = format!("adscreen_app_{}", std::process::id());
    let admin = store.open();
    // README's grants, verbatim in substance.
    admin
        .script(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};
             REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM {role};"
        ))
        .unwrap();
    let url = store.url.replacen("postgres@", &format!("{role}@"), 1);
    let app = adscreen::db::open(&adscreen::db::Location::Postgres(url)).unwrap();
    app.execute(
        "INSERT INTO audit (at, \"user\", action) VALUES ('2026-01-01', 'ana', 'read')",
        &[],
    )
    .unwrap();
    for sql in [
        "UPDATE audit SET action = 'x'",
        "DELETE FROM audit",
        "TRUNCATE audit",
    ] {
        let err = app.script(sql).unwrap_err();
        assert!(
            format!("{err:#}").contains("permission denied"),
            "{sql}: {err:#}"
        );
    }
    drop(app);
    admin
        .script(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .unwrap();
}

#[test]
fn an_office_store_copied_into_postgres_keeps_every_row_and_goes_on_working() {
    let Some(target) = TestStore::postgres("copy from SQLite") else {
        return;
    };
    let office = common::DemoStore::sqlite().with_demo_ads();
    let office_db = office.store.arg();
    let id = office.id("demo-01");
    office.run(&["queue", "label", &id, "--suspicious", "--user", "ana"]);
    let r = run_stdin(
        &[
            "users", "add", "ana", "--role", "analyst", "--db", &office_db,
        ],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let from = format!("sqlite:{office_db}");
    let r = run(&["copy", "--from", &from, "--to", &target.url]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("every table's rows and checksum match"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("MISMATCH"), "{}", r.stdout);
    for args in [
        vec!["queue", "list", "--json", "--status", "new"],
        vec!["queue", "show", &id, "--json"],
        vec!["network", "list", "--json"],
        vec!["users", "list"],
    ] {
        let on = |db: &str| {
            let mut a = args.clone();
            a.extend(["--db", db]);
            let r = run(&a);
            assert_eq!(r.code, 0, "{a:?}: {}", r.stderr);
            r.stdout
        };
        assert_eq!(on(&office_db), on(&target.url), "{args:?}");
    }
    // A second copy into the same database is refused; the shared store takes new ads with
    // fresh ids.
    let again = run(&["copy", "--from", &from, "--to", &target.url]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already holds"), "{}", again.stderr);
    let r = run(&["submit", "tests/data/ads.jsonl", "--db", &target.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn model_version(s: &Server) -> Json {
    s.call("GET", "/health", None, None).1["model"].clone()
}

#[test]
fn a_model_promoted_once_is_picked_up_by_every_server() {
    let Some(store) = TestStore::postgres("promoted model on every server") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Two servers as on two machines, each with its own copy of the shipped bundle.
    let copy = |name: &str| {
        let to = dir.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(root().join("models/default")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
        to
    };
    let (here, there, candidate) = (copy("here"), copy("there"), copy("candidate"));
    // The candidate: the same weights under a new version name (the manifest names it).
    let manifest = candidate.join("manifest.json");
    let mut m: Json = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["model_version"] = json!("promoted-for-every-server");
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();

    let store = Arc::new(store);
    let a = Server::start_on(store.clone(), Some(&here));
    let b = Server::start_another(store.clone(), Some(&there));
    let r = run(&[
        "model",
        "promote",
        candidate.to_str().unwrap(),
        "--current",
        here.to_str().unwrap(),
        "--data",
        "corpora/test/es-en.jsonl",
        "--user",
        "admin",
        "--db",
        &store.url,
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let started = Instant::now();
    let promoted = json!("promoted-for-every-server");
    while model_version(&a) != promoted || model_version(&b) != promoted {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not every server picked up the promoted model"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The other machine's bundle directory was never touched: the model came from the store.
    assert!(!Path::new(&there).join("../there.previous").exists());
    // A server started later runs the promoted model too.
    let c = Server::start_another(store.clone(), Some(&there));
    assert_eq!(model_version(&c), promoted);
}
