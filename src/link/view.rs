//! What analysts see of networks and clusters: the groups riskiest first, one group in full, and
//! the ads linked to one ad with the reason for each link.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use super::score::{network_score, GroupStats};
use super::settings::{carriers, common_rule, linked_total, why_ignored};
use super::stats::{group_stats, Kind};
use crate::db::Db;
use crate::params;

/// One ad of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberAd {
    /// Store id.
    pub id: i64,
    /// The submitter's id.
    pub ext_id: String,
    /// Ad score.
    pub score: f32,
    /// Filed language.
    pub lang: Option<String>,
    /// Office that submitted it.
    pub office: Option<String>,
    /// Publication it appeared in.
    pub publication: Option<String>,
    /// When it was seen: its `published` date, else the day it was submitted.
    pub seen: String,
    /// Queue state (`None`: stored, not flagged).
    pub status: Option<String>,
}

/// A contact printed in a group's ads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactUse {
    /// Contact key.
    pub contact: String,
    /// Ads of the group carrying it.
    pub ads: Vec<i64>,
    /// Ads of the whole store carrying it.
    pub ads_in_store: usize,
    /// Why it links nothing (stop-listed or common), if so.
    pub ignored: Option<String>,
}

impl ContactUse {
    /// Whether it ties two or more of the group's ads together.
    pub fn ties(&self) -> bool {
        self.ignored.is_none() && self.ads.len() > 1
    }
}

/// A verified near-duplicate pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateLink {
    /// The newer ad.
    pub ad: i64,
    /// The older ad.
    pub other: i64,
    /// Estimated Jaccard similarity of their shingles.
    pub similarity: f32,
}

/// A network or template cluster in full.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    /// Network or cluster.
    pub kind: Kind,
    /// Its id: the id of its oldest ad.
    pub id: i64,
    /// Network score (see [`super::score`]).
    pub score: f32,
    /// Size, scores and spread.
    pub stats: GroupStats,
    /// Earliest `seen` of its ads.
    pub first_seen: String,
    /// Latest `seen` of its ads.
    pub last_seen: String,
    /// Distinct offices.
    pub offices: Vec<String>,
    /// Distinct languages.
    pub languages: Vec<String>,
    /// Distinct publications.
    pub publications: Vec<String>,
    /// Its ads, riskiest first.
    pub ads: Vec<MemberAd>,
    /// Contacts carried by two or more of its ads (what ties it), then ignored contacts.
    pub contacts: Vec<ContactUse>,
    /// For a network: the template clusters of two or more ads inside it, as (id, ads).
    pub clusters: Vec<(i64, usize)>,
    /// Template links between its ads.
    pub template_links: Vec<TemplateLink>,
}

/// Groups of two or more ads, highest network score first.
pub fn list(db: &dyn Db, kind: Kind, limit: usize) -> Result<Vec<GroupView>> {
    let ids: Vec<i64> = match kind {
        Kind::Network => db.query_map(
            "SELECT id FROM networks WHERE size > 1 ORDER BY network_score DESC, id LIMIT ?1",
            params![limit],
            |r| r.get(0),
        )?,
        Kind::Cluster => {
            let mut all: Vec<(i64, f32)> = group_stats(db, kind, "", &[])?
                .into_iter()
                .filter(|(_, s)| s.ads > 1)
                .map(|(id, s)| (id, network_score(&s)))
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.into_iter().take(limit).map(|(id, _)| id).collect()
        }
    };
    ids.into_iter()
        .map(|id| Ok(group(db, kind, id)?.expect("listed groups exist")))
        .collect()
}

