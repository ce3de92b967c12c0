//! Incremental linking inside the submit transaction: each new ad is indexed (contacts, signatures,
//! LSH bands), looked up against the ads already stored, and joined to their networks and
//! clusters. Only the index rows that match the new ad, and the group rows of the groups it
//! merges, are read or written.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};

use super::settings::{common_rule, why_ignored};
use super::stats::{insert_group_row, refresh_networks, AdFacets, Kind};
use super::templates::{from_blob, to_blob, Signature, MIN_SIMILARITY};
use super::{AdKeys, CommonRule, BUCKET_CANDIDATES};
use crate::db::{Db, Row, Value};
use crate::params;

/// Links the ads of one submitted batch; call [`Linker::add`] for each newly stored ad, in id
/// order, then [`Linker::finish`].
///
/// Every statement's text is constant (ids are bound, never formatted in), so that the
/// connection prepares each once and reuses it for every ad. What the batch has already read or
/// written of the LSH buckets and signatures is kept in memory: a batch of re-posts asks the
/// store for each bucket and each candidate's signatures once, not once per ad.
pub struct Linker<'c> {
    db: &'c dyn Db,
    rule: CommonRule,
    /// Ads in the store, counting the ones added so far.
    total: usize,
    /// Networks whose `networks` row is out of date.
    touched: BTreeSet<i64>,
    /// Per LSH bucket met in this batch, the most recent [`BUCKET_CANDIDATES`] ads it held,
    /// newest first: read from the store on first use, then kept up to date by [`Linker::add`].
    buckets: HashMap<i64, Vec<i64>>,
    /// Signatures of the ads of this batch and of the candidates read so far.
    signatures: HashMap<i64, Vec<Signature>>,
    /// The batch's band rows and the ads whose signatures it stores, written by
    /// [`Linker::finish`]: until then the two maps above answer for them.
    new_bands: Vec<(i64, i64)>,
    new_signatures: Vec<i64>,
}

/// Column names as [`Db::insert_rows`] takes them.
fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

impl<'c> Linker<'c> {
    /// Starts linking a batch on `db` (the submit transaction).
    pub fn new(db: &'c dyn Db) -> Result<Self> {
        Ok(Linker {
            db,
            rule: common_rule(db)?,
            total: db.value("SELECT count(*) FROM ad_groups", &[])?,
            touched: BTreeSet::new(),
            buckets: HashMap::new(),
            signatures: HashMap::new(),
            new_bands: Vec::new(),
            new_signatures: Vec::new(),
        })
    }

    /// Indexes one newly stored ad and links it to the stored ads it matches.
    pub fn add(&mut self, ad: &AdKeys, facets: &AdFacets) -> Result<()> {
        self.total += 1;
        let bands = ad.bands();
        let mut networks = BTreeSet::from([ad.id]);
        let mut clusters = BTreeSet::from([ad.id]);
        for contact in &ad.contacts {
            self.db.execute(
                "INSERT INTO ad_contacts (contact, ad_id) VALUES (?1, ?2)
                 ON CONFLICT (contact, ad_id) DO NOTHING",
                params![contact, ad.id],
            )?;
            if self.identifying(contact)? {
                self.db.each(
                    "SELECT DISTINCT g.network FROM ad_contacts c JOIN ad_groups g ON g.ad_id = c.ad_id
                     WHERE c.contact = ?1 AND c.ad_id <> ?2",
                    params![contact, ad.id],
                    &mut |r| {
                        networks.insert(r.get(0)?);
                        Ok(())
                    },
                )?;
            }
        }
        for (other, similarity) in self.similar_ads(ad, &bands)? {
            self.db.execute(
                "INSERT INTO template_links (ad_id, other, similarity) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ad_id, other) DO NOTHING",
                params![ad.id, other, similarity],
            )?;
            let groups = self
                .db
                .query_opt(
                    "SELECT network, cluster FROM ad_groups WHERE ad_id = ?1",
                    params![other],
                )?
                .with_context(|| format!("ad {other} is indexed but has no group"))?;
            networks.insert(groups.get(0)?);
            clusters.insert(groups.get(1)?);
        }
        self.signatures.insert(ad.id, ad.signatures.clone());
        self.new_signatures.push(ad.id);
        for band in bands {
            // Every bucket of the ad was read (or created) by `similar_ads` just before.
            let recent = self.buckets.entry(band).or_default();
            recent.insert(0, ad.id);
            recent.truncate(BUCKET_CANDIDATES);
            self.new_bands.push((band, ad.id));
        }
        let network = self.merge(Kind::Network, &networks)?;
        let cluster = self.merge(Kind::Cluster, &clusters)?;
        insert_group_row(self.db, ad.id, network, cluster, facets)?;
        self.touched.insert(network);
        Ok(())
    }

