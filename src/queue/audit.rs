//! The append-only audit log: every read of an ad's full text, every triage change, every
//! submission, user, token and model decision, with who, when, and the state before and after.
//!
//! The store refuses to change or delete a written entry (triggers raise on `UPDATE` and
//! `DELETE`, and on PostgreSQL `TRUNCATE`), so the log is only ever appended to.

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use super::store::now;
use super::SqlStore;
use crate::db::Db;
use crate::params;

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
    tx: &dyn Db,
    user: &str,
    action: &str,
    target: Option<&str>,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (at, \"user\", action, target, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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

impl AuditLog for SqlStore {
    fn audit(
        &mut self,
        user: &str,
        action: &str,
        target: Option<&str>,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()> {
        let tx = self.db().transaction()?;
        append(&*tx, user, action, target, before, after)?;
        tx.commit()
    }

    fn audit_entries(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let json = |s: Option<String>| -> Result<Option<Value>> {
            Ok(s.map(|s| serde_json::from_str(&s)).transpose()?)
        };
        self.db().query_map(
            "SELECT id, at, \"user\", action, target, before, after FROM audit
             WHERE (?1 IS NULL OR \"user\" = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR target = ?3)
             ORDER BY id DESC LIMIT ?4",
            params![
                f.user.as_deref(),
                f.action.as_deref(),
                f.target.as_deref(),
                f.limit.max(1)
            ],
            |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    user: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    before: json(r.get(5)?)?,
                    after: json(r.get(6)?)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_cannot_be_changed_or_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::db::Location::Sqlite(dir.path().join("a.db"));
        let mut store = SqlStore::open(&location).unwrap();
        store.audit("ana", "read", Some("1"), None, None).unwrap();
        let update = store.db().execute("UPDATE audit SET \"user\" = 'eve'", &[]);
        let delete = store.db().execute("DELETE FROM audit", &[]);
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
