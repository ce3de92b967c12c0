//! The embedded store: one SQLite file, WAL mode, a versioned schema, one transaction per batch.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::json;

use super::audit::append;
use super::{
    BatchOutcome, Change, Event, Filter, Label, Order, QueueItem, Refusal, Status, Store, StoredAd,
    Submission,
};
use crate::ingest::{AdRecord, Translation};
use crate::link::index::Linker;
use crate::link::stats::AdFacets;
use crate::link::AdKeys;
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
ALTER TABLE ads ADD COLUMN assigned_to TEXT;
ALTER TABLE ads ADD COLUMN escalated_to TEXT;
ALTER TABLE events ADD COLUMN target TEXT;     -- escalated to which office, assigned to whom
CREATE INDEX ads_submitted ON ads (submitted_at);
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('submitter', 'analyst', 'admin')),
    office        TEXT,
    password_hash TEXT NOT NULL,               -- argon2id, PHC string
    created_at    TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,              -- SHA-256 of the cookie: a stolen file holds no live session
    user        TEXT NOT NULL REFERENCES users (name),
    csrf        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE TABLE api_tokens (
    token_hash  TEXT PRIMARY KEY,
    user        TEXT NOT NULL REFERENCES users (name),
    created_at  TEXT NOT NULL
);
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    user    TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    before  TEXT,                              -- JSON
    after   TEXT                               -- JSON
);
CREATE INDEX audit_target ON audit (target);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    // Reports (src/report/) group a period's ads in one pass over an index that covers what they
    // group by: the publication and the model's flagged indicators (one bit per indicator, bit
    // numbers in `indicator_bits`) become plain columns, kept by a trigger and backfilled here.
    r#"
CREATE TABLE indicator_bits (indicator TEXT PRIMARY KEY, bit INTEGER NOT NULL UNIQUE);
INSERT INTO indicator_bits VALUES ('deceptive_pay', 0), ('no_qualifications', 1),
    ('travel_arranged', 2), ('recruitment_fees_debt', 3), ('document_irregularity', 4),
    ('vague_employer', 5), ('targets_vulnerable', 6), ('ambiguous_work', 7),
    ('urgency_pressure', 8), ('controlled_living', 9), ('marriage_offer', 10);
ALTER TABLE ads ADD COLUMN publication TEXT;
ALTER TABLE ads ADD COLUMN flagged_bits INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER ads_report_columns AFTER INSERT ON ads BEGIN
    UPDATE ads SET publication = json_extract(NEW.metadata, '$.publication'),
        flagged_bits = (SELECT coalesce(sum(1 << b.bit), 0)
                        FROM json_each(NEW.scored, '$.flagged_indicators') AS j
                        JOIN indicator_bits AS b ON b.indicator = j.value)
    WHERE id = NEW.id;
END;
UPDATE ads SET publication = json_extract(metadata, '$.publication'),
    flagged_bits = (SELECT coalesce(sum(1 << b.bit), 0)
                    FROM json_each(ads.scored, '$.flagged_indicators') AS j
                    JOIN indicator_bits AS b ON b.indicator = j.value);
CREATE INDEX ads_period ON ads (submitted_at, office, lang, publication, flagged, flagged_bits);
CREATE INDEX ads_flagged ON ads (submitted_at, office) WHERE flagged;
CREATE INDEX events_decisions ON events (action, at, ad_id);
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
    pub(super) conn: Connection,
}

