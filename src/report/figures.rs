//! The figures of a report, computed in the store: per period, two `GROUP BY`s (one over the
//! period's ads, from an index that covers the columns it groups by; one over its decided flagged
//! ads) count ads in cells of the same office, language, publication and flagged indicators, and
//! each breakdown adds up cells. Nothing loads the ads themselves into memory.
//!
//! Definitions (the same in every format):
//! - an ad belongs to the period it was **submitted** in;
//! - **escalated / dismissed** = closed that way before the end of the period; **open** = flagged
//!   and not closed by then. So a report on a past period gives the same figures whenever it runs;
//! - a **decision** is an ad's first `label`, `escalate` or `dismiss` event; an ad is **confirmed**
//!   when it was escalated or its latest label is suspicious; **precision** = confirmed flagged ads
//!   / decided flagged ads;
//! - **indicators** are those the model flagged on the ad;
//! - the **top networks** are the linked networks (at least 2 ads overall) with ads submitted in
//!   the period, highest network score first.

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use chrono::{DateTime, Days, NaiveDate};
use serde::Serialize;

use super::period::Period;
use crate::db::{Db, Value};
use crate::params;

/// How many periods before the report's own the flagged-share chart shows (at least 1).
const TREND_PERIODS: usize = 3;

/// How many networks the report lists.
const TOP_NETWORKS: usize = 10;

/// Ads of one group (an office, a language, …) in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Ads submitted.
    pub submitted: i64,
    /// Ads the model flagged.
    pub flagged: i64,
    /// Flagged ads escalated by the end of the period.
    pub escalated: i64,
    /// Flagged ads dismissed by the end of the period.
    pub dismissed: i64,
    /// Flagged ads neither escalated nor dismissed by the end of the period.
    pub open: i64,
    /// Flagged ads an analyst decided on (labelled, escalated or dismissed).
    pub decided: i64,
    /// Decided flagged ads the analyst confirmed (escalated, or labelled suspicious).
    pub confirmed: i64,
}

impl Counts {
    /// Share of flagged ads an analyst confirmed, of those decided: the model's precision in practice.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.confirmed, self.decided)
    }

    /// Share of submitted ads the model flagged.
    pub fn flagged_share(&self) -> Option<f64> {
        ratio(self.flagged, self.submitted)
    }
}

/// The key of ads that do not say (no office, language or publication).
const NONE: &str = "(none)";

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// One row of a breakdown: the group, this period and the previous one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Office, language, publication or indicator; `(none)` when the ad does not say.
    pub key: String,
    /// This period.
    pub current: Counts,
    /// The previous period of the same length.
    pub previous: Counts,
}

/// The figures of one period, before they are paired with the previous period's.
#[derive(Debug, Default)]
struct PeriodFigures {
    totals: Counts,
    by_office: BTreeMap<String, Counts>,
    by_lang: BTreeMap<String, Counts>,
    by_publication: BTreeMap<String, Counts>,
    by_indicator: BTreeMap<String, Counts>,
    median_hours: Option<f64>,
    indicators_by_lang: Vec<(String, String, i64)>,
}

/// Flagged share of one office in one period, for the trend chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Period label.
    pub period: String,
    /// Office.
    pub office: String,
    /// Ads submitted.
    pub submitted: i64,
    /// Ads flagged.
    pub flagged: i64,
}

/// The analysts' queue size (flagged, not yet escalated or dismissed, all periods) at a moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacklogPoint {
    /// The day the count is taken at (start of day, UTC).
    pub at: chrono::NaiveDate,
    /// Open flagged ads then.
    pub open: i64,
}

/// A network with ads submitted in the period, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkRow {
    /// The network's id (the store id of its oldest ad).
    pub network: i64,
    /// The network's score (table `networks`).
    pub network_score: f64,
    /// Its ads submitted in the period.
    pub ads: i64,
    /// Its ads overall, every period.
    pub size: i64,
    /// The offices of its ads in the period, `(none)` for ads without one, sorted.
    pub offices: Vec<String>,
    /// The filed languages of its ads in the period, `(none)` for ads without one, sorted.
    pub langs: Vec<String>,
    /// The highest score of its ads in the period.
    pub max_ad_score: f64,
}

