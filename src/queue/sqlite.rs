//! The embedded store: one SQLite file, WAL mode, a versioned schema, one transaction per batch.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::json;

use super::{
    BatchOutcome, Event, Filter, Label, Order, QueueItem, Status, Store, StoredAd, Submission,
};
use crate::link::index::Linker;
use crate::link::stats::AdFacets;
use crate::link::AdKeys;
use crate::model::bundle::sha256_hex;
use crate::model::ScoredAd;

/// The schema, one migration per version; version `i + 1` is `MIGRATIONS[i]`. Never edit a
/// shipped migration: add one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE ads (
    id              INTEGER PRIMARY KEY,
    content_key     TEXT NOT NULL UNIQUE,      -- SHA-256 of text and translation: resubmits are skipped
    ext_id          TEXT NOT NULL,
    lang            TEXT,                      -- declared, else detected
    lang_detected   TEXT,
    text            TEXT NOT NULL,
    translation     TEXT,
    office          TEXT,
    metadata        TEXT NOT NULL,             -- JSON: publication, published, section, notes, extra fields
    score           REAL NOT NULL,
    flagged         INTEGER NOT NULL,
    scored          TEXT NOT NULL,             -- JSON: the `score` output
    model_version   TEXT NOT NULL,
    status          TEXT,                      -- NULL unless flagged
    label           INTEGER,
    label_indicators TEXT,
    submitted_at    TEXT NOT NULL,
    source          TEXT NOT NULL,
    source_line     INTEGER
);
CREATE INDEX ads_queue ON ads (status, score DESC);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    ad_id       INTEGER NOT NULL REFERENCES ads (id),
    at          TEXT NOT NULL,
    user        TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    label       TEXT,
    note        TEXT
);
CREATE INDEX events_ad ON events (ad_id);
"#,
    r#"
-- Networks (src/link/): contacts, MinHash signatures and LSH bands per ad, template links,
-- each ad's network and template cluster, each network's score, the stop-list and thresholds.
CREATE TABLE ad_contacts (
    contact TEXT NOT NULL,                     -- key: phone:+52…, email:…, domain:…, telegram:…
    ad_id   INTEGER NOT NULL REFERENCES ads (id),
    PRIMARY KEY (contact, ad_id)
) WITHOUT ROWID;
CREATE INDEX ad_contacts_ad ON ad_contacts (ad_id);
CREATE TABLE ad_signatures (
    ad_id     INTEGER NOT NULL REFERENCES ads (id),
    signature BLOB NOT NULL                    -- 64 little-endian u32 MinHash values
);
CREATE INDEX ad_signatures_ad ON ad_signatures (ad_id);
CREATE TABLE ad_bands (
    band_key INTEGER NOT NULL,                 -- band number << 56 | hash of the band
    ad_id    INTEGER NOT NULL REFERENCES ads (id),
    PRIMARY KEY (band_key, ad_id)
) WITHOUT ROWID;
CREATE TABLE template_links (
    ad_id      INTEGER NOT NULL REFERENCES ads (id),   -- the newer ad
    other      INTEGER NOT NULL REFERENCES ads (id),   -- the older one
    similarity REAL NOT NULL,
    PRIMARY KEY (ad_id, other)
) WITHOUT ROWID;
CREATE INDEX template_links_other ON template_links (other);
CREATE TABLE ad_groups (
    ad_id       INTEGER PRIMARY KEY REFERENCES ads (id),
    network     INTEGER NOT NULL,              -- id of the oldest ad of its network
    cluster     INTEGER NOT NULL,              -- id of the oldest ad of its template cluster
    -- copied from ads, so that group figures read these small rows, not the ads with their texts
    score       REAL NOT NULL,
    office      TEXT,
    lang        TEXT,
    publication TEXT
);
CREATE INDEX ad_groups_network ON ad_groups (network);
CREATE INDEX ad_groups_cluster ON ad_groups (cluster);
CREATE TABLE networks (
    id            INTEGER PRIMARY KEY,
    size          INTEGER NOT NULL,
    network_score REAL NOT NULL
);
CREATE INDEX networks_score ON networks (network_score DESC);
CREATE TABLE stop_contacts (
    contact  TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE link_settings (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    common_share REAL NOT NULL,
    common_min   INTEGER NOT NULL
);
INSERT INTO link_settings (id, common_share, common_min) VALUES (1, 0.01, 20);
"#,
];

/// The default store file when neither `--db` nor `ADSCREEN_DB` is given.
pub const DEFAULT_DB: &str = "adscreen.db";

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open the store {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Linking looks up index pages all over a large store (LSH bands, contacts): SQLite's
        // default 2 MB page cache made every lookup a read from the OS.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "mmap_size", 1_i64 << 30)?;
        migrate(&mut conn)
            .with_context(|| format!("cannot migrate the store {}", path.display()))?;
        Ok(SqliteStore { conn })
    }

    /// The connection, for the stages that keep their own tables in the store (networks).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, for changes that need a transaction.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<usize> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize)
    }

    fn status_of(tx: &Transaction, id: i64) -> Result<Option<Status>> {
        let status: Option<Option<String>> = tx
            .query_row("SELECT status FROM ads WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        match status {
            None => bail!("no ad with id {id} in the store: `adscreen queue list` shows the ids"),
            Some(s) => Ok(s.map(|s| s.parse().expect("stored statuses are valid"))),
        }
    }
}

