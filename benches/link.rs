//! Networks at scale, timed once per run (each figure is one pass over a million ads, too long
//! for criterion's repeated samples):
//!
//! 1. linking 1,000,000 ads from scratch, in memory, as `adscreen network rebuild` does:
//!    contact keys and MinHash signatures, then contact and template links and components;
//! 2. adding 1,000 new ads to a store of 1,000,000 through `Store::submit`, which stores and
//!    links them in one transaction.
//!
//! The ads are the project's written corpora (`corpora/train`, `corpora/test`, 4,040 ads in four
//! languages), each re-posted many times with small edits: a few characters cut, a city name
//! inserted, other numbers, a phone shared by every five re-posts — so every template has
//! hundreds of near-duplicates, the hard case for LSH buckets. The store of part 2 is built once
//! through `submit` (1,000,000 took 391 s with schema 8, 2,371 s with schema 6, 2026-11-23) and
//! kept in `target/bench-link-store-N.db`; each run adds 3,000 fresh ads to it, printing wall
//! time and the writer thread's CPU time (steadier on a shared machine). Whether the store's
//! pages are in the page cache decides the wall time: run it two or three times.
//!
//! `cargo bench --bench link` (`LINK_BENCH_ADS=100000` for a smaller run, `LINK_BENCH_STORE_ADS`
//! for another store size).

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use adscreen::ingest::{AdRecord, Entities};
use adscreen::link::rebuild::link_all;
use adscreen::link::{AdKeys, CommonRule};
use adscreen::model::{Model, ScoredAd};
use adscreen::queue::{PreparedAd, SqlStore, Store, Submission};
use adscreen::Screener;

/// Inserted into re-posts, as offices see the same lure for another city.
const CITIES: &[&str] = &[
    "Houston",
    "Miami",
    "Dallas",
    "Chicago",
    "Atlanta",
    "Phoenix",
    "Denver",
    "Seattle",
    "洛杉矶",
    "纽约",
    "旧金山",
    "Нью-Йорк",
    "Майами",
    "Лос-Анджелес",
    "Monterrey",
    "Tijuana",
];

fn corpus() -> Vec<AdRecord> {
    let mut out = Vec::new();
    for dir in ["corpora/train", "corpora/test"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(dir).expect("corpora/") {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                let obj = serde_json::from_str::<serde_json::Value>(line).unwrap();
                out.push(AdRecord::from_json(obj.as_object().unwrap().clone(), "bench").unwrap());
            }
        }
    }
    out
}

