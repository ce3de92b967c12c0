//! The store's schema: one list of migrations, applied in order to SQLite files and PostgreSQL
//! databases alike.
//!
//! Each migration is portable DDL (see [`Dialect::ddl`]: `{id}` identity keys, SQLite type
//! names that become PostgreSQL's) plus, where the two engines differ (triggers, JSON
//! backfills), a part for each. SQLite files record their version in `PRAGMA user_version`,
//! PostgreSQL databases in the one-row table `adscreen_schema`. Never edit a shipped migration:
//! add one.

use anyhow::{bail, Result};

use crate::db::{Db, Dialect};

/// One schema version.
struct Migration {
    /// DDL both engines run.
    both: &'static str,
    /// Then SQLite's own part.
    sqlite: &'static str,
    /// Then PostgreSQL's own part.
    postgres: &'static str,
}

/// The schema, one migration per version; version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        both: r#"
CREATE TABLE ads (
    id              {id},
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
    id          {id},
    ad_id       INTEGER NOT NULL REFERENCES ads (id),
    at          TEXT NOT NULL,
    "user"      TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    label       TEXT,
    note        TEXT
);
CREATE INDEX events_ad ON events (ad_id);
"#,
        sqlite: "",
        postgres: "",
    },
    Migration {
        both: r#"
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
    "user"      TEXT NOT NULL REFERENCES users (name),
    csrf        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE TABLE api_tokens (
    token_hash  TEXT PRIMARY KEY,
    "user"      TEXT NOT NULL REFERENCES users (name),
    created_at  TEXT NOT NULL
);
CREATE TABLE audit (
    id      {id},
    at      TEXT NOT NULL,
    "user"  TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    before  TEXT,                              -- JSON
    after   TEXT                               -- JSON
);
CREATE INDEX audit_target ON audit (target);
"#,
        // The audit log is append-only whatever the database role may do; PostgreSQL also
        // refuses TRUNCATE. README's multi-site section gives the grants that back this up.
        sqlite: r#"
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
        postgres: r#"
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"#,
    },
    // Reports (src/report/) group a period's ads in one pass over an index that covers what they
    // group by: the publication and the model's flagged indicators (one bit per indicator, bit
    // numbers in `indicator_bits`) become plain columns, written on insert (by a trigger in
    // SQLite files up to version 4) and backfilled here.
    Migration {
        both: r#"
CREATE TABLE indicator_bits (indicator TEXT PRIMARY KEY, bit INTEGER NOT NULL UNIQUE);
INSERT INTO indicator_bits VALUES ('deceptive_pay', 0), ('no_qualifications', 1),
    ('travel_arranged', 2), ('recruitment_fees_debt', 3), ('document_irregularity', 4),
    ('vague_employer', 5), ('targets_vulnerable', 6), ('ambiguous_work', 7),
    ('urgency_pressure', 8), ('controlled_living', 9), ('marriage_offer', 10);
ALTER TABLE ads ADD COLUMN publication TEXT;
ALTER TABLE ads ADD COLUMN flagged_bits INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ads_period ON ads (submitted_at, office, lang, publication, flagged, flagged_bits);
CREATE INDEX ads_flagged ON ads (submitted_at, office) WHERE flagged = 1;
CREATE INDEX events_decisions ON events (action, at, ad_id);
"#,
        sqlite: r#"
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
"#,
        // A new database has no ads to backfill.
        postgres: "",
    },
    Migration {
        both: r#"
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
        sqlite: "",
        postgres: "",
    },
    // Several servers: claims that expire, and promoted models kept in the store so that every
    // server, on any machine, picks up the same one.
    Migration {
        both: r#"
ALTER TABLE ads ADD COLUMN claim_expires TEXT;  -- set while `assigned_to` holds a claim, not an assignment
CREATE TABLE models (
    id          {id},
    digest      TEXT NOT NULL,                  -- SHA-256 over the bundle's files
    promoted_at TEXT NOT NULL,
    promoted_by TEXT NOT NULL
);
CREATE TABLE model_files (
    model INTEGER NOT NULL REFERENCES models (id),
    name  TEXT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (model, name)
);
"#,
        // The report columns are now written by the insert itself, on both engines.
        sqlite: "DROP TRIGGER ads_report_columns;",
        postgres: "",
    },
    // The LSH bands, signatures and template links are an index over the ads that linking
    // writes (about 20 band rows per ad) and `network rebuild` recomputes: checking each row's
    // ad as a foreign key doubled the cost of storing them. SQLite cannot drop a constraint, so
    // its tables are rebuilt.
    Migration {
        both: "",
        sqlite: r#"
CREATE TABLE ad_bands_v6 (
    band_key INTEGER NOT NULL,                 -- band number << 56 | hash of the band
    ad_id    INTEGER NOT NULL,                 -- ads (id)
    PRIMARY KEY (band_key, ad_id)
) WITHOUT ROWID;
INSERT INTO ad_bands_v6 (band_key, ad_id) SELECT band_key, ad_id FROM ad_bands;
DROP TABLE ad_bands;
ALTER TABLE ad_bands_v6 RENAME TO ad_bands;
CREATE TABLE ad_signatures_v6 (
    ad_id     INTEGER NOT NULL,                -- ads (id)
    signature BLOB NOT NULL                    -- 64 little-endian u32 MinHash values
);
INSERT INTO ad_signatures_v6 (ad_id, signature) SELECT ad_id, signature FROM ad_signatures;
DROP TABLE ad_signatures;
ALTER TABLE ad_signatures_v6 RENAME TO ad_signatures;
CREATE INDEX ad_signatures_ad ON ad_signatures (ad_id);
CREATE TABLE template_links_v6 (
    ad_id      INTEGER NOT NULL,               -- the newer ad: ads (id)
    other      INTEGER NOT NULL,               -- the older one: ads (id)
    similarity REAL NOT NULL,
    PRIMARY KEY (ad_id, other)
) WITHOUT ROWID;
INSERT INTO template_links_v6 (ad_id, other, similarity) SELECT ad_id, other, similarity FROM template_links;
DROP TABLE template_links;
ALTER TABLE template_links_v6 RENAME TO template_links;
CREATE INDEX template_links_other ON template_links (other);
"#,
        postgres: r#"
ALTER TABLE ad_bands DROP CONSTRAINT IF EXISTS ad_bands_ad_id_fkey;
ALTER TABLE ad_signatures DROP CONSTRAINT IF EXISTS ad_signatures_ad_id_fkey;
ALTER TABLE template_links DROP CONSTRAINT IF EXISTS template_links_ad_id_fkey;
ALTER TABLE template_links DROP CONSTRAINT IF EXISTS template_links_other_fkey;
"#,
    },
    // Linking compares a new ad with the 4 most recent ads of each of its LSH buckets only
    // (`link::BUCKET_CANDIDATES`), so `ad_bands` now keeps just those: older rows are never read,
    // and every batch of re-posts dirtied every page of the ever-growing index. Each network's
    // member sums (`link::stats::Members`, JSON) let a batch update a network's figures without
    // reading all its members; NULL until a batch or a rebuild writes them. `contacts` counts
    // each contact's carriers and notes when they are all in one network, so linking an ad
    // through a contact reads one row instead of every carrier's. `linked_ads` counts the rows
    // of `ad_groups`, which each batch needs and counting read whole.
    Migration {
        both: r#"
CREATE TABLE contacts (
    contact TEXT PRIMARY KEY,                  -- as in ad_contacts
    ads     INTEGER NOT NULL,                  -- ads carrying it
    latest  INTEGER NOT NULL,                  -- the most recent of them: ads (id)
    joined  INTEGER NOT NULL                   -- 1 when they are all in one network
);
INSERT INTO contacts (contact, ads, latest, joined)
    SELECT contact, count(*), max(ad_id), 0 FROM ad_contacts GROUP BY contact;
ALTER TABLE link_settings ADD COLUMN linked_ads INTEGER NOT NULL DEFAULT 0;
UPDATE link_settings SET linked_ads = (SELECT count(*) FROM ad_groups);
DELETE FROM ad_bands WHERE (band_key, ad_id) IN (
    SELECT band_key, ad_id FROM (
        SELECT band_key, ad_id,
               row_number() OVER (PARTITION BY band_key ORDER BY ad_id DESC) AS newer
        FROM ad_bands
    ) AS ranked
    WHERE newer > 4
);
ALTER TABLE networks ADD COLUMN members TEXT;
"#,
        sqlite: "",
        postgres: "",
    },
    // One row per LSH bucket holding the ids of its most recent ads (`link::buckets`), instead
    // of one row per ad and bucket: a batch reads a bucket by its key alone and writes each
    // bucket it changed once. A submit of 100,000 re-posts made 2 M band-row inserts and 2 M
    // deletes, against 750 k bucket upserts now.
    Migration {
        both: r#"
CREATE TABLE lsh_buckets (
    band_key INTEGER PRIMARY KEY,              -- band number << 56 | hash of the band
    ads      TEXT NOT NULL                     -- ids of its most recent ads, newest first: 6,5,4,3
);
"#,
        sqlite: r#"
INSERT INTO lsh_buckets (band_key, ads)
    SELECT band_key, group_concat(ad_id, ',' ORDER BY ad_id DESC) FROM ad_bands GROUP BY band_key;
DROP TABLE ad_bands;
"#,
        postgres: r#"
INSERT INTO lsh_buckets (band_key, ads)
    SELECT band_key, string_agg(ad_id::text, ',' ORDER BY ad_id DESC) FROM ad_bands GROUP BY band_key;
DROP TABLE ad_bands;
"#,
    },
];

