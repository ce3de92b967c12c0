//! The store: ads, queue, history, on a SQLite file (the embedded default) or a PostgreSQL
//! database shared by several servers; one transaction per batch.

use std::collections::HashMap;

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde_json::json;

use super::audit::append;
use super::schema;
use super::{
    BatchOutcome, Change, Claim, Event, Filter, Label, Order, QueueItem, Refusal, Status, Store,
    StoredAd, Submission,
};
use crate::db::{self, Db, Location, Value};
use crate::ingest::{AdRecord, Translation};
use crate::link::index::Linker;
use crate::link::stats::AdFacets;
use crate::link::AdKeys;
use crate::model::{json, ScoredAd};
use crate::params;

/// The default store file when neither `--db` nor `ADSCREEN_DB` is given.
pub const DEFAULT_DB: &str = "adscreen.db";

/// The store: a SQLite file or a PostgreSQL database, behind the same SQL.
pub struct SqlStore {
    db: Box<dyn Db>,
    /// Each indicator's bit in `ads.flagged_bits`, read from `indicator_bits` once.
    indicator_bits: HashMap<String, i64>,
}

/// The current time as stored: RFC 3339, UTC, milliseconds.
pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SqlStore {
    /// Opens (creating a SQLite file if needed) the store at `location` and brings its schema
    /// up to date.
    pub fn open(location: &Location) -> Result<Self> {
        let db = db::open(location)?;
        schema::migrate(&*db).with_context(|| format!("cannot migrate the store {location}"))?;
        let indicator_bits = db
            .query_map("SELECT indicator, bit FROM indicator_bits", &[], |r| {
                Ok((r.get(0)?, 1_i64 << r.get::<i64>(1)?))
            })?
            .into_iter()
            .collect();
        Ok(SqlStore { db, indicator_bits })
    }

    /// The connection, for the stages that keep their own tables in the store (networks) and
    /// the read-only aggregates and exports of `report`.
    pub fn db(&self) -> &dyn Db {
        &*self.db
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<usize> {
        schema::version(self.db())
    }
}

/// The `flagged_bits` of a scored ad, given each indicator's bit.
fn flagged_bits(bits: &HashMap<String, i64>, ad: &ScoredAd) -> i64 {
    ad.flagged_indicators
        .iter()
        .filter_map(|i| bits.get(i.id()))
        .fold(0, |acc, b| acc | b)
}

/// Appends one event to an ad's history.
fn record_event(tx: &dyn Db, ad: i64, e: &Event) -> Result<()> {
    tx.execute(
        "INSERT INTO events (ad_id, at, \"user\", action, from_status, to_status, label, note, target) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            ad,
            &e.at,
            &e.user,
            &e.action,
            e.from_status.map(Status::as_str),
            e.to_status.map(Status::as_str),
            e.label.as_ref().map(|l| serde_json::to_string(l).expect("labels serialize")),
            e.note.as_deref(),
            e.target.as_deref()
        ],
    )?;
    Ok(())
}

/// An event happening now.
fn event(user: &str, action: &str, from: Option<Status>, to: Option<Status>) -> Event {
    Event {
        at: now(),
        user: user.into(),
        action: action.into(),
        from_status: from,
        to_status: to,
        label: None,
        note: None,
        target: None,
    }
}

/// A scored ad with what storing it takes work to compute: its content key, its JSON columns
/// and its linking keys (MinHash signatures).
///
/// [`Store::submit`] runs inside the transaction that holds the store's one write lock, on one
/// thread; preparing the batch before, on all cores (and in `adscreen submit`, beside the scoring
/// of the same chunk), keeps that thread on the work only it can do.
pub struct PreparedAd {
    /// The ad as scored.
    pub ad: ScoredAd,
    content_key: String,
    metadata: String,
    /// The `score` output, as JSON.
    scored: String,
    /// With id 0 until the ad is stored.
    keys: AdKeys,
}