/// Applies the migrations the file has not seen, each in its own transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        bail!("the store has schema version {current}, newer than this adscreen knows ({}): upgrade adscreen", MIGRATIONS.len());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Appends one event to an ad's history.
fn record_event(tx: &Transaction, ad: i64, e: &Event) -> Result<()> {
    tx.execute(
        "INSERT INTO events (ad_id, at, user, action, from_status, to_status, label, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            ad,
            e.at,
            e.user,
            e.action,
            e.from_status.map(Status::as_str),
            e.to_status.map(Status::as_str),
            e.label.as_ref().map(|l| serde_json::to_string(l).expect("labels serialize")),
            e.note
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
    }
}

/// The key under which an ad is stored once.
fn content_key(ad: &ScoredAd) -> String {
    let r = &ad.ad.record;
    let translation = r.translation.as_ref().map_or("", |t| t.text.as_str());
    sha256_hex(format!("{}\u{0}{}", r.text, translation).as_bytes())
}

impl Store for SqliteStore {
    fn submit(&mut self, batch: &[ScoredAd], who: &Submission) -> Result<BatchOutcome> {
        let tx = self.conn.transaction()?;
        let mut linker = Linker::new(&tx)?;
        let mut outcome = BatchOutcome::default();
        let at = now();
        for ad in batch {
            let r = &ad.ad.record;
            let status = ad.flagged.then_some(Status::New);
            let office = r.office.as_deref().or(who.office);
            let metadata = json!({
                "publication": r.publication, "published": r.published, "section": r.section,
                "submitted_by": r.submitted_by, "notes": r.notes, "translation_lang": r.translation.as_ref().map(|t| t.lang),
                "extra": r.extra,
            });
            let inserted = tx.execute(
                "INSERT INTO ads (content_key, ext_id, lang, lang_detected, text, translation, office, metadata, score, flagged, scored, model_version, status, submitted_at, source, source_line)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL)
                 ON CONFLICT (content_key) DO NOTHING",
                params![
                    content_key(ad),
                    r.id,
                    ad.ad.lang().map(|l| l.code()),
                    ad.lang.map(|l| l.code()),
                    r.text,
                    r.translation.as_ref().map(|t| &t.text),
                    office,
                    metadata.to_string(),
                    ad.score,
                    ad.flagged,
                    serde_json::to_string(ad)?,
                    ad.model_version,
                    status.map(Status::as_str),
                    at,
                    who.source,
                ],
            )?;
            if inserted == 0 {
                outcome.duplicates += 1;
                continue;
            }
            outcome.stored += 1;
            outcome.queued += ad.flagged as usize;
            let id = tx.last_insert_rowid();
            record_event(&tx, id, &event(who.user, "submitted", None, status))?;
            let facets = AdFacets {
                score: ad.score,
                office,
                lang: ad.ad.lang().map(|l| l.code()),
                publication: r.publication.as_deref(),
            };
            linker.add(&AdKeys::of_scored(id, ad), &facets)?;
        }
        linker.finish()?;
        tx.commit()?;
        Ok(outcome)
    }

