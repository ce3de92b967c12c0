//! Per-stage cost on print-size ads in the four languages (the separately written test split):
//! normalize, language, entities, tokenize, features (tokenize + columns), score (the 12 heads and
//! the evidence), the whole screen, and the store insert.
//!
//! `cargo bench --bench stages`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use adscreen::ingest::{self, language, normalize, AdRecord};
use adscreen::model::Model;
use adscreen::queue::{PreparedAd, SqlStore, Store, Submission};
use adscreen::Screener;

fn ads() -> Vec<AdRecord> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpora/test");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("corpora/test") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let obj = serde_json::from_str::<serde_json::Value>(line).unwrap();
            out.push(AdRecord::from_json(obj.as_object().unwrap().clone(), "bench").unwrap());
        }
    }
    out
}

fn stages(c: &mut Criterion) {
    let records = ads();
    let bytes: usize = records.iter().map(|r| r.text.len()).sum();
    let model = Model::load(None).expect("models/default");
    let screener = Screener {
        model,
        office: None,
    };
    let ingested: Vec<_> = records
        .iter()
        .map(|r| ingest::ingest(r.clone(), None))
        .collect();

    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("normalize", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| normalize(&r.text).text.len())
                .sum::<usize>()
        })
    });
    g.bench_function("language", |b| {
        b.iter(|| {
            records
                .iter()
                .filter(|r| language::detect(&r.text).lang.is_some())
                .count()
        })
    });
    g.bench_function("entities", |b| {
        b.iter(|| {
            ingested
                .iter()
                .map(|a| ingest::entities::extract(&a.text.text, None).phones.len())
                .sum::<usize>()
        })
    });
    g.bench_function("tokenize", |b| {
        b.iter(|| {
            ingested
                .iter()
                .map(|a| screener.model.featurizer.tokens(&a.text).len())
                .sum::<usize>()
        })
    });
    g.bench_function("features", |b| {
        b.iter(|| {
            ingested
                .iter()
                .map(|a| screener.model.featurizer.featurize(a).fields.len())
                .sum::<usize>()
        })
    });
    let features: Vec<_> = ingested
        .iter()
        .map(|a| screener.model.featurizer.featurize(a))
        .collect();
    g.bench_function("score", |b| {
        b.iter_batched(
            || ingested.clone(),
            |ads| {
                ads.into_iter()
                    .zip(&features)
                    .map(|(a, f)| screener.model.score(a, f).score)
                    .sum::<f32>()
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("screen (all stages, one thread)", |b| {
        b.iter_batched(
            || records.clone(),
            |rs| {
                rs.into_iter()
                    .map(|r| screener.screen(r).score)
                    .sum::<f32>()
            },
            BatchSize::LargeInput,
        )
    });
    let scored: Vec<_> = records.iter().map(|r| screener.screen(r.clone())).collect();
    g.bench_function("store insert (one transaction)", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store =
                    SqlStore::open(&adscreen::db::Location::Sqlite(dir.path().join("b.db")))
                        .unwrap();
                (dir, store)
            },
            |(_dir, mut store)| {
                let who = Submission {
                    user: "bench",
                    office: None,
                    source: "bench",
                };
                store
                    .submit(&PreparedAd::batch(scored.clone()), &who)
                    .unwrap()
                    .stored
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = stages
}
criterion_main!(benches);