/// The schema version this adscreen writes.
pub fn latest() -> usize {
    MIGRATIONS.len()
}

/// The schema version of the open store (0 for an empty one).
pub fn version(db: &dyn Db) -> Result<usize> {
    match db.dialect() {
        Dialect::Sqlite => db.value::<usize>("PRAGMA user_version", &[]),
        Dialect::Postgres => {
            if !db.value::<bool>("SELECT to_regclass('adscreen_schema') IS NOT NULL", &[])? {
                return Ok(0);
            }
            Ok(db
                .query_opt("SELECT version FROM adscreen_schema", &[])?
                .map(|r| r.get::<usize>(0))
                .transpose()?
                .unwrap_or(0))
        }
    }
}

fn set_version(db: &dyn Db, v: usize) -> Result<()> {
    match db.dialect() {
        Dialect::Sqlite => db.script(&format!("PRAGMA user_version = {v}")),
        Dialect::Postgres => {
            db.script("CREATE TABLE IF NOT EXISTS adscreen_schema (version BIGINT NOT NULL)")?;
            db.execute("DELETE FROM adscreen_schema", &[])?;
            db.execute(
                "INSERT INTO adscreen_schema (version) VALUES (?1)",
                crate::params![v],
            )?;
            Ok(())
        }
    }
}

