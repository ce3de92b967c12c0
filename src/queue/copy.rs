//! `adscreen copy`: moves a whole store into another one — an office's SQLite file into the
//! shared PostgreSQL database — without loss: every table, ids kept, then each table's row count
//! and checksum compared on both sides.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use crate::db::{Db, Dialect, Row, Value};
use crate::params;

/// Every table of the store, parents before children (foreign keys).
const TABLES: &[&str] = &[
    "users",
    "ads",
    "events",
    "sessions",
    "api_tokens",
    "audit",
    "indicator_bits",
    "ad_contacts",
    "contacts",
    "ad_signatures",
    "lsh_buckets",
    "template_links",
    "ad_groups",
    "networks",
    "stop_contacts",
    "link_settings",
    "models",
    "model_files",
];

/// Tables whose `id` is an identity column: PostgreSQL's sequence must move past the copied ids.
const IDENTITIES: &[&str] = &["ads", "events", "audit", "models"];

/// Tables the migrations fill with defaults, replaced by the source's rows.
const SEEDED: &[&str] = &["indicator_bits", "link_settings"];

/// Rows read and written per round.
const CHUNK: usize = 5_000;

/// One table as copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    /// The table.
    pub table: &'static str,
    /// Rows in the source.
    pub source_rows: usize,
    /// Rows in the destination afterwards.
    pub copied_rows: usize,
    /// Checksum of the source's rows (order-independent).
    pub source_sum: String,
    /// Checksum of the destination's rows.
    pub copied_sum: String,
}

impl TableCopy {
    /// Whether the destination holds exactly the source's rows.
    pub fn matches(&self) -> bool {
        self.source_rows == self.copied_rows && self.source_sum == self.copied_sum
    }
}

/// Copies every table of `from` into `to` (both at the latest schema) in one transaction, then
/// compares counts and checksums. `to` must hold no ads, users or audit entries.
pub fn copy(from: &dyn Db, to: &dyn Db) -> Result<Vec<TableCopy>> {
    for table in ["ads", "users", "audit"] {
        let n: i64 = to.value(&format!("SELECT count(*) FROM {table}"), &[])?;
        if n > 0 {
            bail!(
                "{} already holds {n} rows in {table}: copy into a new, empty store (`adscreen migrate --db URL` prepares one)",
                to.location()
            );
        }
    }
    let tx = to.transaction()?;
    tx.serialize_writers()?;
    for table in TABLES {
        if SEEDED.contains(table) {
            tx.execute(&format!("DELETE FROM {table}"), &[])?;
        }
        let columns = columns(from, table)?;
        let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        let mut chunk = Vec::with_capacity(CHUNK);
        from.each(&format!("SELECT * FROM {table}"), &[], &mut |row| {
            chunk.push(row);
            if chunk.len() == CHUNK {
                tx.insert_rows(table, &columns, &chunk)?;
                chunk.clear();
            }
            Ok(())
        })?;
        tx.insert_rows(table, &columns, &chunk)?;
    }
    if tx.dialect() == Dialect::Postgres {
        for table in IDENTITIES {
            tx.query(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table} HAVING max(id) IS NOT NULL"
                ),
                &[],
            )?;
        }
    }
    tx.commit()?;
    TABLES
        .iter()
        .map(|&table| {
            let (source_rows, source_sum) = checksum(from, table)?;
            let (copied_rows, copied_sum) = checksum(to, table)?;
            Ok(TableCopy {
                table,
                source_rows,
                copied_rows,
                source_sum,
                copied_sum,
            })
        })
        .collect()
}

/// A table's column names, in order.
fn columns(db: &dyn Db, table: &str) -> Result<Vec<String>> {
    let names: Vec<String> =
        db.query_map(db.dialect().columns_sql(), params![table], |r| r.get(0))?;
    if names.is_empty() {
        bail!("{} has no table {table}", db.location());
    }
    Ok(names)
}

/// The row count and an order-independent checksum of a table: the SHA-256 of each row's
/// values (with their kinds), summed as 256-bit numbers, so that both engines agree whatever
/// order they return rows in.
pub fn checksum(db: &dyn Db, table: &str) -> Result<(usize, String)> {
    let columns = columns(db, table)?;
    let select: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let (mut rows, mut sum) = (0usize, [0u64; 4]);
    db.each(
        &format!("SELECT {} FROM {table}", select.join(", ")),
        &[],
        &mut |row| {
            rows += 1;
            let digest = row_digest(&row);
            let mut carry = 0u64;
            for (i, word) in sum.iter_mut().enumerate() {
                let d = u64::from_le_bytes(digest[8 * i..8 * i + 8].try_into().expect("8 bytes"));
                let (s1, c1) = word.overflowing_add(d);
                let (s2, c2) = s1.overflowing_add(carry);
                *word = s2;
                carry = u64::from(c1) + u64::from(c2);
            }
            Ok(())
        },
    )?;
    let hex: String = sum.iter().rev().map(|w| format!("{w:016x}")).collect();
    Ok((rows, hex))
}

fn row_digest(row: &Row) -> [u8; 32] {
    let mut h = Sha256::new();
    for v in &row.0 {
        match v {
            Value::Null => h.update([0]),
            Value::Int(i) => {
                h.update([1]);
                h.update(i.to_le_bytes());
            }
            Value::Real(f) => {
                h.update([2]);
                h.update(f.to_bits().to_le_bytes());
            }
            Value::Text(t) => {
                h.update([3]);
                h.update((t.len() as u64).to_le_bytes());
                h.update(t.as_bytes());
            }
            Value::Blob(b) => {
                h.update([4]);
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            }
        }
    }
    h.finalize().into()
}
