//! The embedded back end: one SQLite file in WAL mode.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ToSql};

use super::{Db, Dialect, Row, Value};

/// A connection to a SQLite file.
pub struct SqliteDb {
    conn: Connection,
    location: String,
}

impl SqliteDb {
    /// Opens (creating if needed) the file, in WAL mode with a 30 s busy timeout.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Linking looks up index pages all over a large store (LSH bands, contacts): SQLite's
        // default 2 MB page cache made every lookup a read from the OS.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "mmap_size", 1_i64 << 30)?;
        // A submitted batch dirties index pages all over the store (LSH bands); checkpointing
        // the write-ahead log every 64 MB rather than every 4 MB copies each hot page into the
        // file once for many batches instead of once per batch.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        // Statements are prepared once and reused with new values. With the planner's STAT4
        // statistics (compiled into the bundled SQLite) a statement whose plan may depend on a
        // bound value is re-planned every time it is reused; the stability guarantee plans each
        // statement once, which our equality and range lookups on indexed columns want anyway.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(SqliteDb {
            conn,
            location: path.display().to_string(),
        })
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .execute(params_from_iter(params))?)
    }

    fn each(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params))?;
        while let Some(r) = rows.next()? {
            let row = (0..columns)
                .map(|i| r.get_ref(i).map(value))
                .collect::<rusqlite::Result<_>>()?;
            f(Row(row))?;
        }
        Ok(())
    }

    fn script(&self, sql: &str) -> Result<()> {
        Ok(self.conn.execute_batch(sql)?)
    }

    fn begin(&self) -> Result<()> {
        self.script("BEGIN IMMEDIATE")
    }

    fn serialize_writers(&self) -> Result<()> {
        // BEGIN IMMEDIATE already holds the file's one write lock.
        Ok(())
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn insert_rows(&self, table: &str, columns: &[&str], rows: &[Row]) -> Result<()> {
        let names: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        for row in rows {
            stmt.execute(params_from_iter(&row.0))?;
        }
        Ok(())
    }
}
