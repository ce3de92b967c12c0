//! The SQL layer every stored table goes through: one connection trait, two back ends.
//!
//! The queue, the network tables, reports and exports write their SQL once, in the subset that
//! SQLite and PostgreSQL share, and run it through [`Db`]:
//!
//! 1. placeholders are `?1`, `?2`, … (or bare `?`); the PostgreSQL back end rewrites each into a
//!    typed `$k::int8 | float8 | text | bytea` from the value bound to it, and a bound
//!    [`Value::Null`] into a plain `NULL`, so that PostgreSQL never has to guess a parameter's type;
//! 2. columns are `BIGINT`-like integers, doubles, text and blobs, read back as [`Value`]s
//!    (PostgreSQL booleans read as 0/1 and numerics as integers or doubles, as SQLite gives them);
//! 3. what still differs (JSON functions, row locks, the DDL of identity columns) is asked of
//!    [`Dialect`], never spelled twice in the callers.
//!
//! A [`Db`] is opened from a store location by [`open`]: a `postgres://` URL, or a SQLite file
//! path (optionally written `sqlite:PATH`).

pub mod postgres;
pub mod scratch;
pub mod sqlite;

use std::fmt;
use std::ops::Deref;

use anyhow::{anyhow, bail, Context, Result};

/// One SQL value, as both back ends store it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (also booleans, as 0 and 1).
    Int(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The value's kind, for error messages.
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v as $as)
            }
        }
    )*};
}
value_from!(i64 => Int as i64, i32 => Int as i64, u32 => Int as i64, usize => Int as i64,
    f64 => Real as f64, f32 => Real as f64);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}

/// Text as stored: PostgreSQL's text cannot hold U+0000 (an ad's text may: hostile input), so
/// on both engines it is stored as U+FFFD, the replacement character.
fn storable(v: String) -> Value {
    if v.contains('\0') {
        Value::Text(v.replace('\0', "\u{FFFD}"))
    } else {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        storable(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        storable(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        storable(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The bound values of one statement: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[$crate::db::Value] };
    ($($v:expr),+ $(,)?) => { &[$($crate::db::Value::from($v)),+] as &[$crate::db::Value] };
}

/// A Rust type a column can be read as.
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, found {}", other.kind())),
        }
    }
}

impl FromValue for usize {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        usize::try_from(i64::from_value(v)?).map_err(|e| e.to_string())
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {}", other.kind())),
        }
    }
}

impl FromValue for f32 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(f64::from_value(v)? as f32)
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {}", other.kind())),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(format!("expected a blob, found {}", other.kind())),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| anyhow!("the query returned no column {i}"))?;
        T::from_value(v).map_err(|e| anyhow!("column {i}: {e}"))
    }
}

/// Which SQL the connection speaks, for the few things written differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded file.
    Sqlite,
    /// The shared server.
    Postgres,
}

impl Dialect {
    /// The elements of a JSON array of strings held in a text expression, as a one-column
    /// table named `value`: `… IN (SELECT value FROM {json_strings(expr)})`.
    pub fn json_strings(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_each({expr})"),
            Dialect::Postgres => format!("jsonb_array_elements_text(({expr})::jsonb) AS value"),
        }
    }

    /// A member of a JSON object held in a text expression, as text.
    pub fn json_text(self, expr: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({expr}, '$.{key}')"),
            Dialect::Postgres => format!("(({expr})::jsonb ->> '{key}')"),
        }
    }

    /// A query listing `table`'s columns in order (bind the table name as `?1`).
    pub fn columns_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            Dialect::Postgres => {
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = ?1 AND table_schema = current_schema() ORDER BY ordinal_position"
            }
        }
    }

    /// A condition on a member of a JSON object held in a text expression: true when the member
    /// is JSON `true` (SQLite's `json_extract` gives 1 for it, PostgreSQL's `->>` the text
    /// `'true'`, so [`Dialect::json_text`] cannot be compared the same way on both).
    pub fn json_true(self, expr: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("(json_extract({expr}, '$.{key}') = 1)"),
            Dialect::Postgres => format!("((({expr})::jsonb -> '{key}') = 'true'::jsonb)"),
        }
    }

    /// The suffix that locks the rows a `SELECT` inside a write transaction reads, so that
    /// a concurrent writer waits (SQLite's write transactions already exclude each other).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// The suffix that locks the row a claim picks and skips rows other claims hold.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Turns the migrations' portable DDL into this dialect's: `{id}` is an identity primary
    /// key; `INTEGER`, `REAL` and `BLOB` columns become `BIGINT`, `DOUBLE PRECISION` and `BYTEA`
    /// on PostgreSQL; `WITHOUT ROWID` (a SQLite storage choice) is dropped there.
    pub fn ddl(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => sql.replace("{id}", "INTEGER PRIMARY KEY"),
            Dialect::Postgres => {
                let sql = sql
                    .replace(
                        "{id}",
                        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                    )
                    .replace(" WITHOUT ROWID", "");
                replace_words(
                    &sql,
                    &[
                        ("INTEGER", "BIGINT"),
                        ("REAL", "DOUBLE PRECISION"),
                        ("BLOB", "BYTEA"),
                    ],
                )
            }
        }
    }
}

