//! Per-group figures computed in the store: size, scores and spread of a network or cluster, and
//! the `networks` table that keeps each network's score for ordering the queue.

use anyhow::Result;
use rusqlite::{params_from_iter, Connection, ToSql};
use serde::Serialize;

use super::score::{network_score, GroupStats};

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
    conn: &Connection,
    ad: i64,
    network: i64,
    cluster: i64,
    f: &AdFacets,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO ad_groups (ad_id, network, cluster, score, office, lang, publication)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        ad,
        network,
        cluster,
        f.score,
        f.office,
        f.lang,
        f.publication
    ])?;
    Ok(())
}

/// Stats of the groups of `kind` selected by `filter` (a SQL `WHERE` clause over `g.` =
/// ad_groups, or empty for all), as (group id, stats).
pub fn group_stats(
    conn: &Connection,
    kind: Kind,
    filter: &str,
    args: &[&dyn ToSql],
) -> Result<Vec<(i64, GroupStats)>> {
    let col = kind.column();
    let sql = format!(
        "SELECT g.{col}, count(*), max(g.score), avg(g.score), count(DISTINCT g.office),
                count(DISTINCT g.publication), count(DISTINCT g.lang)
         FROM ad_groups g {filter} GROUP BY g.{col}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
        Ok((
            r.get(0)?,
            GroupStats {
                ads: r.get::<_, i64>(1)? as usize,
                max_score: r.get::<_, f64>(2)? as f32,
                mean_score: r.get::<_, f64>(3)? as f32,
                offices: r.get::<_, i64>(4)? as usize,
                publications: r.get::<_, i64>(5)? as usize,
                languages: r.get::<_, i64>(6)? as usize,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Recomputes the `networks` rows of the given networks (all of them for `None`).
pub fn refresh_networks(conn: &Connection, ids: Option<&[i64]>) -> Result<()> {
    let stats = match ids {
        None => {
            conn.execute("DELETE FROM networks", [])?;
            group_stats(conn, Kind::Network, "", &[])?
        }
        Some(ids) => {
            let mut all = Vec::with_capacity(ids.len());
            for id in ids {
                all.extend(group_stats(
                    conn,
                    Kind::Network,
                    "WHERE g.network = ?1",
                    &[id],
                )?);
            }
            all
        }
    };
    let mut upsert = conn.prepare_cached(
        "INSERT INTO networks (id, size, network_score) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET size = excluded.size, network_score = excluded.network_score",
    )?;
    for (id, s) in stats {
        upsert.execute(rusqlite::params![id, s.ads as i64, network_score(&s)])?;
    }
    Ok(())
}
