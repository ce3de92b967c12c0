//! Incremental linking inside the submit transaction: each new ad is indexed (contacts, signatures,
//! LSH bands), looked up against the ads already stored, and joined to their networks and
//! clusters. Only the index rows that match the new ad, and the group rows of the groups it
//! merges, are read or written.

use std::collections::BTreeSet;

use anyhow::Result;
use rusqlite::{params, Connection};

use super::settings::{common_rule, why_ignored};
use super::stats::{insert_group_row, refresh_networks, AdFacets, Kind};
use super::templates::{from_blob, to_blob, Signature, MIN_SIMILARITY};
use super::{AdKeys, CommonRule, BUCKET_CANDIDATES};

/// Links the ads of one submitted batch; call [`Linker::add`] for each newly stored ad, in id
/// order, then [`Linker::finish`].
pub struct Linker<'c> {
    conn: &'c Connection,
    rule: CommonRule,
    /// Ads in the store, counting the ones added so far.
    total: usize,
    /// Networks whose `networks` row is out of date.
    touched: BTreeSet<i64>,
}

impl<'c> Linker<'c> {
    /// Starts linking a batch on `conn` (the submit transaction).
    pub fn new(conn: &'c Connection) -> Result<Self> {
        let total: i64 = conn.query_row("SELECT count(*) FROM ad_groups", [], |r| r.get(0))?;
        Ok(Linker {
            conn,
            rule: common_rule(conn)?,
            total: total as usize,
            touched: BTreeSet::new(),
        })
    }

    /// Indexes one newly stored ad and links it to the stored ads it matches.
    pub fn add(&mut self, ad: &AdKeys, facets: &AdFacets) -> Result<()> {
        self.total += 1;
        let mut networks = BTreeSet::from([ad.id]);
        let mut clusters = BTreeSet::from([ad.id]);
        for contact in &ad.contacts {
            self.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO ad_contacts (contact, ad_id) VALUES (?1, ?2)",
                )?
                .execute(params![contact, ad.id])?;
            if self.identifying(contact)? {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT DISTINCT g.network FROM ad_contacts c JOIN ad_groups g ON g.ad_id = c.ad_id
                     WHERE c.contact = ?1 AND c.ad_id <> ?2",
                )?;
                let found = stmt.query_map(params![contact, ad.id], |r| r.get::<_, i64>(0))?;
                for network in found {
                    networks.insert(network?);
                }
            }
        }
        for (other, similarity) in self.similar_ads(ad)? {
            self.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO template_links (ad_id, other, similarity) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![ad.id, other, similarity])?;
            let (network, cluster) = self.conn.query_row(
                "SELECT network, cluster FROM ad_groups WHERE ad_id = ?1",
                [other],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )?;
            networks.insert(network);
            clusters.insert(cluster);
        }
        for sig in &ad.signatures {
            self.conn
                .prepare_cached("INSERT INTO ad_signatures (ad_id, signature) VALUES (?1, ?2)")?
                .execute(params![ad.id, to_blob(sig)])?;
        }
        for band in ad.bands() {
            self.conn
                .prepare_cached("INSERT INTO ad_bands (band_key, ad_id) VALUES (?1, ?2)")?
                .execute(params![band, ad.id])?;
        }
        let network = self.merge(Kind::Network, &networks)?;
        let cluster = self.merge(Kind::Cluster, &clusters)?;
        insert_group_row(self.conn, ad.id, network, cluster, facets)?;
        self.touched.insert(network);
        Ok(())
    }

    /// Brings the merged networks' scores up to date.
    pub fn finish(self) -> Result<()> {
        refresh_networks(
            self.conn,
            Some(&self.touched.into_iter().collect::<Vec<_>>()),
        )
    }

    /// Whether a contact links ads: not stop-listed, and not (yet) common.
    fn identifying(&self, contact: &str) -> Result<bool> {
        Ok(why_ignored(self.conn, &self.rule, contact, self.total)?.is_none())
    }

    /// Earlier ads sharing an LSH band with `ad` whose wording is similar enough, with the
    /// similarity.
    fn similar_ads(&self, ad: &AdKeys) -> Result<Vec<(i64, f32)>> {
        let mut candidates = BTreeSet::new();
        let mut bucket = self.conn.prepare_cached(
            "SELECT ad_id FROM ad_bands WHERE band_key = ?1 AND ad_id < ?2 ORDER BY ad_id DESC LIMIT ?3",
        )?;
        for band in ad.bands() {
            let ids = bucket.query_map(params![band, ad.id, BUCKET_CANDIDATES as i64], |r| {
                r.get::<_, i64>(0)
            })?;
            for id in ids {
                candidates.insert(id?);
            }
        }
        let mut sigs = self
            .conn
            .prepare_cached("SELECT signature FROM ad_signatures WHERE ad_id = ?1")?;
        let mut similar = Vec::new();
        for other in candidates {
            let theirs: Vec<Signature> = sigs
                .query_map([other], |r| r.get::<_, Vec<u8>>(0))?
                .map(|b| b.map(|b| from_blob(&b)))
                .collect::<rusqlite::Result<_>>()?;
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
        let col = kind.column();
        for &old in ids.iter().skip(1) {
            self.conn
                .prepare_cached(&format!("UPDATE ad_groups SET {col} = ?1 WHERE {col} = ?2"))?
                .execute(params![keep, old])?;
            if kind == Kind::Network {
                self.conn
                    .execute("DELETE FROM networks WHERE id = ?1", [old])?;
                self.touched.remove(&old);
            }
        }
        Ok(keep)
    }
}
