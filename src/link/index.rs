//! Incremental linking inside the submit transaction: each new ad is indexed (contacts, signatures,
//! LSH bands), looked up against the ads already stored, and joined to their networks and
//! clusters. Only the index rows that match the new ad, and the group rows of the groups it
//! merges, are read or written.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

use super::settings::{common_rule, why_ignored};
use super::stats::{insert_group_row, refresh_networks, AdFacets, Kind};
use super::templates::{from_blob, to_blob, Signature, MIN_SIMILARITY};
use super::{AdKeys, CommonRule, BUCKET_CANDIDATES};
use crate::db::Db;
use crate::params;

/// Links the ads of one submitted batch; call [`Linker::add`] for each newly stored ad, in id
/// order, then [`Linker::finish`].
///
/// Every statement's text is constant (ids are bound, never formatted in), so that the
/// connection prepares each once and reuses it for every ad.
pub struct Linker<'c> {
    db: &'c dyn Db,
    rule: CommonRule,
    /// Ads in the store, counting the ones added so far.
    total: usize,
    /// Networks whose `networks` row is out of date.
    touched: BTreeSet<i64>,
}

impl<'c> Linker<'c> {
    /// Starts linking a batch on `db` (the submit transaction).
    pub fn new(db: &'c dyn Db) -> Result<Self> {
        Ok(Linker {
            db,
            rule: common_rule(db)?,
            total: db.value("SELECT count(*) FROM ad_groups", &[])?,
            touched: BTreeSet::new(),
        })
    }

    /// Indexes one newly stored ad and links it to the stored ads it matches.
    pub fn add(&mut self, ad: &AdKeys, facets: &AdFacets) -> Result<()> {
        self.total += 1;
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
        for (other, similarity) in self.similar_ads(ad)? {
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
        for sig in &ad.signatures {
            self.db.execute(
                "INSERT INTO ad_signatures (ad_id, signature) VALUES (?1, ?2)",
                params![ad.id, to_blob(sig)],
            )?;
        }
        for band in ad.bands() {
            self.db.execute(
                "INSERT INTO ad_bands (band_key, ad_id) VALUES (?1, ?2)",
                params![band, ad.id],
            )?;
        }
        let network = self.merge(Kind::Network, &networks)?;
        let cluster = self.merge(Kind::Cluster, &clusters)?;
        insert_group_row(self.db, ad.id, network, cluster, facets)?;
        self.touched.insert(network);
        Ok(())
    }

    /// Brings the merged networks' scores up to date.
    pub fn finish(self) -> Result<()> {
        refresh_networks(self.db, Some(&self.touched.into_iter().collect::<Vec<_>>()))
    }

    /// Whether a contact links ads: not stop-listed, and not (yet) common.
    fn identifying(&self, contact: &str) -> Result<bool> {
        Ok(why_ignored(self.db, &self.rule, contact, self.total)?.is_none())
    }

    /// Earlier ads sharing an LSH band with `ad` whose wording is similar enough, with the
    /// similarity.
    fn similar_ads(&self, ad: &AdKeys) -> Result<Vec<(i64, f32)>> {
        let mut candidates = BTreeSet::new();
        for band in ad.bands() {
            self.db.each(
                "SELECT ad_id FROM ad_bands WHERE band_key = ?1 AND ad_id < ?2 ORDER BY ad_id DESC LIMIT ?3",
                params![band, ad.id, BUCKET_CANDIDATES],
                &mut |r| {
                    candidates.insert(r.get::<i64>(0)?);
                    Ok(())
                },
            )?;
        }
        let mut similar = Vec::new();
        for other in candidates {
            let theirs: Vec<Signature> = self.db.query_map(
                "SELECT signature FROM ad_signatures WHERE ad_id = ?1",
                params![other],
                |r| Ok(from_blob(&r.get::<Vec<u8>>(0)?)),
            )?;
            let s = ad.similarity(&theirs);
            if s >= MIN_SIMILARITY {
                similar.push((other, s));
            }
        }
        Ok(similar)
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
