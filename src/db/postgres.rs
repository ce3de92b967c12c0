//! The shared back end: a PostgreSQL database that several `adscreen serve` processes use at
//! once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::io::Write;

use anyhow::{anyhow, Result};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use super::{placeholders, Db, Dialect, Row, Value};

type BoxError = Box<dyn Error + Sync + Send>;

/// Prepared statements kept per connection.
const MAX_STATEMENTS: usize = 512;

/// A connection to a PostgreSQL database, with its prepared statements.
pub struct PgDb {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    location: String,
}

impl PgDb {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`).
    pub fn connect(url: &str) -> Result<Self> {
        let client = Client::connect(url, NoTls)?;
        Ok(PgDb {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            location: redact_password(url),
        })
    }

    /// Rewrites `?N` placeholders into typed `$k` ones (NULLs inlined) and prepares the result
    /// once; returns the statement and the values to bind, in `$k` order.
    fn prepare<'p>(&self, sql: &str, params: &'p [Value]) -> Result<(Statement, Vec<&'p Value>)> {
        let (pieces, indices) = placeholders(sql)?;
        let mut text = String::with_capacity(sql.len() + 8 * indices.len());
        let mut bound: Vec<usize> = Vec::new();
        for (piece, &index) in pieces.iter().zip(&indices) {
            text.push_str(piece);
            let v = params.get(index).ok_or_else(|| {
                anyhow!(
                    "SQL uses ?{} but {} values are bound: {sql}",
                    index + 1,
                    params.len()
                )
            })?;
            let cast = match v {
                Value::Null => {
                    text.push_str("NULL");
                    continue;
                }
                Value::Int(_) => "int8",
                Value::Real(_) => "float8",
                Value::Text(_) => "text",
                Value::Blob(_) => "bytea",
            };
            let k = match bound.iter().position(|&b| b == index) {
                Some(k) => k,
                None => {
                    bound.push(index);
                    bound.len() - 1
                }
            };
            text.push_str(&format!("${}::{cast}", k + 1));
        }
        text.push_str(pieces.last().expect("placeholders returns one more piece"));
        let values = bound.iter().map(|&i| &params[i]).collect();
        if let Some(s) = self.statements.borrow().get(&text) {
            return Ok((s.clone(), values));
        }
        let stmt = self.client.borrow_mut().prepare(&text)?;
        let mut statements = self.statements.borrow_mut();
        // Filters and IN lists make new texts; past this many, start the cache afresh.
        if statements.len() >= MAX_STATEMENTS {
            statements.clear();
        }
        statements.insert(text, stmt.clone());
        Ok((stmt, values))
    }
}

impl Db for PgDb {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        let (stmt, values) = self.prepare(sql, params)?;
        let values: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| *v as _).collect();
        Ok(self.client.borrow_mut().execute(&stmt, &values)? as usize)
    }

    fn each(
        &self,
        sql: &str,
        params: &[Value],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        let (stmt, values) = self.prepare(sql, params)?;
        let mut client = self.client.borrow_mut();
        let mut rows = client.query_raw(&stmt, values)?;
        while let Some(r) = rows.next()? {
            let row = (0..r.len())
                .map(|i| r.try_get::<_, PgValue>(i).map(|v| v.0))
                .collect::<Result<_, _>>()?;
            f(Row(row))?;
        }
        Ok(())
    }

    fn script(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    fn begin(&self) -> Result<()> {
        self.script("BEGIN")
    }

    fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }

    fn serialize_writers(&self) -> Result<()> {
        // One advisory lock, held to the end of the transaction, for every writer that links.
        self.script("SELECT pg_advisory_xact_lock(7226)")
    }

    fn location(&self) -> &str {
        &self.location
    }

    fn insert_rows(&self, table: &str, columns: &[&str], rows: &[Row]) -> Result<()> {
        let names: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let mut client = self.client.borrow_mut();
        let mut writer = client.copy_in(&format!(
            "COPY \"{table}\" ({}) FROM STDIN",
            names.join(", ")
        ))?;
        let mut line = String::new();
        for row in rows {
            line.clear();
            for (i, v) in row.0.iter().enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                copy_text(v, &mut line);
            }
            line.push('\n');
            writer.write_all(line.as_bytes())?;
        }
        writer.finish()?;
        Ok(())
    }
}

/// One value in `COPY`'s text format: `\N` for NULL, backslash escapes, bytea as `\\x…` hex.
fn copy_text(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("\\N"),
        Value::Int(i) => out.push_str(&i.to_string()),
        // Rust prints the shortest text that reads back as the same double.
        Value::Real(f) => out.push_str(&f.to_string()),
        Value::Text(t) => {
            for c in t.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    // PostgreSQL text cannot hold NUL (see `Value::from`); the checksum
                    // comparison then reports the table as differing.
                    '\0' => out.push('\u{FFFD}'),
                    c => out.push(c),
                }
            }
        }
        Value::Blob(b) => {
            out.push_str("\\\\x");
            for byte in b {
                out.push_str(&format!("{byte:02x}"));
            }
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Real(f) => f.to_sql(ty, out),
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every placeholder carries a cast matching its value's variant.
        true
    }

    to_sql_checked!();
}

/// A column read as a [`Value`], whatever PostgreSQL type it has.
struct PgValue(Value);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(raw.to_vec()),
            // jsonb's binary form is a version byte, then the text.
            Type::JSONB => Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or(&[]))?.into()),
            _ => Value::Text(std::str::from_utf8(raw)?.into()),
        };
        Ok(PgValue(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Decodes PostgreSQL's binary `numeric` (what `sum` and `avg` of integers return): base-10000
/// digits with a weight. Whole numbers read as integers, as SQLite gives them.
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(2 * i..2 * i + 2).ok_or("short numeric")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut x = 0f64;
    for i in 0..ndigits as usize {
        x += f64::from(word(4 + i)?) * 10000f64.powi(i32::from(weight) - i as i32);
    }
    if sign == 0x4000 {
        x = -x;
    }
    Ok(if dscale == 0 && x.abs() < 9.0e15 {
        Value::Int(x as i64)
    } else {
        Value::Real(x)
    })
}

/// The URL without its password, for messages and logs.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_string(),
    }
}