/// One group in full, or `None` if no ad belongs to a group of that id.
pub fn group(db: &dyn Db, kind: Kind, id: i64) -> Result<Option<GroupView>> {
    let col = kind.column();
    let Some((_, stats)) = group_stats(db, kind, &format!("WHERE g.{col} = ?1"), params![id])?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let published = db.dialect().json_text("a.metadata", "published");
    let ads: Vec<MemberAd> = db.query_map(
        &format!(
            "SELECT a.id, a.ext_id, a.score, a.lang, a.office, a.publication,
                    COALESCE({published}, substr(a.submitted_at, 1, 10)), a.status
             FROM ad_groups g JOIN ads a ON a.id = g.ad_id WHERE g.{col} = ?1 ORDER BY a.score DESC, a.id"
        ),
        params![id],
        |r| {
            Ok(MemberAd {
                id: r.get(0)?,
                ext_id: r.get(1)?,
                score: r.get(2)?,
                lang: r.get(3)?,
                office: r.get(4)?,
                publication: r.get(5)?,
                seen: r.get(6)?,
                status: r.get(7)?,
            })
        },
    )?;
    let distinct = |f: fn(&MemberAd) -> Option<&String>| {
        let mut v: Vec<String> = ads.iter().filter_map(|a| f(a).cloned()).collect();
        v.sort();
        v.dedup();
        v
    };
    let seen: Vec<&String> = ads.iter().map(|a| &a.seen).collect();
    let view = GroupView {
        kind,
        id,
        score: network_score(&stats),
        stats,
        first_seen: seen.iter().min().map_or(String::new(), |s| s.to_string()),
        last_seen: seen.iter().max().map_or(String::new(), |s| s.to_string()),
        offices: distinct(|a| a.office.as_ref()),
        languages: distinct(|a| a.lang.as_ref()),
        publications: distinct(|a| a.publication.as_ref()),
        contacts: contacts_of(db, kind, id)?,
        clusters: match kind {
            Kind::Network => clusters_in(db, id)?,
            Kind::Cluster => Vec::new(),
        },
        template_links: template_links_in(db, kind, id)?,
        ads,
    };
    Ok(Some(view))
}

/// Ads in the store that are linked (have a group row); the base of the common-contact share.
/// Every contact of the group's ads: the identifying ones before the ignored ones, each part
/// most shared first, then by contact.
fn contacts_of(db: &dyn Db, kind: Kind, id: i64) -> Result<Vec<ContactUse>> {
    let rule = common_rule(db)?;
    let total = linked_total(db)?;
    let col = kind.column();
    // Grouped here rather than in SQL: the engines share no string aggregate, and a BTreeMap
    // orders the contacts byte-wise on both.
    let mut members: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    db.each(
        &format!(
            "SELECT c.contact, c.ad_id FROM ad_groups g JOIN ad_contacts c ON c.ad_id = g.ad_id
             WHERE g.{col} = ?1"
        ),
        params![id],
        &mut |r| {
            members.entry(r.get(0)?).or_default().push(r.get(1)?);
            Ok(())
        },
    )?;
    let mut out: Vec<ContactUse> = members
        .into_iter()
        .map(|(contact, mut ads)| {
            ads.sort_unstable();
            let in_store = carriers(db, &contact)?;
            Ok(ContactUse {
                ignored: why_ignored(db, &rule, &contact, in_store, total)?,
                ads_in_store: in_store,
                contact,
                ads,
            })
        })
        .collect::<Result<_>>()?;
    out.sort_by_key(|c| (c.ignored.is_some(), std::cmp::Reverse(c.ads.len())));
    Ok(out)
}

