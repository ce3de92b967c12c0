//! Per-group figures computed in the store: size, scores and spread of a network or cluster, and
//! the `networks` table that keeps each network's score for ordering the queue.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

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
pub fn group_stats(
    db: &dyn Db,
    kind: Kind,
    filter: &str,
    args: &[Value],
) -> Result<Vec<(i64, GroupStats)>> {
    Ok(group_members(db, kind, filter, args)?
        .into_iter()
        .map(|(id, m)| (id, m.stats()))
        .collect())
}

/// The members of the groups of `kind` selected by `filter` (as for [`group_stats`]), summed
/// up, by group id.
///
/// The member rows are read and summed up here rather than with `GROUP BY` and three
/// `count(DISTINCT …)`: SQLite builds a temporary b-tree per distinct count and group, which made
/// refreshing a network cost ~100 µs.
fn group_members(
    db: &dyn Db,
    kind: Kind,
    filter: &str,
    args: &[Value],
) -> Result<BTreeMap<i64, Members>> {
    let col = kind.column();
    let sql = format!(
        "SELECT g.{col}, g.score, g.office, g.publication, g.lang FROM ad_groups g {filter}"
    );
    let mut groups: BTreeMap<i64, Members> = BTreeMap::new();
    db.each(&sql, args, &mut |r| {
        let (office, publication, lang): (Option<String>, Option<String>, Option<String>) =
            (r.get(2)?, r.get(3)?, r.get(4)?);
        groups.entry(r.get(0)?).or_default().add(&AdFacets {
            score: r.get::<f64>(1)? as f32,
            office: office.as_deref(),
            lang: lang.as_deref(),
            publication: publication.as_deref(),
        });
        Ok(())
    })?;
    Ok(groups)
}

/// The members of one group, summed up: what its [`GroupStats`] are computed from.
///
/// A network's sums are kept (as JSON) in its `networks` row, so that a batch adding ads to a
/// network of thousands adds to the sums instead of reading every member again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Members {
    ads: usize,
    max_score: f64,
    total_score: f64,
    offices: BTreeSet<String>,
    publications: BTreeSet<String>,
    languages: BTreeSet<String>,
}

impl Members {
    /// Counts one member; a missing office, publication or language counts as none, as
    /// `count(DISTINCT …)` does.
    pub fn add(&mut self, ad: &AdFacets) {
        let score = f64::from(ad.score);
        self.max_score = if self.ads == 0 {
            score
        } else {
            self.max_score.max(score)
        };
        self.ads += 1;
        self.total_score += score;
        let own = |value: Option<&str>| value.map(str::to_string);
        self.offices.extend(own(ad.office));
        self.publications.extend(own(ad.publication));
        self.languages.extend(own(ad.lang));
    }

    /// Adds the members of another group, merged into this one.
    pub fn absorb(&mut self, other: Members) {
        if other.ads == 0 {
            return;
        }
        self.max_score = if self.ads == 0 {
            other.max_score
        } else {
            self.max_score.max(other.max_score)
        };
        self.ads += other.ads;
        self.total_score += other.total_score;
        self.offices.extend(other.offices);
        self.publications.extend(other.publications);
        self.languages.extend(other.languages);
    }

    /// The group's figures.
    pub fn stats(&self) -> GroupStats {
        GroupStats {
            ads: self.ads,
            max_score: self.max_score as f32,
            mean_score: (self.total_score / self.ads.max(1) as f64) as f32,
            offices: self.offices.len(),
            publications: self.publications.len(),
            languages: self.languages.len(),
        }
    }
}

/// The members of network `id`, as its `networks` row keeps them; summed from its member rows
/// where the row has no sums (written before schema version 7) or is missing (a new network).
pub fn network_members(db: &dyn Db, id: i64) -> Result<Members> {
    let kept = db
        .query_opt("SELECT members FROM networks WHERE id = ?1", params![id])?
        .map(|r| r.get::<Option<String>>(0))
        .transpose()?
        .flatten();
    match kept {
        Some(json) => serde_json::from_str(&json)
            .with_context(|| format!("the member sums of network {id} are not readable")),
        None => Ok(
            group_members(db, Kind::Network, "WHERE g.network = ?1", params![id])?
                .remove(&id)
                .unwrap_or_default(),
        ),
    }
}

/// Writes the `networks` row of each network in `networks`: size, score and member sums.
pub fn save_networks<'m>(
    db: &dyn Db,
    networks: impl IntoIterator<Item = (i64, &'m Members)>,
) -> Result<()> {
    for (id, members) in networks {
        let stats = members.stats();
        db.execute(
            "INSERT INTO networks (id, size, network_score, members) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET size = excluded.size,
                 network_score = excluded.network_score, members = excluded.members",
            params![
                id,
                stats.ads,
                network_score(&stats),
                serde_json::to_string(members)?
            ],
        )?;
    }
    Ok(())
}

/// Recomputes every `networks` row from the member rows (after a rebuild).
pub fn refresh_networks(db: &dyn Db) -> Result<()> {
    db.execute("DELETE FROM networks", &[])?;
    let all = group_members(db, Kind::Network, "", &[])?;
    save_networks(db, all.iter().map(|(&id, m)| (id, m)))
}
