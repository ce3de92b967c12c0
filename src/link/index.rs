//! Incremental linking inside the submit transaction: each new ad is indexed (contacts, signatures,
//! LSH bands), looked up against the ads already stored, and joined to their networks and
//! clusters. Only the index rows that match the new ad, and the group rows of the groups it
//! merges, are read or written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result};

use super::settings::{common_rule, linked_total, set_linked_total, why_ignored};
use super::stats::{insert_group_row, network_members, save_networks, AdFacets, Kind, Members};
use super::templates::{from_blob, to_blob, Signature, MIN_SIMILARITY};
use super::{buckets, AdKeys, CommonRule, BUCKET_CANDIDATES};
use crate::db::{Db, Row, Value};
use crate::params;

/// Links the ads of one submitted batch; call [`Linker::add`] for each newly stored ad, in id
/// order, then [`Linker::finish`].
///
/// Every statement's text is constant (ids are bound, never formatted in), so that the
/// connection prepares each once and reuses it for every ad. What the batch has already read or
/// written of the LSH buckets, signatures and network sums is kept in memory: a batch of
/// re-posts asks the store for each once, not once per ad, and writes each once at the end.
pub struct Linker<'c> {
    db: &'c dyn Db,
    rule: CommonRule,
    /// Ads in the store, counting the ones added so far.
    total: usize,
    /// The members of each network this batch touched, kept up to date as ads join and
    /// networks merge; written to `networks` by [`Linker::finish`].
    networks: HashMap<i64, Members>,
    /// The LSH buckets met in this batch.
    buckets: HashMap<i64, Bucket>,
    /// Signatures of the ads of this batch and of the candidates read so far.
    signatures: HashMap<i64, Vec<Signature>>,
    /// The ads whose signatures [`Linker::finish`] stores.
    new_signatures: Vec<i64>,
    /// The template links found, (newer ad, older ad, similarity), which [`Linker::finish`]
    /// stores.
    template_links: Vec<(i64, i64, f32)>,
}

/// One LSH bucket as a batch sees it.
///
/// The store keeps, per bucket, only the [`BUCKET_CANDIDATES`] most recent ads: the only ones
/// a new ad is compared with (`lsh_buckets`, see [`super::buckets`]). So the index stays as
/// small as the number of buckets allows instead of growing by ~20 rows per ad — a batch of
/// re-posts dirtied every page of it.
#[derive(Default)]
struct Bucket {
    /// Its ads in the store when the batch began, newest first.
    stored: Vec<i64>,
    /// Its ads now, newest first.
    recent: Vec<i64>,
}

/// Keys (or rows) per statement when many rows are read or written at once.
const KEYS_PER_STATEMENT: usize = 256;

/// The distinct `keys` that `read` does not hold yet, in order, each now entered in `read` with
/// an empty value for the rows about to be read.
fn unread<V: Default>(mut keys: Vec<i64>, read: &mut HashMap<i64, V>) -> Vec<i64> {
    keys.sort_unstable();
    keys.dedup();
    keys.retain(|key| !read.contains_key(key));
    for &key in &keys {
        read.insert(key, V::default());
    }
    keys
}

/// Runs `select`, which ends with the column `keys` are matched against, as `… IN (?1, …)` for
/// every [`KEYS_PER_STATEMENT`] keys, handing each row to `f`.
fn each_in(
    db: &dyn Db,
    select: &str,
    keys: &[i64],
    f: &mut dyn FnMut(Row) -> Result<()>,
) -> Result<()> {
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("{select} IN ({})", marks.join(", "));
        let values: Vec<Value> = chunk.iter().map(|&k| Value::Int(k)).collect();
        db.each(&sql, &values, f)?;
    }
    Ok(())
}

impl<'c> Linker<'c> {
    /// Starts linking a batch on `db` (the submit transaction).
    pub fn new(db: &'c dyn Db) -> Result<Self> {
        Ok(Linker {
            db,
            rule: common_rule(db)?,
            total: linked_total(db)?,
            networks: HashMap::new(),
            buckets: HashMap::new(),
            signatures: HashMap::new(),
            new_signatures: Vec::new(),
            template_links: Vec::new(),
        })
    }

