//! The append-only audit log: every read of an ad's full text, every triage change, every
//! submission, user, token and model decision, with who, when, and the state before and after.
//!
//! The store refuses to change or delete a written entry (SQLite triggers raise on `UPDATE` and
//! `DELETE`), so the log is only ever appended to.

use anyhow::Result;
use rusqlite::{params, Transaction};
use serde::Serialize;
use serde_json::Value;

use super::sqlite::now;
use super::SqliteStore;

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the log.
    pub id: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub user: String,
    /// What: `read`, `label`, `escalate`, `dismiss`, `assign`, `note`, `submit`, `login`,
    /// `user_add`, `token_add`, `model_promote`, `model_refuse`, `report`, `export`.
    pub action: String,
    /// What it was done to: an ad id, a user name, an input name, a model directory.
    pub target: Option<String>,
    /// The state before, for changes.
    pub before: Option<Value>,
    /// The state after, or the figures of a decision.
    pub after: Option<Value>,
}

/// Which entries to list; unset fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this user's actions.
    pub user: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only entries about this target (e.g. an ad id).
    pub target: Option<String>,
    /// At most this many entries, newest first.
    pub limit: usize,
}

/// Writing and reading the audit log.
pub trait AuditLog {
    /// Appends one entry now.
    fn audit(
        &mut self,
        user: &str,
        action: &str,
        target: Option<&str>,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()>;
    /// Entries matching the filter, newest first.
    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

/// Appends one entry inside a transaction the caller commits with the change it records.
pub(super) fn append(
    tx: &Transaction,
    user: &str,
    action: &str,
    target: Option<&str>,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (at, user, action, target, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now(),
            user,
            action,
            target,
            before.map(Value::to_string),
            after.map(Value::to_string)
        ],
    )?;
    Ok(())
}

impl AuditLog for SqliteStore {
    fn audit(
        &mut self,
        user: &str,
        action: &str,
        target: Option<&str>,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()> {
        let tx = self.write()?;
        append(&tx, user, action, target, before, after)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_entries(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, user, action, target, before, after FROM audit
             WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR target = ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![f.user, f.action, f.target, f.limit.max(1) as i64],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            },
        )?;
        let json = |s: Option<String>| -> Result<Option<Value>> {
            Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
        };
        rows.map(|row| {
            let (id, at, user, action, target, before, after) = row?;
            Ok(AuditEntry {
                id,
                at,
                user,
                action,
                target,
                before: json(before)?,
                after: json(after)?,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_cannot_be_changed_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("a.db")).unwrap();
        store.audit("ana", "read", Some("1"), None, None).unwrap();
        let update = store.conn.execute("UPDATE audit SET user = 'eve'", []);
        let delete = store.conn.execute("DELETE FROM audit", []);
        for err in [update.unwrap_err(), delete.unwrap_err()] {
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        let entries = store.audit_entries(&AuditFilter {
            limit: 10,
            ..Default::default()
        });
        assert_eq!(entries.unwrap()[0].user, "ana");
    }
}