/// Replaces whole upper-case words only, so that a column named `integer_count` stays.
fn replace_words(sql: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let w = pairs
            .iter()
            .find(|(from, _)| from == word)
            .map_or(word.as_str(), |(_, to)| to);
        out.push_str(w);
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// One open connection to a store's database. Statements are prepared once per connection
/// and reused.
pub trait Db: Send {
    /// Which SQL this connection speaks.
    fn dialect(&self) -> Dialect;
    /// Runs one statement; returns the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<usize>;
    /// Runs one query, handing each row to `f` as it arrives (a million-row export is not
    /// held in memory).
    fn each(&self, sql: &str, params: &[Value], f: &mut dyn FnMut(Row) -> Result<()>)
        -> Result<()>;
    /// Runs several statements without parameters (migrations).
    fn script(&self, sql: &str) -> Result<()>;
    /// Starts a write transaction. SQLite takes the write lock at once: a transaction that
    /// reads and then writes could not wait for another writer, its snapshot being stale.
    fn begin(&self) -> Result<()>;
    /// Serializes this transaction with every other one that calls it, across processes and
    /// servers (linking reads what earlier submissions stored, then writes links to it).
    fn serialize_writers(&self) -> Result<()>;
    /// A short description of where the data lives, for messages (`store.db`, `postgres://host/db`).
    fn location(&self) -> &str;
    /// Whether the connection is gone (a database server restarted): the caller opens another.
    fn is_closed(&self) -> bool {
        false
    }
    /// Inserts rows into `table` (columns named in order) as fast as the engine allows:
    /// prepared inserts on SQLite, `COPY … FROM STDIN` on PostgreSQL. For `adscreen copy` and a
    /// submitted batch's LSH bands and signatures.
    fn insert_rows(&self, table: &str, columns: &[&str], rows: &[Row]) -> Result<()>;
}

impl<'c> dyn Db + 'c {
    /// Every row of a query.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.query_map(sql, params, |r| Ok(r.clone()))
    }

    /// Every row of a query, each converted by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql, params, &mut |row| {
            out.push(f(&row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        let mut first = None;
        self.each(sql, params, &mut |row| {
            first.get_or_insert(row);
            Ok(())
        })?;
        Ok(first)
    }

    /// The first column of the first row: for counts and single lookups.
    pub fn value<T: FromValue>(&self, sql: &str, params: &[Value]) -> Result<T> {
        self.query_opt(sql, params)?
            .ok_or_else(|| anyhow!("the query returned no row"))?
            .get(0)
    }

    /// Starts a write transaction, rolled back unless committed.
    pub fn transaction(&self) -> Result<Tx<'_, 'c>> {
        self.begin()?;
        Ok(Tx {
            db: self,
            done: false,
        })
    }
}

/// A write transaction: commit it, or it is rolled back when dropped.
pub struct Tx<'a, 'c> {
    db: &'a (dyn Db + 'c),
    done: bool,
}

impl Tx<'_, '_> {
    /// Makes the transaction's changes durable.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.db.script("COMMIT")
    }
}