/// Everything a report shows. Build it with [`Report::compute`], print it with
/// [`Report::render`](super::Report::render).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The period reported on.
    pub period: Period,
    /// The period compared with.
    pub previous_period: Period,
    /// Only this office, when one was asked for.
    pub office: Option<String>,
    /// When the report was computed (RFC 3339, UTC).
    pub generated_at: String,
    /// All ads of the period.
    pub totals: Row,
    /// Per office, most ads first.
    pub by_office: Vec<Row>,
    /// Per filed language.
    pub by_lang: Vec<Row>,
    /// Per publication (metadata `publication`).
    pub by_publication: Vec<Row>,
    /// Per indicator the model flagged, in taxonomy order.
    pub by_indicator: Vec<Row>,
    /// Ads per (language, indicator) this period, for the chart.
    pub indicators_by_lang: Vec<(String, String, i64)>,
    /// Median hours from submission to the first decision, this period and the previous one.
    pub median_hours_to_decision: (Option<f64>, Option<f64>),
    /// The periods of the trend: this one and the ones before it, oldest first.
    pub trend_periods: Vec<String>,
    /// Submitted and flagged ads per office in each of `trend_periods`.
    pub trend: Vec<TrendPoint>,
    /// Queue size at the start of each week of the period and at its end.
    pub backlog: Vec<BacklogPoint>,
    /// The period's highest-scoring networks, at most ten.
    pub top_networks: Vec<NetworkRow>,
}

impl Report {
    /// Computes the report for `period` (and `office`, if given) from the store behind `db`.
    pub fn compute(db: &dyn Db, period: &Period, office: Option<&str>) -> Result<Report> {
        let previous_period = period.previous();
        let now = period_figures(db, period, office)?;
        let before = period_figures(db, &previous_period, office)?;
        // The trend's last two periods are the report's own two; only the earlier ones are read.
        let mut trend_periods = vec![period.clone(), previous_period.clone()];
        for _ in 2..=TREND_PERIODS {
            let earlier = trend_periods.last().expect("not empty").previous();
            trend_periods.push(earlier);
        }
        trend_periods.reverse();
        let mut trend = Vec::new();
        for p in &trend_periods[..trend_periods.len() - 2] {
            trend.extend(flagged_by_office(db, p, office)?);
        }
        trend.extend(trend_points(&previous_period, &before.by_office));
        trend.extend(trend_points(period, &now.by_office));
        let mut by_indicator = pair(&now.by_indicator, &before.by_indicator);
        let order = |k: &str| {
            crate::taxonomy::Indicator::ALL
                .iter()
                .position(|i| i.id() == k)
        };
        by_indicator.sort_by_key(|r| order(&r.key));
        Ok(Report {
            period: period.clone(),
            previous_period,
            office: office.map(String::from),
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            totals: Row {
                key: "all".into(),
                current: now.totals,
                previous: before.totals,
            },
            by_office: pair(&now.by_office, &before.by_office),
            by_lang: pair(&now.by_lang, &before.by_lang),
            by_publication: pair(&now.by_publication, &before.by_publication),
            by_indicator,
            indicators_by_lang: now.indicators_by_lang,
            median_hours_to_decision: (now.median_hours, before.median_hours),
            trend_periods: trend_periods.iter().map(|p| p.label.clone()).collect(),
            trend,
            backlog: backlog(db, period, office)?,
            top_networks: top_networks(db, period, office)?,
        })
    }
}

/// Rows for every key of either period, most ads this period first.
fn pair(now: &BTreeMap<String, Counts>, before: &BTreeMap<String, Counts>) -> Vec<Row> {
    let mut keys: Vec<&String> = now.keys().chain(before.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|k| Row {
            key: k.clone(),
            current: now.get(k).copied().unwrap_or_default(),
            previous: before.get(k).copied().unwrap_or_default(),
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.current.submitted));
    rows
}