/// The current time as stored: RFC 3339, UTC, milliseconds.
pub(super) fn now() -> String {
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

    /// A write transaction that takes the write lock at once (waiting up to the busy timeout):
    /// a transaction that reads first and then writes cannot wait for another writer, since its
    /// snapshot would be stale, and would fail at once with "database is locked".
    pub(super) fn write(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    /// The connection, for the stages that keep their own tables in the store (networks) and
    /// the read-only aggregates and exports of `report`.
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
}

/// Applies the migrations the file has not seen, in one transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    let version = |c: &Connection| -> Result<usize> {
        Ok(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize)
    };
    if version(conn)? == MIGRATIONS.len() {
        return Ok(());
    }
    // Immediate, and the version read again inside: a second process opening the same new file
    // at the same moment waits for the first one's schema instead of creating it twice.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = version(&tx)?;
    if current > MIGRATIONS.len() {
        bail!("the store has schema version {current}, newer than this adscreen knows ({}): upgrade adscreen", MIGRATIONS.len());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// Appends one event to an ad's history.
fn record_event(tx: &Transaction, ad: i64, e: &Event) -> Result<()> {
    tx.execute(
        "INSERT INTO events (ad_id, at, user, action, from_status, to_status, label, note, target) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            ad,
            e.at,
            e.user,
            e.action,
            e.from_status.map(Status::as_str),
            e.to_status.map(Status::as_str),
            e.label.as_ref().map(|l| serde_json::to_string(l).expect("labels serialize")),
            e.note,
            e.target
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

/// The key under which an ad is stored once.
fn content_key(ad: &ScoredAd) -> String {
    ad.ad.record.content_key()
}

impl Store for SqliteStore {
    fn submit(&mut self, batch: &[ScoredAd], who: &Submission) -> Result<BatchOutcome> {
        let tx = self.write()?;
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
        append(
            &tx,
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
        if let Some(m) = f.max_score {
            add("ads.score <=", Box::new(m));
        }
        if let Some(t) = &f.from {
            add("submitted_at >=", Box::new(t.clone()));
        }
        if let Some(t) = &f.to {
            add("submitted_at <", Box::new(t.clone()));
        }
        if let Some(u) = &f.assigned_to {
            add("assigned_to =", Box::new(u.clone()));
        }
        if let Some(i) = f.indicator {
            add(
                "EXISTS (SELECT 1 FROM json_each(scored, '$.flagged_indicators') WHERE value =",
                Box::new(i.id()),
            );
            sql.push(')');
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
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(
            rusqlite::params_from_iter(args.iter().map(|b| b.as_ref())),
            |r| {
                Ok(QueueRow {
                    id: r.get(0)?,
                    ext_id: r.get(1)?,
                    score: r.get(2)?,
                    lang: r.get(3)?,
                    office: r.get(4)?,
                    status: r.get(5)?,
                    scored: r.get(6)?,
                    text: r.get(7)?,
                    assigned_to: r.get(8)?,
                    submitted_at: r.get(9)?,
                    linked: r.get(10)?,
                })
            },
        )?;
        rows.map(|row| row?.into_item()).collect()
    }

    fn get(&self, id: i64) -> Result<Option<StoredAd>> {
        let row = self
            .conn
            .query_row(
                "SELECT status, scored, text, translation, metadata, label, label_indicators, office, assigned_to, escalated_to FROM ads WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        (
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, String>(4)?,
                        ),
                        (
                            r.get::<_, Option<bool>>(5)?,
                            r.get::<_, Option<String>>(6)?,
                            r.get::<_, Option<String>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, Option<String>>(9)?,
                        ),
                    ))
                },
            )
            .optional()?;
        let Some((
            (status, scored, text, translation, metadata),
            (label, tags, office, assigned_to, escalated_to),
        )) = row
        else {
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
            assigned_to,
            escalated_to,
            history: self.history(id)?,
        }))
    }

    fn read(&mut self, id: i64, user: &str) -> Result<Option<StoredAd>> {
        let ad = self.get(id)?;
        if ad.is_some() {
            let tx = self.write()?;
            append(&tx, user, "read", Some(&id.to_string()), None, None)?;
            tx.commit()?;
        }
        Ok(ad)
    }

    fn labeled(&self) -> Result<Vec<AdRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, ext_id, lang, text, translation, metadata, office, label, label_indicators
             FROM ads WHERE label IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ),
                (
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ),
                (
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, bool>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ),
            ))
        })?;
        rows.map(|row| {
            let ((id, ext_id, lang), (text, translation, metadata), (office, label, tags)) = row?;
            let metadata: serde_json::Value = serde_json::from_str(&metadata)?;
            let translation = match (translation, metadata["translation_lang"].as_str()) {
                (Some(text), Some(l)) => Some(Translation {
                    lang: l.parse().map_err(anyhow::Error::msg)?,
                    text,
                }),
                _ => None,
            };
            Ok(AdRecord {
                id: format!("store-{id}:{ext_id}"),
                lang: lang
                    .map(|l| l.parse().map_err(anyhow::Error::msg))
                    .transpose()?,
                text,
                translation,
                label: Some(label as u8),
                indicators: serde_json::from_str(tags.as_deref().unwrap_or("[]"))?,
                office,
                ..AdRecord::default()
            })
        })
        .collect()
    }

    fn id_of(&self, ad: &ScoredAd) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM ads WHERE content_key = ?1",
                [content_key(ad)],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn apply(&mut self, id: i64, change: &Change, user: &str) -> Result<Option<Status>> {
        let tx = self.write()?;
        let before = triage_state(&tx, id)?;
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
                    "UPDATE ads SET assigned_to = ?1 WHERE id = ?2",
                    params![to, id],
                )?;
                e.target = to.clone();
            }
            Change::Note { text } => e.note = Some(text.clone()),
        }
        tx.execute(
            "UPDATE ads SET status = ?1 WHERE id = ?2",
            params![to.map(Status::as_str), id],
        )?;
        record_event(&tx, id, &e)?;
        let mut after = triage_state(&tx, id)?;
        if let Change::Note { text } = change {
            after["note"] = json!(text);
        }
        append(
            &tx,
            user,
            change.action(),
            Some(&id.to_string()),
            Some(&before),
            Some(&after),
        )?;
        tx.commit()?;
        Ok(to)
    }
}