    /// Reads what the store holds of the LSH buckets of a batch's ads, and the signatures of the
    /// ads in them, before the ads are linked one by one.
    ///
    /// Many keys per statement, in key order: one lookup per bucket cost a statement's overhead
    /// and a descent from the root each, ~2.4 µs per bucket in a fresh store; on a large one,
    /// sorted keys also read each index page once. Optional: [`Linker::add`] reads what is
    /// missing.
    pub fn prefetch<'k>(&mut self, batch: impl IntoIterator<Item = &'k AdKeys>) -> Result<()> {
        let bands = unread(
            batch.into_iter().flat_map(AdKeys::bands).collect(),
            &mut self.buckets,
        );
        let select = "SELECT band_key, ads FROM lsh_buckets WHERE band_key";
        each_in(self.db, select, &bands, &mut |r| {
            let stored = buckets::from_text(&r.get::<String>(1)?)?;
            let bucket = self.buckets.get_mut(&r.get(0)?).expect("asked for");
            bucket.recent.clone_from(&stored);
            bucket.stored = stored;
            Ok(())
        })?;
        let candidates = unread(
            bands
                .iter()
                .flat_map(|band| &self.buckets[band].stored)
                .copied()
                .collect(),
            &mut self.signatures,
        );
        let select = "SELECT ad_id, signature FROM ad_signatures WHERE ad_id";
        each_in(self.db, select, &candidates, &mut |r| {
            let signature = from_blob(&r.get::<Vec<u8>>(1)?);
            let id: i64 = r.get(0)?;
            self.signatures
                .get_mut(&id)
                .expect("asked for")
                .push(signature);
            Ok(())
        })
    }

    /// Indexes one newly stored ad and links it to the stored ads it matches.
    pub fn add(&mut self, ad: &AdKeys, facets: &AdFacets) -> Result<()> {
        self.total += 1;
        let bands = ad.bands();
        let mut networks = BTreeSet::from([ad.id]);
        let mut clusters = BTreeSet::from([ad.id]);
        for contact in &ad.contacts {
            self.link_contact(contact, ad.id, &mut networks)?;
        }
        for (other, similarity) in self.similar_ads(ad, &bands)? {
            self.template_links.push((ad.id, other, similarity));
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
            let recent = &mut self.buckets.entry(band).or_default().recent;
            recent.insert(0, ad.id);
            recent.truncate(BUCKET_CANDIDATES);
        }
        let network = self.merge(Kind::Network, &networks, ad.id)?;
        let cluster = self.merge(Kind::Cluster, &clusters, ad.id)?;
        insert_group_row(self.db, ad.id, network, cluster, facets)?;
        self.members(network, ad.id)?.add(facets);
        Ok(())
    }

    /// Writes what the batch changed of the LSH buckets, its template links, the signatures of
    /// its ads and the networks it touched.
    pub fn finish(mut self) -> Result<()> {
        // In key order: written in the order they came, each bucket landed on a random page of
        // the index, three times slower than a sorted run.
        let mut changed: Vec<(i64, &[i64])> = self
            .buckets
            .iter()
            .filter(|(_, bucket)| bucket.recent != bucket.stored)
            .map(|(&band, bucket)| (band, bucket.recent.as_slice()))
            .collect();
        changed.sort_unstable_by_key(|&(band, _)| band);
        self.save_buckets(&changed)?;
        // By the older ad, the key of the index that lands them all over the store; their own
        // key, the new ad's id, is past every stored one.
        self.template_links
            .sort_unstable_by_key(|&(ad, other, _)| (other, ad));
        let links: Vec<Row> = self
            .template_links
            .iter()
            .map(|&(ad, other, similarity)| Row(vec![ad.into(), other.into(), similarity.into()]))
            .collect();
        self.db
            .insert_rows("template_links", &["ad_id", "other", "similarity"], &links)?;
        let signatures: Vec<Row> = self
            .new_signatures
            .iter()
            .flat_map(|id| {
                self.signatures[id]
                    .iter()
                    .map(|sig| Row(vec![Value::Int(*id), Value::Blob(to_blob(sig))]))
            })
            .collect();
        self.db
            .insert_rows("ad_signatures", &["ad_id", "signature"], &signatures)?;
        let networks: BTreeMap<i64, &Members> =
            self.networks.iter().map(|(&id, m)| (id, m)).collect();
        save_networks(self.db, networks)?;
        set_linked_total(self.db, self.total)
    }

    /// Writes each changed bucket whole, many per statement: an upsert, the same on both
    /// engines.
    fn save_buckets(&self, buckets: &[(i64, &[i64])]) -> Result<()> {
        for chunk in buckets.chunks(KEYS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(?{}, ?{})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO lsh_buckets (band_key, ads) VALUES {}
                 ON CONFLICT (band_key) DO UPDATE SET ads = excluded.ads",
                rows.join(", ")
            );
            let args: Vec<Value> = chunk
                .iter()
                .flat_map(|&(band, ids)| [Value::Int(band), Value::Text(buckets::to_text(ids))])
                .collect();
            self.db.execute(&sql, &args)?;
        }
        Ok(())
    }

    /// Indexes a contact of ad `id`; if it identifies its carriers (not stop-listed, not
    /// common), adds the networks of the earlier ones to `networks`.
    ///
    /// `contacts` counts each contact's carriers and notes when they are all known to be in one
    /// network — the case after any ad linked through it — so that the network is read off the
    /// latest carrier instead of from every one of them, possibly thousands.
    fn link_contact(&mut self, contact: &str, id: i64, networks: &mut BTreeSet<i64>) -> Result<()> {
        let indexed = self.db.execute(
            "INSERT INTO ad_contacts (contact, ad_id) VALUES (?1, ?2)
             ON CONFLICT (contact, ad_id) DO NOTHING",
            params![contact, id],
        )?;
        if indexed == 0 {
            return Ok(());
        }
        let known = self.db.query_opt(
            "SELECT ads, latest, joined FROM contacts WHERE contact = ?1",
            params![contact],
        )?;
        let (carriers, latest, joined) = match known {
            Some(r) => (
                r.get::<usize>(0)? + 1,
                Some(r.get::<i64>(1)?),
                r.get::<bool>(2)?,
            ),
            None => (1, None, true),
        };
        let identifying =
            why_ignored(self.db, &self.rule, contact, carriers, self.total)?.is_none();
        match latest {
            Some(latest) if identifying && joined => {
                networks.insert(self.db.value(
                    "SELECT network FROM ad_groups WHERE ad_id = ?1",
                    params![latest],
                )?);
            }
            Some(_) if identifying => self.db.each(
                "SELECT DISTINCT g.network FROM ad_contacts c JOIN ad_groups g ON g.ad_id = c.ad_id
                 WHERE c.contact = ?1 AND c.ad_id <> ?2",
                params![contact, id],
                &mut |r| {
                    networks.insert(r.get(0)?);
                    Ok(())
                },
            )?,
            _ => {}
        }
        // This ad joins all the earlier carriers' networks when the contact identifies them.
        self.db.execute(
            "INSERT INTO contacts (contact, ads, latest, joined) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (contact) DO UPDATE SET ads = excluded.ads, latest = excluded.latest,
                 joined = excluded.joined",
            params![contact, carriers, id, identifying || latest.is_none()],
        )?;
        Ok(())
    }

    /// Earlier ads sharing one of its LSH `bands` with `ad` whose wording is similar enough,
    /// with the similarity.
    fn similar_ads(&mut self, ad: &AdKeys, bands: &[i64]) -> Result<Vec<(i64, f32)>> {
        let mut candidates = BTreeSet::new();
        for &band in bands {
            candidates.extend(self.bucket(band)?);
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

    /// The most recent ads of an LSH bucket. All are older than the ad being linked: no newer
    /// ad is stored while the batch holds the writers' lock.
    fn bucket(&mut self, band: i64) -> Result<Vec<i64>> {
        if let Some(bucket) = self.buckets.get(&band) {
            return Ok(bucket.recent.clone());
        }
        let stored = match self.db.query_opt(
            "SELECT ads FROM lsh_buckets WHERE band_key = ?1",
            params![band],
        )? {
            Some(r) => buckets::from_text(&r.get::<String>(0)?)?,
            None => Vec::new(),
        };
        let recent = stored.clone();
        self.buckets.insert(
            band,
            Bucket {
                stored,
                recent: recent.clone(),
            },
        );
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

    /// The members of network `id` as the batch has changed them, read from the store on first
    /// use. The ad being linked (`new`) has no network yet to read.
    fn members(&mut self, id: i64, new: i64) -> Result<&mut Members> {
        if !self.networks.contains_key(&id) {
            let members = if id == new {
                Members::default()
            } else {
                network_members(self.db, id)?
            };
            self.networks.insert(id, members);
        }
        Ok(self.networks.get_mut(&id).expect("inserted above"))
    }

    /// Renames every group in `ids` to the smallest of them and returns that id; `new` is the
    /// ad being linked, whose own group has no rows yet.
    ///
    /// Network sums are read before any row moves: a network whose row predates the sums is
    /// summed from its member rows.
    fn merge(&mut self, kind: Kind, ids: &BTreeSet<i64>, new: i64) -> Result<i64> {
        let keep = *ids.first().expect("the new ad's own id is always there");
        let rename = match kind {
            Kind::Network => "UPDATE ad_groups SET network = ?1 WHERE network = ?2",
            Kind::Cluster => "UPDATE ad_groups SET cluster = ?1 WHERE cluster = ?2",
        };
        if kind == Kind::Network {
            self.members(keep, new)?;
        }
        for &old in ids.iter().skip(1).filter(|&&id| id != new) {
            if kind == Kind::Network {
                let gone = match self.networks.remove(&old) {
                    Some(members) => members,
                    None => network_members(self.db, old)?,
                };
                self.members(keep, new)?.absorb(gone);
                self.db
                    .execute("DELETE FROM networks WHERE id = ?1", params![old])?;
            }
            self.db.execute(rename, params![keep, old])?;
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

    /// Stores `ADS` (again, as new ads, if they already are) as bare rows and links them one by
    /// one, as a submission does; returns their keys.
    fn store_and_link(db: &dyn Db) -> Vec<AdKeys> {
        let tx = db.transaction().unwrap();
        tx.serialize_writers().unwrap();
        let mut linker = Linker::new(&*tx).unwrap();
        let stored: usize = tx.value("SELECT count(*) FROM ads", &[]).unwrap();
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
                    params![format!("ad-{}", stored + n), text, scored],
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

    /// Every network's row, as text.
    fn network_rows(db: &dyn Db) -> Vec<String> {
        db.query_map(
            "SELECT id, size, network_score, members FROM networks ORDER BY id",
            &[],
            |r| Ok(format!("{:?}", r.0)),
        )
        .unwrap()
    }

    #[test]
    fn networks_without_sums_or_joined_contacts_are_read_from_their_members() {
        on_both_engines("networks_without_sums_or_joined_contacts", |location| {
            let store = SqlStore::open(location).unwrap();
            let db = store.db();
            store_and_link(db);
            // As the version-7 migration leaves a store: no sums, no contact known joined.
            db.execute("UPDATE networks SET members = NULL", &[])
                .unwrap();
            db.execute("UPDATE contacts SET joined = 0", &[]).unwrap();
            // The same ads again, as new ones: each joins a network summed from its rows.
            let keys = store_and_link(db);
            assert_eq!(groups(db).len(), 2 * keys.len());
            let incremental = network_rows(db);
            rebuild(db).unwrap();
            assert_eq!(network_rows(db), incremental);
        });
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
                let mut indexed: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
                let sql = "SELECT band_key, ads FROM lsh_buckets ORDER BY band_key";
                db.each(sql, &[], &mut |r| {
                    for id in buckets::from_text(&r.get::<String>(1)?)? {
                        indexed.entry(id).or_default().push(r.get(0)?);
                    }
                    Ok(())
                })
                .unwrap();
                for ad in &keys {
                    assert_eq!(indexed[&ad.id], ad.bands(), "band keys of ad {}", ad.id);
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