/// A deterministic pseudo-random number for re-post `k` of base ad `i`.
fn mix(i: usize, k: usize) -> u64 {
    let mut x = (i as u64) << 32 ^ k as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Re-post `k` of a text: three characters cut at one place, a city inserted at another, every
/// digit shifted by `k`.
fn repost(text: &str, i: usize, k: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let r = mix(i, k);
    let cut = (r % chars.len().max(1) as u64) as usize;
    let at = ((r >> 20) % chars.len().max(1) as u64) as usize;
    let city = CITIES[(r >> 40) as usize % CITIES.len()];
    let mut out = String::with_capacity(text.len() + 16);
    for (n, c) in chars.iter().enumerate() {
        if n == at {
            out.push_str(city);
            out.push(' ');
        }
        if (cut..cut + 3).contains(&n) {
            continue;
        }
        match c.to_digit(10) {
            Some(d) => out.push(char::from_digit((d + k as u32) % 10, 10).unwrap()),
            None => out.push(*c),
        }
    }
    out
}

/// Re-post `k` of scored ad `i`: new text (original and normalized), id and phone.
fn repost_scored(ad: &ScoredAd, i: usize, k: usize) -> ScoredAd {
    let mut ad = ad.clone();
    let record = &mut ad.ad.record;
    record.id = format!("{}-{k}", record.id);
    record.text = repost(&record.text, i, k);
    ad.ad.text.text = repost(&ad.ad.text.text, i, k);
    ad.entities.phones = vec![format!("+5255{:08}", (i * 7919 + k / 5) % 100_000_000)];
    ad
}

fn main() {
    let n: usize = std::env::var("LINK_BENCH_ADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    rayon::ThreadPoolBuilder::new().build_global().ok();
    let screener = Screener {
        model: Model::load(None).expect("models/default"),
        office: None,
    };
    let base: Vec<ScoredAd> = corpus()
        .into_par_iter()
        .map(|r| screener.screen(r))
        .collect();
    println!(
        "{} base ads, {} threads",
        base.len(),
        rayon::current_num_threads()
    );
    let store_ads: usize = std::env::var("LINK_BENCH_STORE_ADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    link_in_memory(&base, n);
    add_to_store(&base, store_ads);
}

/// Re-post `j` of the sequence: base ads interleaved, so neighbours in id order differ.
fn nth(base: &[ScoredAd], j: usize) -> ScoredAd {
    repost_scored(&base[j % base.len()], j % base.len(), j / base.len())
}

fn link_in_memory(base: &[ScoredAd], n: usize) {
    // Only what linking reads (entities, normalized texts): a million whole scored ads would
    // not fit in memory.
    let inputs: Vec<(Entities, String, Option<String>)> = (0..n)
        .into_par_iter()
        .map(|j| {
            let ad = nth(base, j);
            let translation = ad
                .ad
                .translation
                .map(|t| repost(&t.text, j, j / base.len()));
            (ad.entities, ad.ad.text.text, translation)
        })
        .collect();
    let start = Instant::now();
    let keys: Vec<AdKeys> = inputs
        .par_iter()
        .enumerate()
        .map(|(j, (entities, text, translation))| {
            AdKeys::new(j as i64 + 1, entities, text, translation.as_deref())
        })
        .collect();
    let keyed = start.elapsed();
    drop(inputs);
    let rule = CommonRule {
        share: 0.01,
        min_ads: 20,
    };
    let linked = link_all(&keys, &HashSet::new(), &rule);
    let total = start.elapsed();
    let networks: HashSet<u32> = linked.network.iter().copied().collect();
    let clusters: HashSet<u32> = linked.cluster.iter().copied().collect();
    println!(
        "link {n} ads in memory: {:.1} s (keys and signatures {:.1} s, links and components {:.1} s); {} networks, {} clusters, {} template links",
        total.as_secs_f64(),
        keyed.as_secs_f64(),
        (total - keyed).as_secs_f64(),
        networks.len(),
        clusters.len(),
        linked.template_links.len()
    );
}

fn add_to_store(base: &[ScoredAd], n: usize) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-link-store-{n}.db"));
    let mut store = SqlStore::open(&adscreen::db::Location::Sqlite(path.clone())).expect("store");
    let who = Submission {
        user: "bench",
        office: None,
        source: "bench",
    };
    let stored: usize = store.db().value("SELECT count(*) FROM ads", &[]).unwrap();
    if stored < n {
        let start = Instant::now();
        for from in (stored..n).step_by(2048) {
            let batch: Vec<ScoredAd> = (from..(from + 2048).min(n))
                .into_par_iter()
                .map(|j| nth(base, j))
                .collect();
            store
                .submit(&PreparedAd::batch(batch), &who)
                .expect("submit");
        }
        println!(
            "built a store of {n} ads through submit (store and link) in {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
    for _ in 0..3 {
        // Re-posts never stored before: each run adds its own (the store grows by 3,000).
        let size: usize = store.db().value("SELECT count(*) FROM ads", &[]).unwrap();
        let from = size + 10_000;
        let batch: Vec<ScoredAd> = (from..from + 1000).map(|j| nth(base, j)).collect();
        let start = Instant::now();
        let cpu0 = cpu_ns();
        let outcome = store
            .submit(&PreparedAd::batch(batch), &who)
            .expect("submit");
        println!(
            "add 1000 ads to a store of {size}: {:.3} s (writer thread CPU {:.3} s; stored {}, already stored {})",
            start.elapsed().as_secs_f64(), (cpu_ns() - cpu0) as f64 / 1e9,
            outcome.stored,
            outcome.duplicates
        );
    }
}

fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