/// Template clusters of two or more ads inside a network.
fn clusters_in(db: &dyn Db, network: i64) -> Result<Vec<(i64, usize)>> {
    db.query_map(
        "SELECT cluster, count(*) FROM ad_groups WHERE network = ?1 GROUP BY cluster
         HAVING count(*) > 1 ORDER BY count(*) DESC, cluster",
        params![network],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Template links whose newer ad is in the group (the older one then is too).
fn template_links_in(db: &dyn Db, kind: Kind, id: i64) -> Result<Vec<TemplateLink>> {
    let col = kind.column();
    db.query_map(
        &format!(
            "SELECT t.ad_id, t.other, t.similarity FROM ad_groups g JOIN template_links t ON t.ad_id = g.ad_id
             WHERE g.{col} = ?1 ORDER BY t.ad_id, t.other"
        ),
        params![id],
        |r| {
            Ok(TemplateLink {
                ad: r.get(0)?,
                other: r.get(1)?,
                similarity: r.get(2)?,
            })
        },
    )
}

/// An ad linked to the one shown, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkedAd {
    /// Store id.
    pub id: i64,
    /// The submitter's id.
    pub ext_id: String,
    /// Ad score.
    pub score: f32,
    /// `shared phone:+52…`, `template similarity 0.91`, one per link.
    pub why: Vec<String>,
}

/// The links of one ad, for `queue show`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdLinks {
    /// Its network's id.
    pub network: i64,
    /// Ads in its network, itself included.
    pub network_size: usize,
    /// Its network's score.
    pub network_score: f32,
    /// Its template cluster's id.
    pub cluster: i64,
    /// Ads linked to it directly (at most [`MAX_LINKED`] per contact), riskiest first.
    pub linked: Vec<LinkedAd>,
    /// Its contacts that link nothing, and why.
    pub ignored: Vec<(String, String)>,
}

/// Ads listed per shared contact in `queue show`; the network view has them all.
pub const MAX_LINKED: usize = 50;

/// The links of ad `id`, or `None` if it has not been linked (a store from before networks:
/// `adscreen network rebuild`).
pub fn ad_links(db: &dyn Db, id: i64) -> Result<Option<AdLinks>> {
    let Some(group) = db.query_opt(
        "SELECT g.network, g.cluster, n.size, n.network_score FROM ad_groups g
         JOIN networks n ON n.id = g.network WHERE g.ad_id = ?1",
        params![id],
    )?
    else {
        return Ok(None);
    };
    let rule = common_rule(db)?;
    let total = linked_total(db)?;
    let mut why: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut ignored = Vec::new();
    let mut contacts: Vec<String> = db.query_map(
        "SELECT contact FROM ad_contacts WHERE ad_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    // Byte order on both engines (PostgreSQL's collation would differ).
    contacts.sort();
    for contact in contacts {
        if let Some(reason) = why_ignored(db, &rule, &contact, carriers(db, &contact)?, total)? {
            ignored.push((contact, reason));
            continue;
        }
        db.each(
            "SELECT ad_id FROM ad_contacts WHERE contact = ?1 AND ad_id <> ?2 ORDER BY ad_id DESC LIMIT ?3",
            params![&contact, id, MAX_LINKED],
            &mut |r| {
                why.entry(r.get(0)?)
                    .or_default()
                    .push(format!("shared {contact}"));
                Ok(())
            },
        )?;
    }
    db.each(
        "SELECT other, similarity FROM template_links WHERE ad_id = ?1
         UNION ALL SELECT ad_id, similarity FROM template_links WHERE other = ?1",
        params![id],
        &mut |r| {
            let s: f64 = r.get(1)?;
            why.entry(r.get(0)?)
                .or_default()
                .push(format!("template similarity {s:.2}"));
            Ok(())
        },
    )?;
    let mut linked: Vec<LinkedAd> = why
        .into_iter()
        .map(|(other, why)| {
            let about = db
                .query_opt(
                    "SELECT ext_id, score FROM ads WHERE id = ?1",
                    params![other],
                )?
                .with_context(|| format!("linked ad {other} is not in the store"))?;
            Ok(LinkedAd {
                id: other,
                ext_id: about.get(0)?,
                score: about.get(1)?,
                why,
            })
        })
        .collect::<Result<_>>()?;
    linked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    Ok(Some(AdLinks {
        network: group.get(0)?,
        network_size: group.get(2)?,
        network_score: group.get(3)?,
        cluster: group.get(1)?,
        linked,
        ignored,
    }))
}