/// Each ad's decisions before the end of the period (`?2`): the first one's time and how the
/// ad was closed, if it was.
const DECISIONS: &str = "SELECT ad_id, min(at) AS decided_at,
        max(CASE action WHEN 'escalate' THEN 'escalate' WHEN 'dismiss' THEN 'dismiss' END) AS closed
    FROM events
    WHERE action IN ('label', 'escalate', 'dismiss') AND at < ?2
    GROUP BY ad_id";

/// Restricts `ads a` to the period (`?1` to `?2`) and the office (`?3`, if not NULL): the
/// parameters [`period_params`] binds.
const IN_PERIOD: &str = "a.submitted_at >= ?1 AND a.submitted_at < ?2
    AND (?3 IS NULL OR a.office = ?3)";

/// The values of `?1`, `?2` and `?3` in [`IN_PERIOD`] and [`DECISIONS`].
fn period_params(period: &Period, office: Option<&str>) -> Vec<Value> {
    params![period.start_key(), period.end_key(), office].to_vec()
}

/// Ads alike in everything the report breaks down by, and what they add to each count.
struct Cell {
    office: Option<String>,
    lang: Option<String>,
    publication: Option<String>,
    flagged_bits: i64,
    counts: Counts,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.submitted += other.submitted;
        self.flagged += other.flagged;
        self.escalated += other.escalated;
        self.dismissed += other.dismissed;
        self.open += other.open;
        self.decided += other.decided;
        self.confirmed += other.confirmed;
    }
}

/// The period's ads in cells of the same office, language, publication and flagged indicators:
/// two `GROUP BY`s, one over all the period's ads (from an index that covers them: submitted,
/// flagged, and open until a decision says otherwise) and one over its decided flagged ads (few:
/// escalated, dismissed — each taking one off open —, decided, confirmed). Every breakdown is a
/// sum of cells.
fn cells(db: &dyn Db, period: &Period, office: Option<&str>) -> Result<Vec<Cell>> {
    let all = format!(
        "SELECT a.office, a.lang, a.publication, a.flagged_bits,
                count(*), count(*) FILTER (WHERE a.flagged = 1), 0, 0, 0, 0
         FROM ads a WHERE {IN_PERIOD} GROUP BY 1, 2, 3, 4"
    );
    let suspicious = db.dialect().json_true("e.label", "suspicious");
    let decided = format!(
        "SELECT a.office, a.lang, a.publication, a.flagged_bits, 0, 0,
                count(*) FILTER (WHERE d.closed = 'escalate'),
                count(*) FILTER (WHERE d.closed = 'dismiss'),
                count(*),
                count(*) FILTER (WHERE d.closed = 'escalate' OR (d.closed IS NULL AND
                    (SELECT {suspicious} FROM events e
                     WHERE e.ad_id = a.id AND e.action = 'label' AND e.at < ?2
                     ORDER BY e.id DESC LIMIT 1)))
         FROM ({DECISIONS}) d JOIN ads a ON a.id = d.ad_id
         WHERE a.flagged = 1 AND {IN_PERIOD} GROUP BY 1, 2, 3, 4"
    );
    let params = period_params(period, office);
    let mut cells = Vec::new();
    for sql in [all, decided] {
        cells.extend(db.query_map(&sql, &params, |r| {
            let (flagged, escalated, dismissed): (i64, i64, i64) =
                (r.get(5)?, r.get(6)?, r.get(7)?);
            Ok(Cell {
                office: r.get(0)?,
                lang: r.get(1)?,
                publication: r.get(2)?,
                flagged_bits: r.get(3)?,
                counts: Counts {
                    submitted: r.get(4)?,
                    flagged,
                    escalated,
                    dismissed,
                    open: flagged - escalated - dismissed,
                    decided: r.get(8)?,
                    confirmed: r.get(9)?,
                },
            })
        })?);
    }
    Ok(cells)
}