    /// Stores the batch's bands and signatures and brings the merged networks' scores up to
    /// date.
    pub fn finish(mut self) -> Result<()> {
        // In key order: inserted in the order they came, each band row landed on a random page
        // of the index, three times slower than a sorted run.
        self.new_bands.sort_unstable();
        let bands: Vec<Row> = self
            .new_bands
            .iter()
            .map(|&(band, id)| Row(vec![Value::Int(band), Value::Int(id)]))
            .collect();
        self.db
            .insert_rows("ad_bands", &columns(&["band_key", "ad_id"]), &bands)?;
        let signatures: Vec<Row> = self
            .new_signatures
            .iter()
            .flat_map(|id| {
                self.signatures[id]
                    .iter()
                    .map(|sig| Row(vec![Value::Int(*id), Value::Blob(to_blob(sig))]))
            })
            .collect();
        self.db.insert_rows(
            "ad_signatures",
            &columns(&["ad_id", "signature"]),
            &signatures,
        )?;
        refresh_networks(self.db, Some(&self.touched.into_iter().collect::<Vec<_>>()))
    }

    /// Whether a contact links ads: not stop-listed, and not (yet) common.
    fn identifying(&self, contact: &str) -> Result<bool> {
        Ok(why_ignored(self.db, &self.rule, contact, self.total)?.is_none())
    }

    /// Earlier ads sharing one of its LSH `bands` with `ad` whose wording is similar enough,
    /// with the similarity.
    fn similar_ads(&mut self, ad: &AdKeys, bands: &[i64]) -> Result<Vec<(i64, f32)>> {
        let mut candidates = BTreeSet::new();
        for &band in bands {
            candidates.extend(self.bucket(band, ad.id)?);
        }
        let mut similar = Vec::new();
        for other in candidates {
            let s = ad.similarity(self.signatures_of(other)?);
            if s >= MIN_SIMILARITY {
                similar.push((other, s));
            }
        }
        Ok(similar)
    }

    /// The most recent ads of an LSH bucket, all older than `before` (the ad being linked: no
    /// newer ad is stored while the batch holds the writers' lock).
    fn bucket(&mut self, band: i64, before: i64) -> Result<Vec<i64>> {
        if let Some(recent) = self.buckets.get(&band) {
            return Ok(recent.clone());
        }
        let recent = self.db.query_map(
            "SELECT ad_id FROM ad_bands WHERE band_key = ?1 AND ad_id < ?2 ORDER BY ad_id DESC LIMIT ?3",
            params![band, before, BUCKET_CANDIDATES],
            |r| r.get::<i64>(0),
        )?;
        self.buckets.insert(band, recent.clone());
        Ok(recent)
    }

    /// The signatures of a stored ad.
    fn signatures_of(&mut self, id: i64) -> Result<&[Signature]> {
        if !self.signatures.contains_key(&id) {
            let stored = self.db.query_map(
                "SELECT signature FROM ad_signatures WHERE ad_id = ?1",
                params![id],
                |r| Ok(from_blob(&r.get::<Vec<u8>>(0)?)),
            )?;
            self.signatures.insert(id, stored);
        }
        Ok(&self.signatures[&id])
    }