impl<'c> Deref for Tx<'_, 'c> {
    type Target = dyn Db + 'c;
    fn deref(&self) -> &Self::Target {
        self.db
    }
}

impl Drop for Tx<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            // An error here means the connection is gone, which rolls back anyway.
            let _ = self.db.script("ROLLBACK");
        }
    }
}

/// Where a store lives: a PostgreSQL URL, or a SQLite file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
    /// A file path (`sqlite:` prefix removed).
    Sqlite(std::path::PathBuf),
}

impl Location {
    /// Reads a `--db` value.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_string())
        } else {
            Location::Sqlite(s.strip_prefix("sqlite:").unwrap_or(s).into())
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Postgres(url) => f.write_str(&postgres::redact_password(url)),
            Location::Sqlite(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Opens a connection to the database at `location`.
pub fn open(location: &Location) -> Result<Box<dyn Db>> {
    Ok(match location {
        Location::Postgres(url) => Box::new(
            postgres::PgDb::connect(url)
                .with_context(|| format!("cannot connect to the store {location}"))?,
        ),
        Location::Sqlite(path) => Box::new(
            sqlite::SqliteDb::open(path)
                .with_context(|| format!("cannot open the store {location}"))?,
        ),
    })
}

/// Rejects a second `?`-style index scheme the rewriter does not know, with the SQL in the
/// message (a programming error, caught by the tests on both back ends).
fn placeholder_error(sql: &str) -> anyhow::Error {
    anyhow!("bad placeholder in SQL: {sql}")
}

/// Splits `sql` at its placeholders: the literal pieces, and for each placeholder the
/// 0-based index of the value bound to it. Quotes and comments are skipped.
pub(crate) fn placeholders(sql: &str) -> Result<(Vec<&str>, Vec<usize>)> {
    let bytes = sql.as_bytes();
    let (mut pieces, mut indices) = (Vec::new(), Vec::new());
    let (mut start, mut i, mut next) = (0, 0, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => {
                pieces.push(&sql[start..i]);
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let index = if digits == 0 {
                    next + 1
                } else {
                    sql[i + 1..i + 1 + digits]
                        .parse::<usize>()
                        .map_err(|_| placeholder_error(sql))?
                };
                if index == 0 {
                    bail!(placeholder_error(sql));
                }
                next = next.max(index);
                indices.push(index - 1);
                i += 1 + digits;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    pieces.push(&sql[start..]);
    Ok((pieces, indices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_skip_quotes_and_comments() {
        let (pieces, idx) =
            placeholders("SELECT '?', \"a?\" FROM t -- what?\n WHERE a = ?2 AND b = ? OR c = ?1")
                .unwrap();
        assert_eq!(idx, vec![1, 2, 0]);
        assert_eq!(pieces.len(), 4);
        assert!(pieces[0].contains("'?'") && pieces[0].contains("what?"));
    }

    #[test]
    fn ddl_rewrites_types_only_as_whole_words() {
        let pg = Dialect::Postgres.ddl(
            "CREATE TABLE t (id {id}, n INTEGER NOT NULL, integer_count INTEGER, s REAL, b BLOB) WITHOUT ROWID;",
        );
        assert_eq!(pg, "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, integer_count BIGINT, s DOUBLE PRECISION, b BYTEA);");
        assert!(Dialect::Sqlite
            .ddl("x {id}")
            .ends_with("INTEGER PRIMARY KEY"));
    }

    #[test]
    fn text_is_stored_without_nul_characters() {
        assert_eq!(Value::from("a\0b"), Value::Text("a\u{FFFD}b".into()));
        assert_eq!(Value::from(String::from("ab")), Value::Text("ab".into()));
    }

    #[test]
    fn locations_are_urls_or_files() {
        assert_eq!(
            Location::parse("sqlite:a/b.db"),
            Location::Sqlite("a/b.db".into())
        );
        assert_eq!(Location::parse("b.db"), Location::Sqlite("b.db".into()));
        let pg = Location::parse("postgres://u:secret@h/db");
        assert!(matches!(pg, Location::Postgres(_)));
        assert!(!pg.to_string().contains("secret"));
    }
}
