//! The embedded back end: one SQLite file in WAL mode.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, ToSql};

use super::{Db, Dialect, Row, Value};

/// Pages in the write-ahead log past which it is copied back into the file (64 MB). A
/// submitted batch dirties index pages all over the store (LSH buckets, contacts); copying
/// every 64 MB rather than SQLite's default 4 MB copies each hot page once for many batches.
const CHECKPOINT_PAGES: i32 = 16_384;

/// Pages in the log past which the writer checkpoints itself, after its commit (128 MB).
///
/// SQLite writes the log from its start again only when a write transaction begins with every
/// frame copied. The thread's copies run beside a writer that keeps committing, so they never
/// quite catch up: building a million-ad store grew the log to 10 GB. A checkpoint on the writer,
/// between its transactions, copies what the thread left (a commit or two; it first waits for a
/// copy the thread is making) and lets the next transaction start the log over.
const RESTART_PAGES: i32 = 2 * CHECKPOINT_PAGES;

/// Bytes of a statement journal kept in memory before SQLite moves it to a temporary file.
///
/// A statement that writes many rows (the multi-row inserts and upserts of linking, an insert
/// into a table with several indexes) keeps a journal that can undo it alone, a copy of every
/// page it touches. Past SQLite's default of 64 KB the journal goes to a file, one write per
/// page: a second of every 100,000-ad submit. A batch's largest statements journal a few MB.
const STATEMENT_JOURNAL_IN_MEMORY: i32 = 16 << 20;

/// Opens a connection, setting SQLite's process-wide options first.
///
/// SQLite accepts those only before its first connection; a process that opened one without
/// this function (none of adscreen's) keeps the defaults, which are slower but equally correct.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // SAFETY: `sqlite3_config` takes this option with one `int`; SQLite refuses it, with no
        // other effect, once it has been initialized.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                STATEMENT_JOURNAL_IN_MEMORY,
            );
        }
    });
    Connection::open(path)
}

/// A connection to a SQLite file.
pub struct SqliteDb {
    conn: Connection,
    location: String,
    checkpointer: Arc<Checkpointer>,
}

/// Copies the write-ahead log back into the database file on a thread of its own, with its own
/// connection, once the log holds [`CHECKPOINT_PAGES`].
///
/// SQLite's automatic checkpoint runs inside the COMMIT that crosses the mark, on the thread
/// that committed: for `submit` that is the store's writer, the serial chain every batch waits
/// on, and a checkpoint writes pages all over the file and syncs it twice. A passive checkpoint
/// from another connection runs beside the next transactions instead. The thread starts on the
/// first checkpoint, so connections that only read never start one.
struct Checkpointer {
    path: PathBuf,
    running: Mutex<Option<(SyncSender<()>, JoinHandle<()>)>>,
    /// Held by whoever of the thread and the writer is copying the log, so that the writer's
    /// own checkpoint (past [`RESTART_PAGES`]) never finds the thread's in the way.
    copying: Arc<Mutex<()>>,
}

impl Checkpointer {
    /// Asks for a checkpoint; false when no thread could be started for it.
    fn nudge(&self) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_none() {
            *running = Self::start(&self.path, Arc::clone(&self.copying)).ok();
        }
        match running.as_ref() {
            // A full channel means a checkpoint is already asked for.
            Some((wake, _)) => {
                let _ = wake.try_send(());
                true
            }
            None => false,
        }
    }

    fn start(path: &Path, copying: Arc<Mutex<()>>) -> Result<(SyncSender<()>, JoinHandle<()>)> {
        let conn = connect(path)?;
        let (wake, woken) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    let _copying = copying.lock().unwrap_or_else(|e| e.into_inner());
                    // PASSIVE waits for no reader or writer: what it cannot copy now, the next
                    // one will. A failure leaves the log longer, never the data unsafe.
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                }
            })?;
        Ok((wake, thread))
    }

    /// Checkpoints on the calling connection's thread, after the thread's copy if one is
    /// running. Errors are dropped: this runs after a commit, which has happened whatever the
    /// checkpoint does, and an error would only make COMMIT report a failure it did not have.
    fn copy_here(&self, wal: &mut rusqlite::hooks::Wal) {
        let _copying = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        let _ = wal.checkpoint();
    }

    /// Lets a running checkpoint finish and ends the thread, closing its connection.
    fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((wake, thread)) = running {
            drop(wake);
            let _ = thread.join();
        }
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        // Before the connection closes: the last connection to close copies what is left of the
        // log into the file and deletes it, and that should be this one.
        self.checkpointer.stop();
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the file, in WAL mode with a 30 s busy timeout.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = connect(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Linking looks up index pages all over a large store (LSH bands, contacts): SQLite's
        // default 2 MB page cache made every lookup a read from the OS.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "mmap_size", 1_i64 << 30)?;
        // Replaces SQLite's automatic checkpoint.
        let checkpointer = Arc::new(Checkpointer {
            path: path.to_path_buf(),
            running: Mutex::new(None),
            copying: Arc::default(),
        });
        let on_commit = Arc::clone(&checkpointer);
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
            if pages >= RESTART_PAGES || (pages >= CHECKPOINT_PAGES && !on_commit.nudge()) {
                on_commit.copy_here(wal);
            }
            Ok(())
        }))?;
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
            checkpointer,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params;

    /// Without SQLite's automatic checkpoint, only the thread copies the log into the file: if
    /// it never ran, the log would grow without end. A writer that never pauses must still see
    /// the log start over, or it grows by all that is written.
    #[test]
    fn the_log_is_copied_into_the_file_beside_the_writer_stays_bounded_and_is_removed_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let wal = dir.path().join("s.db-wal");
        let db = SqliteDb::open(&path).unwrap();
        db.script("CREATE TABLE t (b BLOB NOT NULL)").unwrap();
        let megabyte = vec![7_u8; 1 << 20];
        let pages_needed = CHECKPOINT_PAGES as u64 * 4096;
        let written = 3 * RESTART_PAGES as u64 * 4096;
        let mut longest_log = 0;
        for _ in 0..written >> 20 {
            db.begin().unwrap();
            db.execute("INSERT INTO t (b) VALUES (?1)", params![megabyte.clone()])
                .unwrap();
            db.script("COMMIT").unwrap();
            longest_log = longest_log.max(std::fs::metadata(&wal).unwrap().len());
        }
        // A frame is a page and a 24-byte header; the commit that crosses RESTART_PAGES is the
        // last before the log starts over.
        let bound = (RESTART_PAGES as u64 + 512) * (4096 + 24);
        assert!(
            longest_log <= bound,
            "the log grew to {longest_log} bytes of the {written} written (bound {bound})"
        );
        let copied = || std::fs::metadata(&path).unwrap().len() >= pages_needed;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !copied() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            copied(),
            "the log past {CHECKPOINT_PAGES} pages was not checkpointed"
        );
        drop(db);
        assert!(!wal.exists(), "closing left the log behind");
        let db = SqliteDb::open(&path).unwrap();
        let rows: i64 = (&db as &dyn Db)
            .value("SELECT count(*) FROM t", &[])
            .unwrap();
        assert_eq!(rows as u64, written >> 20);
    }
}
