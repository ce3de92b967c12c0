//! Linking everything at once: [`link_all`] in memory (what `adscreen network rebuild` and the
//! benchmark run), and [`rebuild`], which recomputes a store's index and groups from its ads.
//!
//! It finds the same links as submitting the ads one by one ([`super::index::Linker`]) with one
//! difference: a contact's commonness is judged on the whole store, not on the ads stored when
//! each ad arrived — which is why a rebuild is needed after a contact becomes common.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::graph::Components;
use super::settings::{common_rule, set_linked_total, stop_list};
use super::stats::{insert_group_row, refresh_networks, AdFacets};
use super::templates::{to_blob, MIN_SIMILARITY};
use super::{buckets, AdKeys, CommonRule, BUCKET_CANDIDATES};
use crate::db::{Db, Row, Value};
use crate::ingest::{normalize, Entities};
use crate::params;

/// The groups and template links of a set of ads, by index into the ads given.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    /// Per ad, the index of the oldest ad of its network.
    pub network: Vec<u32>,
    /// Per ad, the index of the oldest ad of its template cluster.
    pub cluster: Vec<u32>,
    /// (newer ad, older ad, similarity) for every verified template link.
    pub template_links: Vec<(u32, u32, f32)>,
}

/// Links `ads`, which must be in ascending id order: contacts shared by ads unless stop-listed
/// or common (judged on all of `ads`), and template links between each ad and the most recent
/// [`BUCKET_CANDIDATES`] earlier ads of each of its LSH buckets whose wording is similar enough.
pub fn link_all(ads: &[AdKeys], stop: &HashSet<String>, rule: &CommonRule) -> Linked {
    debug_assert!(ads.windows(2).all(|w| w[0].id < w[1].id));
    let mut networks = Components::new(ads.len());
    let mut clusters = Components::new(ads.len());

    // Contacts: every carrier of an identifying contact joins its first carrier.
    let mut carriers: HashMap<&str, (usize, u32)> = HashMap::new();
    for (i, ad) in ads.iter().enumerate() {
        for c in &ad.contacts {
            carriers.entry(c).or_insert((0, i as u32)).0 += 1;
        }
    }
    for (i, ad) in ads.iter().enumerate() {
        for c in &ad.contacts {
            let (n, first) = carriers[c.as_str()];
            if !stop.contains(c) && !rule.is_common(n, ads.len()) {
                networks.union(i as u32, first);
            }
        }
    }

    // Templates: sort every (band key, ad) so each bucket is a run in id order; an ad's
    // candidates are the entries just before its own in each of its runs.
    let mut bands: Vec<(i64, u32)> = ads
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, ad)| ad.bands().into_iter().map(move |b| (b, i as u32)))
        .collect();
    bands.par_sort_unstable();
    let mut run_start = vec![0u32; bands.len()];
    for k in 1..bands.len() {
        run_start[k] = if bands[k].0 == bands[k - 1].0 {
            run_start[k - 1]
        } else {
            k as u32
        };
    }
    let mut positions: Vec<(u32, u32)> = (0..bands.len() as u32)
        .map(|k| (bands[k as usize].1, k))
        .collect();
    positions.par_sort_unstable();
    let by_ad: Vec<&[(u32, u32)]> = positions.chunk_by(|a, b| a.0 == b.0).collect();
    let template_links: Vec<(u32, u32, f32)> = by_ad
        .par_iter()
        .flat_map_iter(|entries| {
            let i = entries[0].0;
            let mut candidates: Vec<u32> = entries
                .iter()
                .flat_map(|&(_, k)| {
                    let from = (k - run_start[k as usize]).min(BUCKET_CANDIDATES as u32);
                    (k - from..k).map(|p| bands[p as usize].1)
                })
                .collect();
            candidates.sort_unstable();
            candidates.dedup();
            candidates.into_iter().filter_map(move |j| {
                let s = ads[i as usize].similarity(&ads[j as usize].signatures);
                (s >= MIN_SIMILARITY).then_some((i, j, s))
            })
        })
        .collect();
    for &(i, j, _) in &template_links {
        networks.union(i, j);
        clusters.union(i, j);
    }
    Linked {
        network: (0..ads.len() as u32).map(|i| networks.find(i)).collect(),
        cluster: (0..ads.len() as u32).map(|i| clusters.find(i)).collect(),
        template_links,
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RebuildSummary {
    /// Ads linked.
    pub ads: usize,
    /// Networks of two or more ads.
    pub networks: usize,
    /// Template clusters of two or more ads.
    pub clusters: usize,
    /// Verified template links.
    pub template_links: usize,
    /// The thresholds used.
    pub rule: CommonRule,
}

/// An ad as a rebuild reads it from the store.
struct StoredAd {
    id: i64,
    scored: String,
    text: String,
    translation: Option<String>,
    score: f32,
    office: Option<String>,
    lang: Option<String>,
    publication: Option<String>,
}

/// The part of a stored `score` output linking needs.
#[derive(Deserialize)]
struct StoredEntities {
    entities: Entities,
}

/// Recomputes the link index and every network and cluster of the store from its ads, in one
/// transaction, with the stored stop-list and thresholds.
pub fn rebuild(db: &dyn Db) -> Result<RebuildSummary> {
    // Serialized with submissions: a batch linked meanwhile would be lost when the index is
    // replaced.
    let tx = db.transaction()?;
    tx.serialize_writers()?;
    let rule = common_rule(&*tx)?;
    let stop: HashSet<String> = stop_list(&*tx)?.into_iter().map(|e| e.contact).collect();
    let rows: Vec<StoredAd> = tx.query_map(
        "SELECT id, scored, text, translation, score, office, lang, publication FROM ads ORDER BY id",
        &[],
        |r| {
            Ok(StoredAd {
                id: r.get(0)?,
                scored: r.get(1)?,
                text: r.get(2)?,
                translation: r.get(3)?,
                score: r.get(4)?,
                office: r.get(5)?,
                lang: r.get(6)?,
                publication: r.get(7)?,
            })
        },
    )?;
    let ads: Vec<AdKeys> = rows
        .par_iter()
        .map(
            |StoredAd {
                 id,
                 scored,
                 text,
                 translation,
                 ..
             }| {
                let scored: StoredEntities = serde_json::from_str(scored)?;
                let translation = translation.as_deref().map(|t| normalize(t).text);
                Ok(AdKeys::new(
                    *id,
                    &scored.entities,
                    &normalize(text).text,
                    translation.as_deref(),
                ))
            },
        )
        .collect::<Result<_>>()?;
    let linked = link_all(&ads, &stop, &rule);
    for delete in [
        "DELETE FROM ad_contacts",
        "DELETE FROM contacts",
        "DELETE FROM ad_signatures",
        "DELETE FROM lsh_buckets",
        "DELETE FROM template_links",
        "DELETE FROM ad_groups",
    ] {
        tx.execute(delete, &[])?;
    }
    for (i, (ad, row)) in ads.iter().zip(&rows).enumerate() {
        for c in &ad.contacts {
            tx.execute(
                "INSERT INTO ad_contacts (contact, ad_id) VALUES (?1, ?2)",
                params![c, ad.id],
            )?;
        }
        for s in &ad.signatures {
            tx.execute(
                "INSERT INTO ad_signatures (ad_id, signature) VALUES (?1, ?2)",
                params![ad.id, to_blob(s)],
            )?;
        }
        let network = ads[linked.network[i] as usize].id;
        let cluster = ads[linked.cluster[i] as usize].id;
        let facets = AdFacets {
            score: row.score,
            office: row.office.as_deref(),
            lang: row.lang.as_deref(),
            publication: row.publication.as_deref(),
        };
        insert_group_row(&*tx, ad.id, network, cluster, &facets)?;
    }
    for &(i, j, s) in &linked.template_links {
        tx.execute(
            "INSERT INTO template_links (ad_id, other, similarity) VALUES (?1, ?2, ?3)",
            params![ads[i as usize].id, ads[j as usize].id, s],
        )?;
    }
    tx.insert_rows("lsh_buckets", &["band_key", "ads"], &bucket_rows(&ads))?;
    let columns = ["contact", "ads", "latest", "joined"];
    tx.insert_rows("contacts", &columns, &contact_rows(&ads, &linked.network))?;
    refresh_networks(&*tx)?;
    set_linked_total(&*tx, ads.len())?;
    tx.commit()?;
    Ok(RebuildSummary {
        ads: ads.len(),
        networks: groups_of_two_or_more(&linked.network),
        clusters: groups_of_two_or_more(&linked.cluster),
        template_links: linked.template_links.len(),
        rule,
    })
}

/// How many distinct roots appear at least twice.
/// The `contacts` rows of `ads` linked into `networks` (by position): each contact's carriers,
/// the latest of them, and whether they all share a network.
fn contact_rows(ads: &[AdKeys], networks: &[u32]) -> Vec<Row> {
    let mut carried: BTreeMap<&str, (usize, i64, u32, bool)> = BTreeMap::new();
    for (ad, &network) in ads.iter().zip(networks) {
        for contact in &ad.contacts {
            let (ads, latest, first_network, joined) =
                carried.entry(contact).or_insert((0, ad.id, network, true));
            *ads += 1;
            *latest = (*latest).max(ad.id);
            *joined &= *first_network == network;
        }
    }
    carried
        .into_iter()
        .map(|(contact, (ads, latest, _, joined))| {
            Row(vec![
                contact.into(),
                Value::Int(ads as i64),
                Value::Int(latest),
                joined.into(),
            ])
        })
        .collect()
}

/// The `lsh_buckets` rows of `ads`: each bucket with its [`BUCKET_CANDIDATES`] most recent
/// ads, newest first, in key order.
fn bucket_rows(ads: &[AdKeys]) -> Vec<Row> {
    let mut pairs: Vec<(i64, i64)> = ads
        .iter()
        .flat_map(|ad| ad.bands().into_iter().map(move |band| (band, ad.id)))
        .collect();
    pairs.par_sort_unstable_by_key(|&(band, id)| (band, std::cmp::Reverse(id)));
    pairs
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| {
            let newest: Vec<i64> = run.iter().take(BUCKET_CANDIDATES).map(|p| p.1).collect();
            Row(vec![Value::Int(run[0].0), buckets::to_text(&newest).into()])
        })
        .collect()
}