/// The indicator of each bit of `ads.flagged_bits`, as the store numbers them.
fn indicator_bits(db: &dyn Db) -> Result<Vec<(i64, String)>> {
    db.query_map(
        "SELECT bit, indicator FROM indicator_bits ORDER BY bit",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

fn period_figures(db: &dyn Db, period: &Period, office: Option<&str>) -> Result<PeriodFigures> {
    let bits = indicator_bits(db)?;
    let mut f = PeriodFigures {
        median_hours: median_hours_to_decision(db, period, office)?,
        ..PeriodFigures::default()
    };
    let mut by_lang_indicator: BTreeMap<(String, String), i64> = BTreeMap::new();
    for cell in cells(db, period, office)? {
        let c = &cell.counts;
        let key = |k: &Option<String>| k.clone().unwrap_or_else(|| NONE.to_string());
        f.totals.add(c);
        f.by_office.entry(key(&cell.office)).or_default().add(c);
        f.by_lang.entry(key(&cell.lang)).or_default().add(c);
        f.by_publication
            .entry(key(&cell.publication))
            .or_default()
            .add(c);
        for (_, indicator) in bits
            .iter()
            .filter(|(b, _)| cell.flagged_bits & (1 << b) != 0)
        {
            f.by_indicator.entry(indicator.clone()).or_default().add(c);
            *by_lang_indicator
                .entry((key(&cell.lang), indicator.clone()))
                .or_default() += c.submitted;
        }
    }
    f.indicators_by_lang = by_lang_indicator
        .into_iter()
        .map(|((l, i), n)| (l, i, n))
        .collect();
    Ok(f)
}

/// Seconds since the Unix epoch of a stored timestamp, to the millisecond: the value
/// SQLite's `unixepoch(t, 'subsec')` gave when the median was computed in SQL, so that the
/// figures stay the same to the last bit.
fn unix_seconds(stored: &str) -> Result<f64> {
    let t = DateTime::parse_from_rfc3339(stored)
        .with_context(|| format!("the store holds a malformed timestamp {stored:?}"))?;
    Ok(t.timestamp_millis() as f64 / 1000.0)
}

/// The median of the hours from submission to first decision of the period's decided ads (the
/// mean of the two middle values when their number is even). Computed here: the engines share
/// no date arithmetic.
fn median_hours_to_decision(
    db: &dyn Db,
    period: &Period,
    office: Option<&str>,
) -> Result<Option<f64>> {
    let sql = format!(
        "SELECT d.decided_at, a.submitted_at FROM ({DECISIONS}) d JOIN ads a ON a.id = d.ad_id
         WHERE {IN_PERIOD}"
    );
    let mut hours = db.query_map(&sql, &period_params(period, office), |r| {
        Ok((unix_seconds(&r.get::<String>(0)?)? - unix_seconds(&r.get::<String>(1)?)?) / 3600.0)
    })?;
    hours.sort_by(f64::total_cmp);
    let n = hours.len();
    Ok(match n {
        0 => None,
        _ if n % 2 == 1 => Some(hours[n / 2]),
        _ => Some((hours[n / 2 - 1] + hours[n / 2]) / 2.0),
    })
}

/// The trend points of a period whose figures are known.
fn trend_points<'a>(
    period: &'a Period,
    by_office: &'a BTreeMap<String, Counts>,
) -> impl Iterator<Item = TrendPoint> + 'a {
    by_office.iter().map(|(office, c)| TrendPoint {
        period: period.label.clone(),
        office: office.clone(),
        submitted: c.submitted,
        flagged: c.flagged,
    })
}

/// Submitted and flagged ads per office in `period`, in the order of office names' bytes (the
/// engines' text collations may differ).
fn flagged_by_office(
    db: &dyn Db,
    period: &Period,
    office: Option<&str>,
) -> Result<Vec<TrendPoint>> {
    let sql = format!(
        "SELECT coalesce(a.office, '{NONE}'), count(*), count(*) FILTER (WHERE a.flagged = 1)
         FROM ads a WHERE {IN_PERIOD} GROUP BY 1"
    );
    let mut points = db.query_map(&sql, &period_params(period, office), |r| {
        Ok(TrendPoint {
            period: period.label.clone(),
            office: r.get(0)?,
            submitted: r.get(1)?,
            flagged: r.get(2)?,
        })
    })?;
    points.sort_by(|a, b| a.office.cmp(&b.office));
    Ok(points)
}

