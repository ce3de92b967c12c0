//! Per-group figures computed in the store: size, scores and spread of a network or cluster, and
//! the `networks` table that keeps each network's score for ordering the queue.

use std::collections::{BTreeMap, HashSet};

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
/// ad_groups with its values bound in `args`, or empty for all), as (group id, stats) in group
/// id order.
///
/// The member rows are read and summed up here rather than with `GROUP BY` and three
/// `count(DISTINCT …)`: SQLite builds a temporary b-tree per distinct count and group, which made
/// refreshing the networks a batch touches cost ~100 µs per network.
pub fn group_stats(
    db: &dyn Db,
    kind: Kind,
    filter: &str,
    args: &[Value],
) -> Result<Vec<(i64, GroupStats)>> {
    let col = kind.column();
    let sql = format!(
        "SELECT g.{col}, g.score, g.office, g.publication, g.lang FROM ad_groups g {filter}"
    );
    let mut groups: BTreeMap<i64, Members> = BTreeMap::new();
    db.each(&sql, args, &mut |r| {
        groups
            .entry(r.get(0)?)
            .or_default()
            .add(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
        Ok(())
    })?;
    Ok(groups.into_iter().map(|(id, m)| (id, m.stats())).collect())
}

/// The members of one group, summed up as they are read.
#[derive(Default)]
struct Members {
    ads: usize,
    max_score: f64,
    total_score: f64,
    offices: HashSet<String>,
    publications: HashSet<String>,
    languages: HashSet<String>,
}

impl Members {
    /// Counts one member; a missing office, publication or language counts as none, as
    /// `count(DISTINCT …)` does.
    fn add(
        &mut self,
        score: f64,
        office: Option<String>,
        publication: Option<String>,
        lang: Option<String>,
    ) {
        self.max_score = if self.ads == 0 {
            score
        } else {
            self.max_score.max(score)
        };
        self.ads += 1;
        self.total_score += score;
        self.offices.extend(office);
        self.publications.extend(publication);
        self.languages.extend(lang);
    }

    fn stats(&self) -> GroupStats {
        GroupStats {
            ads: self.ads,
            max_score: self.max_score as f32,
            mean_score: (self.total_score / self.ads as f64) as f32,
            offices: self.offices.len(),
            publications: self.publications.len(),
            languages: self.languages.len(),
        }
    }
}

/// Networks refreshed per statement.
const REFRESH_CHUNK: usize = 256;

/// Recomputes the `networks` rows of the given networks (all of them for `None`).
pub fn refresh_networks(db: &dyn Db, ids: Option<&[i64]>) -> Result<()> {
    let stats = match ids {
        None => {
            db.execute("DELETE FROM networks", &[])?;
            group_stats(db, Kind::Network, "", &[])?
        }
        Some(ids) => {
            let mut all = Vec::with_capacity(ids.len());
            // Many networks per statement; a few statement texts (one per chunk length) for the
            // connection to keep prepared.
            for chunk in ids.chunks(REFRESH_CHUNK) {
                let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
                let filter = format!("WHERE g.network IN ({})", marks.join(", "));
                let args: Vec<Value> = chunk.iter().map(|&id| Value::Int(id)).collect();
                all.extend(group_stats(db, Kind::Network, &filter, &args)?);
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