    fn list(&self, f: &Filter) -> Result<Vec<QueueItem>> {
        let mut sql = String::from(
            "SELECT ads.id, ext_id, ads.score, ads.lang, ads.office, status, scored, text, COALESCE(n.size, 1) - 1
             FROM ads LEFT JOIN ad_groups g ON g.ad_id = ads.id LEFT JOIN networks n ON n.id = g.network
             WHERE status IS NOT NULL",
        );
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        let mut add = |clause: &str, v: Box<dyn rusqlite::ToSql>| {
            args.push(v);
            sql.push_str(&format!(" AND {clause} ?{}", args.len()));
        };
        if let Some(s) = f.status {
            add("status =", Box::new(s.as_str()));
        }
        if let Some(l) = f.lang {
            add("ads.lang =", Box::new(l.code()));
        }
        if let Some(o) = &f.office {
            add("ads.office =", Box::new(o.clone()));
        }
        if let Some(m) = f.min_score {
            add("ads.score >=", Box::new(m));
        }
        if let Some(i) = f.indicator {
            add(
                "EXISTS (SELECT 1 FROM json_each(scored, '$.flagged_indicators') WHERE value =",
                Box::new(i.id()),
            );
            sql.push(')');
        }
        let network_first = match f.order {
            Order::Score => "",
            Order::Network => "n.network_score DESC NULLS LAST, ",
        };
        sql.push_str(&format!(
            " ORDER BY {network_first}ads.score DESC, ads.id LIMIT {}",
            f.limit.max(1)
        ));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(
            rusqlite::params_from_iter(args.iter().map(|b| b.as_ref())),
            |r| {
                let scored: String = r.get(6)?;
                let text: String = r.get(7)?;
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get::<_, String>(5)?,
                    scored,
                    text,
                    r.get::<_, i64>(8)?,
                ))
            },
        )?;
        rows.map(|row| {
            let (id, ext_id, score, lang, office, status, scored, text, linked) = row?;
            Ok(QueueItem {
                id,
                ext_id,
                score,
                lang,
                office,
                status: status.parse().map_err(anyhow::Error::msg)?,
                top_indicators: top_indicators(&scored)?,
                preview: preview(&text),
                linked: linked as usize,
            })
        })
        .collect()
    }

    fn get(&self, id: i64) -> Result<Option<StoredAd>> {
        let row = self
            .conn
            .query_row(
                "SELECT status, scored, text, translation, metadata, label, label_indicators, office FROM ads WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<bool>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((status, scored, text, translation, metadata, label, tags, office)) = row else {
            return Ok(None);
        };
        let mut metadata: serde_json::Value = serde_json::from_str(&metadata)?;
        metadata["office"] = json!(office);
        let label = match label {
            Some(suspicious) => Some(Label {
                suspicious,
                indicators: serde_json::from_str(tags.as_deref().unwrap_or("[]"))?,
            }),
            None => None,
        };
        Ok(Some(StoredAd {
            id,
            status: status
                .map(|s| s.parse().map_err(anyhow::Error::msg))
                .transpose()?,
            scored: serde_json::from_str(&scored)?,
            text,
            translation,
            metadata,
            label,
            history: self.history(id)?,
        }))
    }

    fn label(&mut self, id: i64, label: &Label, user: &str, note: Option<&str>) -> Result<Status> {
        let tx = self.conn.transaction()?;
        let from = Self::status_of(&tx, id)?;
        let to = match from {
            Some(Status::New) => Some(Status::InReview),
            other => other,
        };
        tx.execute(
            "UPDATE ads SET label = ?1, label_indicators = ?2, status = ?3 WHERE id = ?4",
            params![
                label.suspicious,
                serde_json::to_string(&label.indicators)?,
                to.map(Status::as_str),
                id
            ],
        )?;
        let e = Event {
            label: Some(label.clone()),
            note: note.map(String::from),
            ..event(user, "label", from, to)
        };
        record_event(&tx, id, &e)?;
        tx.commit()?;
        Ok(to.unwrap_or(Status::InReview))
    }

    fn transition(
        &mut self,
        id: i64,
        to: Status,
        user: &str,
        note: Option<&str>,
    ) -> Result<Status> {
        let tx = self.conn.transaction()?;
        let from = Self::status_of(&tx, id)?;
        match from {
            None => bail!("ad {id} is not in the queue (it was not flagged): label it instead"),
            Some(f) if !f.can_become(to) => {
                bail!("ad {id} is {f}: only new or in_review ads can become {to}")
            }
            Some(_) => {}
        }
        tx.execute(
            "UPDATE ads SET status = ?1 WHERE id = ?2",
            params![to.as_str(), id],
        )?;
        let action = if to == Status::Escalated {
            "escalate"
        } else {
            "dismiss"
        };
        record_event(
            &tx,
            id,
            &Event {
                note: note.map(String::from),
                ..event(user, action, from, Some(to))
            },
        )?;
        tx.commit()?;
        Ok(to)
    }
}

impl SqliteStore {
    fn history(&self, id: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, user, action, from_status, to_status, label, note FROM events WHERE ad_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get(6)?,
            ))
        })?;
        rows.map(|row| {
            let (at, user, action, from, to, label, note) = row?;
            let status = |s: Option<String>| {
                s.map(|s| s.parse::<Status>().map_err(anyhow::Error::msg))
                    .transpose()
            };
            Ok(Event {
                at,
                user,
                action,
                from_status: status(from)?,
                to_status: status(to)?,
                label: label.map(|l| serde_json::from_str(&l)).transpose()?,
                note,
            })
        })
        .collect()
    }
}

/// The three highest indicators of a stored `score` output.
fn top_indicators(scored: &str) -> Result<Vec<(String, f32)>> {
    let v: serde_json::Value = serde_json::from_str(scored)?;
    let mut pairs: Vec<(String, f32)> = v["indicators"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, s)| (k.clone(), s.as_f64().unwrap_or(0.0) as f32))
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

    #[test]
    fn creates_a_versioned_wal_store_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        assert_eq!(
            SqliteStore::open(&path).unwrap().schema_version().unwrap(),
            MIGRATIONS.len()
        );
    }

    #[test]
    fn refuses_a_store_from_a_newer_adscreen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
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
