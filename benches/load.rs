//! HTTP latency and load, over loopback against the release binary:
//!
//! 1. single-ad scoring: sequential `POST /api/score` of corpus ads → p50 / p99 / max;
//! 2. load: 100 concurrent clients, each looping submit (a batch of 5 new ads) → list the new
//!    ads → read one → label it → add a note, for a bounded time; then every submitted ad must be
//!    in the store, and every request must have succeeded.
//!
//! `cargo bench --bench load` (60 s of load); `LOAD_SECONDS=10 LOAD_CLIENTS=20 cargo bench
//! --bench load` for a shorter run. Exits non-zero on any error or missing ad.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "load test passphrase";

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn adscreen(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adscreen"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "adscreen {args:?} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn start(db: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adscreen"))
        .args(["serve", "--addr", "127.0.0.1:0", "--db", db])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().replace("adscreen: listening on ", "");
    Server { child, base }
}

/// The texts of the test split: real print-size ads in the four languages.
fn corpus() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/test");
    let mut ads = Vec::new();
    for f in std::fs::read_dir(dir).unwrap() {
        for line in std::fs::read_to_string(f.unwrap().path()).unwrap().lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("label");
            o.remove("indicators");
            ads.push(v);
        }
    }
    ads
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {name:<22} {:>8} requests   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        times.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap())
    );
}

/// One request; returns its latency, or the failure.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Result<(Duration, Value), String> {
    let t = Instant::now();
    let req = agent
        .request(method, url)
        .set("Authorization", &format!("Bearer {token}"));
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => {
            let v: Value = r.into_json().map_err(|e| e.to_string())?;
            Ok((t.elapsed(), v))
        }
        Err(e) => Err(format!("{method} {url}: {e}")),
    }
}

fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS").map_or(60, |s| s.parse().unwrap());
    let clients: usize = std::env::var("LOAD_CLIENTS").map_or(100, |s| s.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db").to_string_lossy().into_owned();
    for (name, role) in [("analyst", "analyst"), ("field", "analyst")] {
        adscreen(
            &["users", "add", name, "--role", role, "--db", &db],
            Some(PASSWORD),
        );
    }
    let analyst = adscreen(&["users", "token", "analyst", "--db", &db], None);
    let server = start(&db);
    let ads = corpus();
    println!("adscreen HTTP on loopback ({} corpus ads)", ads.len());

    // 1. Single-ad scoring latency.
    let agent = ureq::AgentBuilder::new().build();
    let url = format!("{}/api/score", server.base);
    for ad in ads.iter().take(50) {
        call(&agent, "POST", &url, &analyst, Some(ad.clone())).unwrap();
    }
    let times: Vec<Duration> = ads
        .iter()
        .cycle()
        .take(2000)
        .map(|ad| {
            call(&agent, "POST", &url, &analyst, Some(ad.clone()))
                .unwrap()
                .0
        })
        .collect();
    summary("POST /api/score", times);

    // 2. Load: concurrent clients submitting and triaging.
    let stop = Arc::new(AtomicBool::new(false));
    let ads = Arc::new(ads);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, ads, base, token) = (
                stop.clone(),
                ads.clone(),
                server.base.clone(),
                analyst.clone(),
            );
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                let mut lat: [Vec<Duration>; 5] = Default::default();
                let (mut submitted, mut errors) = (0usize, Vec::new());
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let batch: Vec<Value> = (0..5)
                        .map(|k| {
                            let mut ad = ads[(c * 7919 + i * 5 + k) % ads.len()].clone();
                            let text =
                                format!("{} [load {c}-{i}-{k}]", ad["text"].as_str().unwrap());
                            ad["text"] = json!(text);
                            ad["id"] = json!(format!("load-{c}-{i}-{k}"));
                            ad
                        })
                        .collect();
                    i += 1;
                    let steps: [(&str, String, Option<Value>); 2] = [
                        (
                            "POST",
                            format!("{base}/api/ads"),
                            Some(json!({"ads": batch})),
                        ),
                        (
                            "GET",
                            format!("{base}/api/ads?status=new&limit=20&offset={}", c % 5),
                            None,
                        ),
                    ];
                    let mut listed = Value::Null;
                    for (n, (m, u, b)) in steps.into_iter().enumerate() {
                        match call(&agent, m, &u, &token, b) {
                            Ok((t, v)) => {
                                lat[n].push(t);
                                if n == 0 {
                                    submitted += v["results"].as_array().map_or(0, |r| r.len());
                                } else {
                                    listed = v;
                                }
                            }
                            Err(e) => errors.push(e),
                        }
                    }
                    let Some(id) = listed["items"][0]["id"].as_i64() else {
                        continue;
                    };
                    let triage: [(&str, String, Option<Value>); 3] = [
                        ("GET", format!("{base}/api/ads/{id}"), None),
                        (
                            "POST",
                            format!("{base}/api/ads/{id}/label"),
                            Some(json!({"suspicious": true})),
                        ),
                        (
                            "POST",
                            format!("{base}/api/ads/{id}/note"),
                            Some(json!({"text": format!("client {c}")})),
                        ),
                    ];
                    for (n, (m, u, b)) in triage.into_iter().enumerate() {
                        match call(&agent, m, &u, &token, b) {
                            Ok((t, _)) => lat[n + 2].push(t),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                (lat, submitted, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut lat: [Vec<Duration>; 5] = Default::default();
    let (mut submitted, mut errors) = (0usize, Vec::new());
    for h in handles {
        let (l, s, e) = h.join().unwrap();
        for (all, mine) in lat.iter_mut().zip(l) {
            all.extend(mine);
        }
        submitted += s;
        errors.extend(e);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total: usize = lat.iter().map(Vec::len).sum();
    println!(
        "load: {clients} clients for {elapsed:.1} s: {total} requests ({:.0}/s), {} errors, {submitted} ads submitted",
        total as f64 / elapsed,
        errors.len()
    );
    let names = [
        "POST /api/ads (5 ads)",
        "GET /api/ads (list)",
        "GET /api/ads/{id}",
        "POST …/label",
        "POST …/note",
    ];
    for (name, l) in names.iter().zip(lat) {
        if !l.is_empty() {
            summary(name, l);
        }
    }
    drop(server);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM ads WHERE ext_id LIKE 'load-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let stored = stored as usize;
    println!("store: {stored} of {submitted} submitted ads present");
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    if !errors.is_empty() || stored != submitted {
        std::process::exit(1);
    }
}