impl PreparedAd {
    /// Prepares one scored ad for storing.
    pub fn of(ad: ScoredAd) -> Self {
        let r = &ad.ad.record;
        let metadata = json!({
            "publication": r.publication, "published": r.published, "section": r.section,
            "submitted_by": r.submitted_by, "notes": r.notes, "translation_lang": r.translation.as_ref().map(|t| t.lang),
            "extra": r.extra,
        });
        let mut scored = Vec::new();
        json::write_scored(&mut scored, &ad);
        PreparedAd {
            content_key: r.content_key(),
            metadata: metadata.to_string(),
            scored: String::from_utf8(scored).expect("the JSON writer writes UTF-8"),
            keys: AdKeys::of_scored(0, &ad),
            ad,
        }
    }

    /// Prepares a batch on all cores, in order.
    pub fn batch(ads: Vec<ScoredAd>) -> Vec<Self> {
        ads.into_par_iter().map(PreparedAd::of).collect()
    }
}

impl Store for SqlStore {
    fn submit(&mut self, batch: &[PreparedAd], who: &Submission) -> Result<BatchOutcome> {
        let tx = self.db.transaction()?;
        tx.serialize_writers()?;
        let mut linker = Linker::new(&*tx)?;
        linker.prefetch(batch.iter().map(|p| &p.keys))?;
        let mut outcome = BatchOutcome::default();
        let at = now();
        for prepared in batch {
            let ad = &prepared.ad;
            let r = &ad.ad.record;
            let status = ad.flagged.then_some(Status::New);
            let office = r.office.as_deref().or(who.office);
            let inserted = tx.query_opt(
                "INSERT INTO ads (content_key, ext_id, lang, lang_detected, text, translation, office, metadata, score, flagged, scored, model_version, status, submitted_at, source, source_line, publication, flagged_bits)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL, ?16, ?17)
                 ON CONFLICT (content_key) DO NOTHING RETURNING id",
                params![
                    &prepared.content_key,
                    &r.id,
                    ad.ad.lang().map(|l| l.code()),
                    ad.lang.map(|l| l.code()),
                    &r.text,
                    r.translation.as_ref().map(|t| &t.text),
                    office,
                    &prepared.metadata,
                    ad.score,
                    ad.flagged,
                    &prepared.scored,
                    &ad.model_version,
                    status.map(Status::as_str),
                    &at,
                    who.source,
                    r.publication.as_deref(),
                    flagged_bits(&self.indicator_bits, ad),
                ],
            )?;
            let Some(row) = inserted else {
                outcome.duplicates += 1;
                outcome.new_ids.push(None);
                continue;
            };
            outcome.stored += 1;
            outcome.queued += ad.flagged as usize;
            let id: i64 = row.get(0)?;
            outcome.new_ids.push(Some(id));
            record_event(&*tx, id, &event(who.user, "submitted", None, status))?;
            let facets = AdFacets {
                score: ad.score,
                office,
                lang: ad.ad.lang().map(|l| l.code()),
                publication: r.publication.as_deref(),
            };
            linker.add(
                &AdKeys {
                    id,
                    ..prepared.keys.clone()
                },
                &facets,
            )?;
        }
        linker.finish()?;
        append(
            &*tx,
            who.user,
            "submit",
            Some(who.source),
            None,
            Some(
                &json!({"stored": outcome.stored, "duplicates": outcome.duplicates, "queued": outcome.queued}),
            ),
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    fn list(&self, f: &Filter) -> Result<Vec<QueueItem>> {
        let mut sql = String::from(
            "SELECT ads.id, ext_id, ads.score, ads.lang, ads.office, status, scored, text, assigned_to, submitted_at,
                    COALESCE(n.size, 1) - 1
             FROM ads LEFT JOIN ad_groups g ON g.ad_id = ads.id LEFT JOIN networks n ON n.id = g.network
             WHERE status IS NOT NULL",
        );
        let mut args: Vec<Value> = Vec::new();
        let mut add = |clause: &str, v: Value| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(s) = f.status {
            add("status =", s.as_str().into());
        }
        if let Some(l) = f.lang {
            add("ads.lang =", l.code().into());
        }
        if let Some(o) = &f.office {
            add("ads.office =", o.into());
        }
        if let Some(m) = f.min_score {
            add("ads.score >=", m.into());
        }
        if let Some(m) = f.max_score {
            add("ads.score <=", m.into());
        }
        if let Some(t) = &f.from {
            add("submitted_at >=", t.into());
        }
        if let Some(t) = &f.to {
            add("submitted_at <", t.into());
        }
        if let Some(u) = &f.assigned_to {
            add("assigned_to =", u.into());
        }
        if let Some(i) = f.indicator {
            let bit = self.indicator_bits.get(i.id()).copied().unwrap_or(0);
            args.push(bit.into());
            sql.push_str(&format!(" AND (ads.flagged_bits & ?{}) <> 0", args.len()));
        }
        let order = match f.order {
            Order::Risk => "ads.score DESC".to_string(),
            Order::Network => "n.network_score DESC NULLS LAST, ads.score DESC".to_string(),
            Order::Uncertain(t) => format!("abs(ads.score - {t}) ASC"),
        };
        sql.push_str(&format!(
            " ORDER BY {order}, ads.id LIMIT {} OFFSET {}",
            f.limit.max(1),
            f.offset
        ));
        self.db.query_map(&sql, &args, |r| {
            Ok(QueueItem {
                id: r.get(0)?,
                ext_id: r.get(1)?,
                score: r.get(2)?,
                lang: r.get(3)?,
                office: r.get(4)?,
                status: r.get::<String>(5)?.parse().map_err(anyhow::Error::msg)?,
                top_indicators: top_indicators(&r.get::<String>(6)?)?,
                preview: preview(&r.get::<String>(7)?),
                assigned_to: r.get(8)?,
                submitted_at: r.get(9)?,
                linked: r.get(10)?,
            })
        })
    }

    fn get(&self, id: i64) -> Result<Option<StoredAd>> {
        let Some(r) = self.db.query_opt(
            "SELECT status, scored, text, translation, metadata, label, label_indicators, office, assigned_to, escalated_to FROM ads WHERE id = ?1",
            params![id],
        )?
        else {
            return Ok(None);
        };
        let mut metadata: serde_json::Value = serde_json::from_str(&r.get::<String>(4)?)?;
        metadata["office"] = json!(r.get::<Option<String>>(7)?);
        let label = match r.get::<Option<bool>>(5)? {
            Some(suspicious) => Some(Label {
                suspicious,
                indicators: serde_json::from_str(
                    r.get::<Option<String>>(6)?.as_deref().unwrap_or("[]"),
                )?,
            }),
            None => None,
        };
        Ok(Some(StoredAd {
            id,
            status: r
                .get::<Option<String>>(0)?
                .map(|s| s.parse().map_err(anyhow::Error::msg))
                .transpose()?,
            scored: serde_json::from_str(&r.get::<String>(1)?)?,
            text: r.get(2)?,
            translation: r.get(3)?,
            metadata,
            label,
            assigned_to: r.get(8)?,
            escalated_to: r.get(9)?,
            history: self.history(id)?,
        }))
    }

    fn read(&mut self, id: i64, user: &str) -> Result<Option<StoredAd>> {
        let ad = self.get(id)?;
        if ad.is_some() {
            let tx = self.db.transaction()?;
            append(&*tx, user, "read", Some(&id.to_string()), None, None)?;
            tx.commit()?;
        }
        Ok(ad)
    }

    fn labeled(&self) -> Result<Vec<AdRecord>> {
        self.db.query_map(
            "SELECT id, ext_id, lang, text, translation, metadata, office, label, label_indicators
             FROM ads WHERE label IS NOT NULL ORDER BY id",
            &[],
            |r| {
                let metadata: serde_json::Value = serde_json::from_str(&r.get::<String>(5)?)?;
                let translation = match (
                    r.get::<Option<String>>(4)?,
                    metadata["translation_lang"].as_str(),
                ) {
                    (Some(text), Some(l)) => Some(Translation {
                        lang: l.parse().map_err(anyhow::Error::msg)?,
                        text,
                    }),
                    _ => None,
                };
                Ok(AdRecord {
                    id: format!("store-{}:{}", r.get::<i64>(0)?, r.get::<String>(1)?),
                    lang: r
                        .get::<Option<String>>(2)?
                        .map(|l| l.parse().map_err(anyhow::Error::msg))
                        .transpose()?,
                    text: r.get(3)?,
                    translation,
                    label: Some(r.get::<bool>(7)? as u8),
                    indicators: serde_json::from_str(
                        r.get::<Option<String>>(8)?.as_deref().unwrap_or("[]"),
                    )?,
                    office: r.get(6)?,
                    ..AdRecord::default()
                })
            },
        )
    }

    fn id_of(&self, ad: &ScoredAd) -> Result<Option<i64>> {
        self.db
            .query_opt(
                "SELECT id FROM ads WHERE content_key = ?1",
                params![ad.ad.record.content_key()],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    fn apply(&mut self, id: i64, change: &Change, user: &str) -> Result<Option<Status>> {
        let tx = self.db.transaction()?;
        let before = triage_state(&*tx, id)?;
        let from = before["status"]
            .as_str()
            .map(|s| s.parse::<Status>().expect("stored statuses are valid"));
        let to = change.next_status(id, from)?;
        let mut e = event(user, change.action(), from, to);
        match change {
            Change::Label { label, note } => {
                tx.execute(
                    "UPDATE ads SET label = ?1, label_indicators = ?2 WHERE id = ?3",
                    params![
                        label.suspicious,
                        serde_json::to_string(&label.indicators)?,
                        id
                    ],
                )?;
                e.label = Some(label.clone());
                e.note = note.clone();
            }
            Change::Escalate { office, reason } => {
                tx.execute(
                    "UPDATE ads SET escalated_to = ?1 WHERE id = ?2",
                    params![office, id],
                )?;
                e.target = Some(office.clone());
                e.note = Some(reason.clone());
            }
            Change::Dismiss { note } => e.note = note.clone(),
            Change::Assign { to } => {
                tx.execute(
                    "UPDATE ads SET assigned_to = ?1, claim_expires = NULL WHERE id = ?2",
                    params![to.as_deref(), id],
                )?;
                e.target = to.clone();
            }
            Change::Note { text } => e.note = Some(text.clone()),
        }
        tx.execute(
            "UPDATE ads SET status = ?1 WHERE id = ?2",
            params![to.map(Status::as_str), id],
        )?;
        record_event(&*tx, id, &e)?;
        let mut after = triage_state(&*tx, id)?;
        if let Change::Note { text } = change {
            after["note"] = json!(text);
        }
        append(
            &*tx,
            user,
            change.action(),
            Some(&id.to_string()),
            Some(&before),
            Some(&after),
        )?;
        tx.commit()?;
        Ok(to)
    }

    fn claim(&mut self, user: &str, minutes: u32) -> Result<Option<Claim>> {
        let tx = self.db.transaction()?;
        let at = now();
        // Other servers' claims in flight hold their row locked: skip those rows, not wait.
        let sql = format!(
            "SELECT id FROM ads WHERE status = 'new' AND (assigned_to IS NULL OR claim_expires < ?1)
             ORDER BY score DESC, id LIMIT 1{}",
            tx.dialect().skip_locked()
        );
        let Some(row) = tx.query_opt(&sql, params![&at])? else {
            return Ok(None);
        };
        let id: i64 = row.get(0)?;
        let expires = (chrono::Utc::now() + chrono::Duration::minutes(minutes.into()))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let before = triage_state(&*tx, id)?;
        tx.execute(
            "UPDATE ads SET assigned_to = ?1, claim_expires = ?2 WHERE id = ?3",
            params![user, &expires, id],
        )?;
        let mut e = event(user, "claim", Some(Status::New), Some(Status::New));
        e.target = Some(user.to_string());
        e.note = Some(format!("claimed until {expires}"));
        record_event(&*tx, id, &e)?;
        let mut after = triage_state(&*tx, id)?;
        after["claim_expires"] = json!(expires);
        append(
            &*tx,
            user,
            "claim",
            Some(&id.to_string()),
            Some(&before),
            Some(&after),
        )?;
        tx.commit()?;
        Ok(Some(Claim { id, expires }))
    }
}

/// An ad's triage state, as the audit log records it before and after a change; the row is
/// locked until the transaction ends, so that two analysts' changes apply one after the other.
fn triage_state(tx: &dyn Db, id: i64) -> Result<serde_json::Value> {
    let sql = format!(
        "SELECT status, label, label_indicators, assigned_to, escalated_to FROM ads WHERE id = ?1{}",
        tx.dialect().for_update()
    );
    let r = tx.query_opt(&sql, params![id])?.ok_or_else(|| {
        anyhow::Error::from(Refusal::NotFound(format!(
            "no ad with id {id} in the store: `adscreen queue list` shows the ids"
        )))
    })?;
    Ok(json!({
        "status": r.get::<Option<String>>(0)?,
        "label": r.get::<Option<bool>>(1)?,
        "indicators": r.get::<Option<String>>(2)?
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()),
        "assigned_to": r.get::<Option<String>>(3)?,
        "escalated_to": r.get::<Option<String>>(4)?,
    }))
}

impl SqlStore {
    fn history(&self, id: i64) -> Result<Vec<Event>> {
        let status = |s: Option<String>| {
            s.map(|s| s.parse::<Status>().map_err(anyhow::Error::msg))
                .transpose()
        };
        self.db.query_map(
            "SELECT at, \"user\", action, from_status, to_status, label, note, target FROM events WHERE ad_id = ?1 ORDER BY id",
            params![id],
            |r| {
                Ok(Event {
                    at: r.get(0)?,
                    user: r.get(1)?,
                    action: r.get(2)?,
                    from_status: status(r.get(3)?)?,
                    to_status: status(r.get(4)?)?,
                    label: r
                        .get::<Option<String>>(5)?
                        .map(|l| serde_json::from_str(&l))
                        .transpose()?,
                    note: r.get(6)?,
                    target: r.get(7)?,
                })
            },
        )
    }
}

/// The three highest indicators of a stored `score` output.
fn top_indicators(scored: &str) -> Result<Vec<(String, f64)>> {
    let v: serde_json::Value = serde_json::from_str(scored)?;
    let mut pairs: Vec<(String, f64)> = v["indicators"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, s)| (k.clone(), s.as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort_by(|a, b| b.1.total_cmp(&a.1));
    pairs.truncate(3);
    Ok(pairs)
}

/// The start of the text on one line, for lists.
fn preview(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = flat.chars().take(70).collect();
    if flat.chars().count() > 70 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(dir: &tempfile::TempDir) -> Location {
        Location::Sqlite(dir.path().join("s.db"))
    }

    #[test]
    fn creates_a_versioned_wal_store_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open(&temp_store(&dir)).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::latest());
        let mode: String = store.db().value("PRAGMA journal_mode", &[]).unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        let again = SqlStore::open(&temp_store(&dir)).unwrap();
        assert_eq!(again.schema_version().unwrap(), schema::latest());
    }

    #[test]
    fn refuses_a_store_from_a_newer_adscreen() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::open(&temp_store(&dir)).unwrap();
        db.script("PRAGMA user_version = 99").unwrap();
        drop(db);
        let err = SqlStore::open(&temp_store(&dir)).err().unwrap();
        assert!(format!("{err:#}").contains("upgrade adscreen"), "{err:#}");
    }

    #[test]
    fn workflow_allows_only_forward_moves() {
        assert!(Status::New.can_become(Status::InReview));
        assert!(Status::InReview.can_become(Status::Escalated));
        assert!(!Status::Dismissed.can_become(Status::Escalated));
        assert!(!Status::Escalated.can_become(Status::New));
    }
}