    /// Renames every group in `ids` to the smallest of them; returns that id.
    fn merge(&mut self, kind: Kind, ids: &BTreeSet<i64>) -> Result<i64> {
        let keep = *ids.first().expect("the new ad's own id is always there");
        let rename = match kind {
            Kind::Network => "UPDATE ad_groups SET network = ?1 WHERE network = ?2",
            Kind::Cluster => "UPDATE ad_groups SET cluster = ?1 WHERE cluster = ?2",
        };
        for &old in ids.iter().skip(1) {
            self.db.execute(rename, params![keep, old])?;
            if kind == Kind::Network {
                self.db
                    .execute("DELETE FROM networks WHERE id = ?1", params![old])?;
                self.touched.remove(&old);
            }
        }
        Ok(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch::ScratchDatabase;
    use crate::db::Location;
    use crate::ingest::{normalize, Entities};
    use crate::link::rebuild::rebuild;
    use crate::link::settings::{add_stops, StopEntry};
    use crate::queue::SqlStore;

    const SWITCHBOARD: &str = "+526566291000";

    /// (phone, text): a lone ad; two ads printing the newspaper's switchboard; a re-post of
    /// the first of them.
    const ADS: [(&str, &str); 4] = [
        ("+79161234567", "Требуются няни в семьи в США, пишите"),
        (
            SWITCHBOARD,
            "Se renta departamento amueblado cerca del parque",
        ),
        (
            SWITCHBOARD,
            "Clínica dental solicita asistente con certificado",
        ),
        (
            "+5215512345678",
            "Se renta departamento amueblado cerca del parque central",
        ),
    ];

    /// Runs `check` on a SQLite file and, when the tests have a server, on PostgreSQL.
    fn on_both_engines(test: &str, check: impl Fn(&Location)) {
        let dir = tempfile::tempdir().unwrap();
        check(&Location::Sqlite(dir.path().join("s.db")));
        if let Some(pg) = ScratchDatabase::from_env(test) {
            check(&Location::Postgres(pg.url().into()));
        }
    }

    /// Stores `ADS` as bare rows and links them one by one, as a submission does; returns
    /// their keys.
    fn store_and_link(db: &dyn Db) -> Vec<AdKeys> {
        let tx = db.transaction().unwrap();
        tx.serialize_writers().unwrap();
        let mut linker = Linker::new(&*tx).unwrap();
        let mut keys = Vec::new();
        for (n, (phone, text)) in ADS.into_iter().enumerate() {
            let entities = Entities {
                phones: vec![phone.to_string()],
                ..Entities::default()
            };
            let scored = serde_json::json!({ "entities": entities }).to_string();
            let id: i64 = tx
                .value(
                    "INSERT INTO ads (content_key, ext_id, text, metadata, score, flagged, scored, model_version, submitted_at, source)
                     VALUES (?1, ?1, ?2, '{}', 0.5, 0, ?3, 'test', '2026-01-01T00:00:00Z', 'test') RETURNING id",
                    params![format!("ad-{n}"), text, scored],
                )
                .unwrap();
            let ad = AdKeys::new(id, &entities, &normalize(text).text, None);
            let facets = AdFacets {
                score: 0.5,
                office: None,
                lang: None,
                publication: None,
            };
            linker.add(&ad, &facets).unwrap();
            keys.push(ad);
        }
        linker.finish().unwrap();
        tx.commit().unwrap();
        keys
    }

    /// Every ad's (id, network, cluster).
    fn groups(db: &dyn Db) -> Vec<(i64, i64, i64)> {
        db.query_map(
            "SELECT ad_id, network, cluster FROM ad_groups ORDER BY ad_id",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    #[test]
    fn links_as_a_rebuild_does_and_keeps_band_keys_exact() {
        on_both_engines(
            "links_as_a_rebuild_does_and_keeps_band_keys_exact",
            |location| {
                let store = SqlStore::open(location).unwrap();
                let db = store.db();
                let stop = StopEntry {
                    contact: format!("phone:{SWITCHBOARD}"),
                    reason: "switchboard".into(),
                    added_by: "test".into(),
                    added_at: "2026-01-01T00:00:00Z".into(),
                };
                add_stops(db, &[stop]).unwrap();
                let keys = store_and_link(db);

                // The re-post joins the ad it repeats; the stop-listed switchboard links nothing.
                let (a, b, c, d) = (keys[0].id, keys[1].id, keys[2].id, keys[3].id);
                let linked = groups(db);
                assert_eq!(linked, [(a, a, a), (b, b, b), (c, c, c), (d, b, b)]);
                for ad in &keys {
                    let stored: Vec<i64> = db
                        .query_map(
                            "SELECT band_key FROM ad_bands WHERE ad_id = ?1 ORDER BY band_key",
                            params![ad.id],
                            |r| r.get(0),
                        )
                        .unwrap();
                    assert_eq!(stored, ad.bands(), "band keys of ad {}", ad.id);
                }
                let networks: Vec<(i64, usize)> = db
                    .query_map("SELECT id, size FROM networks ORDER BY id", &[], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .unwrap();
                assert_eq!(networks, [(a, 1), (b, 2), (c, 1)]);

                rebuild(db).unwrap();
                assert_eq!(groups(db), linked);
            },
        );
    }
}
