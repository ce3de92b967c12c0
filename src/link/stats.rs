//! Per-group figures computed in the store: size, scores and spread of a network or cluster, and
//! the `networks` table that keeps each network's score for ordering the queue.

use anyhow::Result;
use serde::Serialize;

use super::score::{network_score, GroupStats};
use crate::db::{Db, Value};
use crate::params;

/// Which grouping of linked ads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Connected by shared contacts or template similarity.
    Network,
    /// Connected by template similarity alone.
    Cluster,
}

impl Kind {
    /// The `ad_groups` column holding an ad's group of this kind.
    pub fn column(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Cluster => "cluster",
        }
    }
}

/// What group figures need of one ad, kept beside its group ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdFacets<'a> {
    /// Ad score.
    pub score: f32,
    /// Office that submitted it.
    pub office: Option<&'a str>,
    /// Filed language code.
    pub lang: Option<&'a str>,
    /// Publication it appeared in.
    pub publication: Option<&'a str>,
}

/// Records an ad's groups and facets.
pub fn insert_group_row(
    db: &dyn Db,
    ad: i64,
    network: i64,
    cluster: i64,
    f: &AdFacets,
) -> Result<()> {
    db.execute(
        "INSERT INTO ad_groups (ad_id, network, cluster, score, office, lang, publication)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            ad,
            network,
            cluster,
            f.score,
            f.office,
            f.lang,
            f.publication
        ],
    )?;
    Ok(())
}

/// Stats of the groups of `kind` selected by `filter` (a SQL `WHERE` clause over `g.` =
/// ad_groups with its values bound in `args`, or empty for all), as (group id, stats).
pub fn group_stats(
    db: &dyn Db,
    kind: Kind,
    filter: &str,
    args: &[Value],
) -> Result<Vec<(i64, GroupStats)>> {
    let col = kind.column();
    let sql = format!(
        "SELECT g.{col}, count(*), max(g.score), avg(g.score), count(DISTINCT g.office),
                count(DISTINCT g.publication), count(DISTINCT g.lang)
         FROM ad_groups g {filter} GROUP BY g.{col}"
    );
    db.query_map(&sql, args, |r| {
        Ok((
            r.get(0)?,
            GroupStats {
                ads: r.get(1)?,
                max_score: r.get(2)?,
                mean_score: r.get(3)?,
                offices: r.get(4)?,
                publications: r.get(5)?,
                languages: r.get(6)?,
            },
        ))
    })
}

/// Recomputes the `networks` rows of the given networks (all of them for `None`).
pub fn refresh_networks(db: &dyn Db, ids: Option<&[i64]>) -> Result<()> {
    let stats = match ids {
        None => {
            db.execute("DELETE FROM networks", &[])?;
            group_stats(db, Kind::Network, "", &[])?
        }
        Some(ids) => {
            let mut all = Vec::with_capacity(ids.len());
            for &id in ids {
                all.extend(group_stats(
                    db,
                    Kind::Network,
                    "WHERE g.network = ?1",
                    params![id],
                )?);
            }
            all
        }
    };
    for (id, s) in stats {
        db.execute(
            "INSERT INTO networks (id, size, network_score) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET size = excluded.size, network_score = excluded.network_score",
            params![id, s.ads, network_score(&s)],
        )?;
    }
    Ok(())
}
