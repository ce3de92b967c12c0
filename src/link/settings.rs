//! What makes a contact non-identifying, as kept in the store: the stop-list and the
//! common-contact thresholds.

use anyhow::{Context, Result};
use serde::Serialize;

use super::CommonRule;
use crate::db::Db;
use crate::params;

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
pub fn common_rule(db: &dyn Db) -> Result<CommonRule> {
    let row = db
        .query_opt(
            "SELECT common_share, common_min FROM link_settings WHERE id = 1",
            &[],
        )?
        .context("the store has no link settings row")?;
    Ok(CommonRule {
        share: row.get(0)?,
        min_ads: row.get(1)?,
    })
}

/// Saves new common-contact thresholds (they apply from the next rebuild and submit on).
pub fn set_common_rule(db: &dyn Db, rule: &CommonRule) -> Result<()> {
    db.execute(
        "UPDATE link_settings SET common_share = ?1, common_min = ?2 WHERE id = 1",
        params![rule.share, rule.min_ads],
    )?;
    Ok(())
}

/// How many ads are linked: what a contact's share is measured against. Linking and rebuilds
/// keep the count in `link_settings`; counting `ad_groups` read all of it for every batch.
pub fn linked_total(db: &dyn Db) -> Result<usize> {
    db.value("SELECT linked_ads FROM link_settings WHERE id = 1", &[])
}

/// Records how many ads are linked.
pub fn set_linked_total(db: &dyn Db, total: usize) -> Result<()> {
    db.execute(
        "UPDATE link_settings SET linked_ads = ?1 WHERE id = 1",
        params![total],
    )?;
    Ok(())
}

/// Why a contact links nothing, if it does not: stop-listed, or carried by too many
/// (`carriers`) of the store's `total` ads.
pub fn why_ignored(
    db: &dyn Db,
    rule: &CommonRule,
    contact: &str,
    carriers: usize,
    total: usize,
) -> Result<Option<String>> {
    if let Some(reason) = stop_reason(db, contact)? {
        return Ok(Some(format!("stop-listed: {reason}")));
    }
    Ok(rule.is_common(carriers, total).then(|| {
        format!(
            "common: on {carriers} of {total} ads (more than {}% and at least {})",
            rule.share * 100.0,
            rule.min_ads
        )
    }))
}

/// How many stored ads carry a contact (the count `contacts` keeps beside `ad_contacts`).
pub fn carriers(db: &dyn Db, contact: &str) -> Result<usize> {
    Ok(db
        .query_opt(
            "SELECT ads FROM contacts WHERE contact = ?1",
            params![contact],
        )?
        .map(|r| r.get(0))
        .transpose()?
        .unwrap_or(0))
}

/// Why a contact is stop-listed, if it is.
pub fn stop_reason(db: &dyn Db, contact: &str) -> Result<Option<String>> {
    db.query_opt(
        "SELECT reason FROM stop_contacts WHERE contact = ?1",
        params![contact],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// The whole stop-list, in contact order.
pub fn stop_list(db: &dyn Db) -> Result<Vec<StopEntry>> {
    let mut entries = db.query_map(
        "SELECT contact, reason, added_by, added_at FROM stop_contacts",
        &[],
        |r| {
            Ok(StopEntry {
                contact: r.get(0)?,
                reason: r.get(1)?,
                added_by: r.get(2)?,
                added_at: r.get(3)?,
            })
        },
    )?;
    // Sorted here, byte-wise: PostgreSQL's collation would order `phone:+52…` and `phone:52…`
    // differently from SQLite.
    entries.sort_by(|a, b| a.contact.cmp(&b.contact));
    Ok(entries)
}

/// Adds (or re-explains) stop-listed contacts.
pub fn add_stops(db: &dyn Db, entries: &[StopEntry]) -> Result<()> {
    for e in entries {
        db.execute(
            "INSERT INTO stop_contacts (contact, reason, added_by, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (contact) DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by, added_at = excluded.added_at",
            params![&e.contact, &e.reason, &e.added_by, &e.added_at],
        )?;
    }
    Ok(())
}

/// Removes contacts from the stop-list; returns how many were on it.
pub fn remove_stops(db: &dyn Db, contacts: &[String]) -> Result<usize> {
    let mut removed = 0;
    for c in contacts {
        removed += db.execute("DELETE FROM stop_contacts WHERE contact = ?1", params![c])?;
    }
    Ok(removed)
}
