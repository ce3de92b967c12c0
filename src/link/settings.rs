//! What makes a contact non-identifying, as kept in the store: the stop-list and the
//! common-contact thresholds.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::CommonRule;

/// A contact an analyst declared non-identifying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopEntry {
    /// Contact key (`phone:+…`).
    pub contact: String,
    /// Why (e.g. "El Diario switchboard").
    pub reason: String,
    /// Who added it.
    pub added_by: String,
    /// When (RFC 3339, UTC).
    pub added_at: String,
}

/// The store's common-contact thresholds.
pub fn common_rule(conn: &Connection) -> Result<CommonRule> {
    Ok(conn.query_row(
        "SELECT common_share, common_min FROM link_settings WHERE id = 1",
        [],
        |r| {
            Ok(CommonRule {
                share: r.get(0)?,
                min_ads: r.get::<_, i64>(1)? as usize,
            })
        },
    )?)
}

/// Saves new common-contact thresholds (they apply from the next rebuild and submit on).
pub fn set_common_rule(conn: &Connection, rule: &CommonRule) -> Result<()> {
    conn.execute(
        "UPDATE link_settings SET common_share = ?1, common_min = ?2 WHERE id = 1",
        params![rule.share, rule.min_ads as i64],
    )?;
    Ok(())
}

/// Why a contact links nothing, if it does not: stop-listed, or carried by too many of the
/// store's `total` ads.
pub fn why_ignored(
    conn: &Connection,
    rule: &CommonRule,
    contact: &str,
    total: usize,
) -> Result<Option<String>> {
    if let Some(reason) = stop_reason(conn, contact)? {
        return Ok(Some(format!("stop-listed: {reason}")));
    }
    let carriers: i64 = conn
        .prepare_cached("SELECT count(*) FROM ad_contacts WHERE contact = ?1")?
        .query_row([contact], |r| r.get(0))?;
    let carriers = carriers as usize;
    Ok(rule.is_common(carriers, total).then(|| {
        format!(
            "common: on {carriers} of {total} ads (more than {}% and at least {})",
            rule.share * 100.0,
            rule.min_ads
        )
    }))
}

/// Why a contact is stop-listed, if it is.
pub fn stop_reason(conn: &Connection, contact: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT reason FROM stop_contacts WHERE contact = ?1",
            [contact],
            |r| r.get(0),
        )
        .optional()?)
}

/// The whole stop-list, in contact order.
pub fn stop_list(conn: &Connection) -> Result<Vec<StopEntry>> {
    let mut stmt = conn.prepare(
        "SELECT contact, reason, added_by, added_at FROM stop_contacts ORDER BY contact",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(StopEntry {
            contact: r.get(0)?,
            reason: r.get(1)?,
            added_by: r.get(2)?,
            added_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds (or re-explains) stop-listed contacts.
pub fn add_stops(conn: &Connection, entries: &[StopEntry]) -> Result<()> {
    for e in entries {
        conn.execute(
            "INSERT INTO stop_contacts (contact, reason, added_by, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (contact) DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by, added_at = excluded.added_at",
            params![e.contact, e.reason, e.added_by, e.added_at],
        )?;
    }
    Ok(())
}

/// Removes contacts from the stop-list; returns how many were on it.
pub fn remove_stops(conn: &Connection, contacts: &[String]) -> Result<usize> {
    let mut removed = 0;
    for c in contacts {
        removed += conn.execute("DELETE FROM stop_contacts WHERE contact = ?1", [c])?;
    }
    Ok(removed)
}