fn groups_of_two_or_more(roots: &[u32]) -> usize {
    let mut sizes: HashMap<u32, usize> = HashMap::new();
    for &r in roots {
        *sizes.entry(r).or_default() += 1;
    }
    sizes.values().filter(|&&n| n > 1).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::entities::Handle;

    fn ad(id: i64, phone: &str, handle: Option<&str>, text: &str) -> AdKeys {
        let entities = Entities {
            phones: vec![phone.to_string()],
            handles: handle
                .map(|h| Handle {
                    app: "telegram".into(),
                    id: h.into(),
                })
                .into_iter()
                .collect(),
            ..Entities::default()
        };
        AdKeys::new(id, &entities, &normalize(text).text, None)
    }

    #[test]
    fn links_by_identifying_contacts_and_templates_only() {
        let switchboard = "+526566291000";
        let ads = [
            ad(
                1,
                switchboard,
                Some("ivan_work"),
                "Требуются няни в семьи в США, пишите",
            ),
            ad(
                2,
                "+79161234567",
                Some("ivan_work"),
                "Сезонная работа на фермах Флориды",
            ),
            ad(
                3,
                switchboard,
                None,
                "Se renta departamento amueblado cerca del parque",
            ),
            ad(
                4,
                switchboard,
                None,
                "Clínica dental solicita asistente con certificado",
            ),
            ad(
                5,
                "+5215512345678",
                None,
                "Se renta departamento amueblado cerca del parque central",
            ),
        ];
        let rule = CommonRule {
            share: 0.5,
            min_ads: 3,
        };
        let linked = link_all(&ads, &HashSet::new(), &rule);
        // The switchboard is on 3 of 5 ads: common. Ads 1–2 share a handle; 3 and 5 a template.
        assert_eq!(linked.network, [0, 0, 2, 3, 2]);
        assert_eq!(linked.cluster, [0, 1, 2, 3, 2]);
        assert_eq!(linked.template_links.len(), 1);

        let lenient = CommonRule {
            share: 0.9,
            min_ads: 3,
        };
        assert_eq!(
            link_all(&ads, &HashSet::new(), &lenient).network,
            [0, 0, 0, 0, 0]
        );
        let stop = HashSet::from([format!("phone:{switchboard}")]);
        assert_eq!(link_all(&ads, &stop, &lenient).network, [0, 0, 2, 3, 2]);
    }
}