/// An ad's triage state, as the audit log records it before and after a change.
fn triage_state(tx: &Transaction, id: i64) -> Result<serde_json::Value> {
    tx.query_row(
        "SELECT status, label, label_indicators, assigned_to, escalated_to FROM ads WHERE id = ?1",
        [id],
        |r| {
            Ok(json!({
                "status": r.get::<_, Option<String>>(0)?,
                "label": r.get::<_, Option<bool>>(1)?,
                "indicators": r.get::<_, Option<String>>(2)?
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()),
                "assigned_to": r.get::<_, Option<String>>(3)?,
                "escalated_to": r.get::<_, Option<String>>(4)?,
            }))
        },
    )
    .optional()?
    .ok_or_else(|| {
        Refusal::NotFound(format!(
            "no ad with id {id} in the store: `adscreen queue list` shows the ids"
        ))
        .into()
    })
}

/// One queue row as read from SQL.
struct QueueRow {
    id: i64,
    ext_id: String,
    score: f32,
    lang: Option<String>,
    office: Option<String>,
    status: String,
    scored: String,
    text: String,
    assigned_to: Option<String>,
    submitted_at: String,
    linked: i64,
}

impl QueueRow {
    fn into_item(self) -> Result<QueueItem> {
        Ok(QueueItem {
            id: self.id,
            ext_id: self.ext_id,
            score: self.score,
            lang: self.lang,
            office: self.office,
            status: self.status.parse().map_err(anyhow::Error::msg)?,
            top_indicators: top_indicators(&self.scored)?,
            preview: preview(&self.text),
            assigned_to: self.assigned_to,
            submitted_at: self.submitted_at,
            linked: self.linked as usize,
        })
    }
}

impl SqliteStore {
    fn history(&self, id: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare(
            "SELECT at, user, action, from_status, to_status, label, note, target FROM events WHERE ad_id = ?1 ORDER BY id",
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
                r.get(7)?,
            ))
        })?;
        rows.map(|row| {
            let (at, user, action, from, to, label, note, target) = row?;
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
                target,
            })
        })
        .collect()
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
    fn upgrading_fills_the_report_columns_of_stored_ads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let v1 = Connection::open(&path).unwrap();
        v1.execute_batch(MIGRATIONS[0]).unwrap();
        v1.pragma_update(None, "user_version", 1).unwrap();
        v1.execute(
            "INSERT INTO ads (content_key, ext_id, text, metadata, score, flagged, scored, model_version, submitted_at, source)
             VALUES ('k', 'a', 'x', '{\"publication\": \"El Sol\"}', 0.9, 1,
                     '{\"flagged_indicators\": [\"travel_arranged\", \"marriage_offer\"]}', 'm', '2027-01-01', 's')",
            [],
        )
        .unwrap();
        drop(v1);
        let store = SqliteStore::open(&path).unwrap();
        let (publication, bits): (String, i64) = store
            .conn
            .query_row("SELECT publication, flagged_bits FROM ads", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(
            (publication.as_str(), bits),
            ("El Sol", (1 << 2) | (1 << 10))
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