/// The queue size at the start of each week of the period and at its end: every flagged ad adds
/// one when submitted and takes one away when escalated or dismissed. The store sums them per
/// day (the date part of the timestamp; `''` for everything before the period), and the days
/// are summed into weeks here.
fn backlog(db: &dyn Db, period: &Period, office: Option<&str>) -> Result<Vec<BacklogPoint>> {
    let days = db.query_map(
        "SELECT CASE WHEN t < ?1 THEN '' ELSE substr(t, 1, 10) END, sum(d)
         FROM (SELECT submitted_at AS t, 1 AS d FROM ads
               WHERE flagged = 1 AND submitted_at < ?2 AND (?3 IS NULL OR office = ?3)
               UNION ALL
               SELECT e.at, -1 FROM events e JOIN ads a ON a.id = e.ad_id
               WHERE e.action IN ('escalate', 'dismiss') AND e.at < ?2
                 AND (?3 IS NULL OR a.office = ?3)) AS changes
         GROUP BY 1",
        &period_params(period, office),
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
    )?;
    // Week -1 holds everything before the period.
    let mut deltas: BTreeMap<i64, i64> = BTreeMap::new();
    for (day, delta) in days {
        let week = if day.is_empty() {
            -1
        } else {
            let day: NaiveDate = day
                .parse()
                .with_context(|| format!("the store holds a malformed timestamp {day:?}"))?;
            (day - period.start).num_days() / 7
        };
        *deltas.entry(week).or_default() += delta;
    }
    let mut open = deltas.get(&-1).copied().unwrap_or(0);
    let mut points = Vec::new();
    let mut week = 0;
    let mut at = period.start;
    while at < period.end {
        points.push(BacklogPoint { at, open });
        open += deltas.get(&week).copied().unwrap_or(0);
        week += 1;
        at = at + Days::new(7);
    }
    points.push(BacklogPoint {
        at: period.end,
        open,
    });
    Ok(points)
}

/// The networks of at least 2 ads (overall) that have ads in the period, highest network score
/// first (then oldest), at most [`TOP_NETWORKS`]: figures over their ads of the period only.
/// A second query reads the offices and languages of the networks listed.
fn top_networks(db: &dyn Db, period: &Period, office: Option<&str>) -> Result<Vec<NetworkRow>> {
    let params = period_params(period, office);
    let mut networks = db.query_map(
        &format!(
            "SELECT n.id, n.network_score, count(*), n.size, max(g.score)
             FROM ads a JOIN ad_groups g ON g.ad_id = a.id JOIN networks n ON n.id = g.network
             WHERE {IN_PERIOD} AND n.size >= 2
             GROUP BY n.id, n.network_score, n.size
             ORDER BY n.network_score DESC, n.id LIMIT {TOP_NETWORKS}"
        ),
        &params,
        |r| {
            Ok(NetworkRow {
                network: r.get(0)?,
                network_score: r.get(1)?,
                ads: r.get(2)?,
                size: r.get(3)?,
                offices: Vec::new(),
                langs: Vec::new(),
                max_ad_score: r.get(4)?,
            })
        },
    )?;
    if networks.is_empty() {
        return Ok(networks);
    }
    let listed: Vec<String> = (0..networks.len())
        .map(|i| format!("?{}", params.len() + 1 + i))
        .collect();
    let mut ids = params;
    ids.extend(networks.iter().map(|n| Value::Int(n.network)));
    let mut facets: BTreeMap<i64, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    db.each(
        &format!(
            "SELECT DISTINCT g.network, coalesce(g.office, '{NONE}'), coalesce(g.lang, '{NONE}')
             FROM ads a JOIN ad_groups g ON g.ad_id = a.id
             WHERE {IN_PERIOD} AND g.network IN ({})",
            listed.join(", ")
        ),
        &ids,
        &mut |r| {
            let (offices, langs) = facets.entry(r.get(0)?).or_default();
            offices.insert(r.get(1)?);
            langs.insert(r.get(2)?);
            Ok(())
        },
    )?;
    for n in &mut networks {
        let (offices, langs) = facets.remove(&n.network).unwrap_or_default();
        n.offices = offices.into_iter().collect();
        n.langs = langs.into_iter().collect();
    }
    Ok(networks)
}