/// Applies the migrations the store has not seen, in one transaction; returns the versions
/// before and after.
pub fn migrate(db: &dyn Db) -> Result<(usize, usize)> {
    migrate_to(db, MIGRATIONS.len())
}

/// Brings the store up to schema version `target` (older stores, for the migration tests).
fn migrate_to(db: &dyn Db, target: usize) -> Result<(usize, usize)> {
    let before = version(db)?;
    if before >= target && before <= MIGRATIONS.len() {
        return Ok((before, before));
    }
    // The version read again inside the transaction, under the writers' lock: a second process
    // opening the same new store at the same moment waits for the first one's schema instead of
    // creating it twice.
    let tx = db.transaction()?;
    tx.serialize_writers()?;
    let current = version(&*tx)?;
    if current > MIGRATIONS.len() {
        bail!(
            "the store has schema version {current}, newer than this adscreen knows ({}): upgrade adscreen",
            MIGRATIONS.len()
        );
    }
    let dialect = tx.dialect();
    for (i, m) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let own = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        tx.script(&dialect.ddl(m.both))?;
        tx.script(own)?;
        set_version(&*tx, i + 1)?;
    }
    tx.commit()?;
    Ok((current, target.max(current)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch::ScratchDatabase;
    use crate::db::{open, Location};
    use crate::params;

    /// The rows of a table, as text, in a fixed order.
    fn rows(db: &dyn Db, sql: &str) -> Vec<String> {
        db.query_map(sql, &[], |r| {
            Ok((0..r.0.len())
                .map(|i| format!("{:?}", r.0[i]))
                .collect::<Vec<_>>()
                .join(" "))
        })
        .unwrap()
    }

    /// A version-5 store with one linked ad keeps its bands, signature and template link through
    /// version 6, which stops checking them against `ads`.
    fn v6_keeps_the_link_index(location: &Location) {
        let db = open(location).unwrap();
        migrate_to(&*db, 5).unwrap();
        assert_eq!(version(&*db).unwrap(), 5);
        db.execute(
            "INSERT INTO ads (content_key, ext_id, text, metadata, score, flagged, scored, model_version, submitted_at, source)
             VALUES ('k', 'a', 'text', '{}', 0.5, 0, '{}', 'm', '2026-01-01T00:00:00Z', 'test')",
            &[],
        )
        .unwrap();
        let id: i64 = db.value("SELECT id FROM ads", &[]).unwrap();
        db.execute(
            "INSERT INTO ad_bands (band_key, ad_id) VALUES (?1, ?2)",
            params![42, id],
        )
        .unwrap();
        db.execute(
            "INSERT INTO ad_signatures (ad_id, signature) VALUES (?1, ?2)",
            params![id, vec![1_u8, 2, 3]],
        )
        .unwrap();
        db.execute(
            "INSERT INTO template_links (ad_id, other, similarity) VALUES (?1, ?1, 0.75)",
            params![id],
        )
        .unwrap();
        let tables = [
            "SELECT band_key, ad_id FROM ad_bands",
            "SELECT ad_id, signature FROM ad_signatures",
            "SELECT ad_id, other, similarity FROM template_links",
        ];
        let before: Vec<Vec<String>> = tables.iter().map(|t| rows(&*db, t)).collect();

        assert_eq!(migrate_to(&*db, 6).unwrap(), (5, 6));
        let after: Vec<Vec<String>> = tables.iter().map(|t| rows(&*db, t)).collect();
        assert_eq!(after, before);
        // Rows are no longer checked against `ads` (the engines' foreign-key checks are on).
        db.execute(
            "INSERT INTO ad_bands (band_key, ad_id) VALUES (7, 999)",
            &[],
        )
        .unwrap();
        db.execute(
            "INSERT INTO template_links (ad_id, other, similarity) VALUES (998, 999, 1)",
            &[],
        )
        .unwrap();
        // The lookups linking makes still use the indexes.
        assert_eq!(
            rows(&*db, "SELECT ad_id FROM ad_bands WHERE band_key = 42"),
            [format!("Int({id})")]
        );
    }

    /// A version-6 store keeps, through version 7, the 4 most recent ads of each LSH bucket and
    /// gets each contact's carriers counted; version 8 moves each bucket into one row.
    fn v7_prunes_buckets_and_counts_contacts(location: &Location) {
        let db = open(location).unwrap();
        migrate_to(&*db, 6).unwrap();
        for n in 1..=3 {
            db.execute(
                "INSERT INTO ads (content_key, ext_id, text, metadata, score, flagged, scored, model_version, submitted_at, source)
                 VALUES (?1, ?1, 'text', '{}', 0.5, 0, '{}', 'm', '2026-01-01T00:00:00Z', 'test')",
                params![format!("ad-{n}")],
            )
            .unwrap();
        }
        let ids: Vec<i64> = db
            .query_map("SELECT id FROM ads ORDER BY id", &[], |r| r.get(0))
            .unwrap();
        for &id in &ids {
            db.execute(
                "INSERT INTO ad_contacts (contact, ad_id) VALUES ('phone:+15550001', ?1)",
                params![id],
            )
            .unwrap();
        }
        for id in 1..=6 {
            db.execute(
                "INSERT INTO ad_bands (band_key, ad_id) VALUES (42, ?1)",
                params![id],
            )
            .unwrap();
        }
        db.execute("INSERT INTO ad_bands (band_key, ad_id) VALUES (7, 1)", &[])
            .unwrap();

        assert_eq!(migrate_to(&*db, 7).unwrap(), (6, 7));
        assert_eq!(
            rows(
                &*db,
                "SELECT band_key, ad_id FROM ad_bands ORDER BY band_key, ad_id"
            ),
            [
                "Int(7) Int(1)",
                "Int(42) Int(3)",
                "Int(42) Int(4)",
                "Int(42) Int(5)",
                "Int(42) Int(6)"
            ]
        );
        assert_eq!(
            rows(&*db, "SELECT contact, ads, latest, joined FROM contacts"),
            [format!(
                "Text(\"phone:+15550001\") Int(3) Int({}) Int(0)",
                ids[2]
            )]
        );

        // Version 8 keeps each bucket's ads in one row, newest first.
        assert_eq!(migrate(&*db).unwrap(), (7, latest()));
        assert_eq!(
            rows(
                &*db,
                "SELECT band_key, ads FROM lsh_buckets ORDER BY band_key"
            ),
            ["Int(7) Text(\"1\")", "Int(42) Text(\"6,5,4,3\")"]
        );
    }

    #[test]
    fn versions_7_and_8_prune_buckets_count_contacts_and_fold_buckets_on_both_engines() {
        let dir = tempfile::tempdir().unwrap();
        v7_prunes_buckets_and_counts_contacts(&Location::Sqlite(dir.path().join("s.db")));
        if let Some(pg) = ScratchDatabase::from_env("version_7_prunes_buckets") {
            v7_prunes_buckets_and_counts_contacts(&Location::Postgres(pg.url().into()));
        }
    }

    #[test]
    fn version_6_keeps_the_link_index_on_both_engines() {
        let dir = tempfile::tempdir().unwrap();
        v6_keeps_the_link_index(&Location::Sqlite(dir.path().join("s.db")));
        if let Some(pg) = ScratchDatabase::from_env("version_6_keeps_the_link_index") {
            v6_keeps_the_link_index(&Location::Postgres(pg.url().into()));
        }
    }
}
