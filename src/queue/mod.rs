//! Stage 4 — queue: every ad is stored with its scores; flagged ads enter the analysts' queue;
//! every triage decision is recorded.
//!
//! States: `new` → `in_review` → `escalated` | `dismissed`. Labelling an ad takes it from `new`
//! to `in_review`; escalating (to a named field office) or dismissing closes it. Every change is
//! a [`Change`] applied by [`Store::apply`], recorded twice: as an [`Event`] in the ad's history,
//! and in the append-only [`audit`] log with the state before and after. [`Store`] is the
//! interface; [`store::SqlStore`] implements it on a SQLite file (the embedded default) or a PostgreSQL
//! database ([`crate::db`]); [`accounts`] holds the users who may
//! do all this.

pub mod accounts;
pub mod audit;
pub mod copy;
pub mod models;
pub mod schema;
pub mod store;

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::ingest::Lang;
use crate::model::ScoredAd;
use crate::taxonomy::Indicator;

pub use accounts::{Accounts, Role, User};
pub use audit::{AuditEntry, AuditFilter, AuditLog};
pub use models::{ModelStore, PromotedModel};
pub use store::{PreparedAd, SqlStore};

/// A request the store refuses because of what it asks, not because something failed: an
/// unknown id, a move the workflow forbids, a name already taken. Callers can tell it from a
/// failure with `downcast_ref`.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The thing asked for does not exist.
    NotFound(String),
    /// The request conflicts with the stored state.
    Conflict(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotFound(m) | Refusal::Conflict(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Refusal {}

/// Where an ad stands in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Status {
    /// Flagged, not yet looked at.
    New,
    /// An analyst is on it (labelled, not closed).
    InReview,
    /// Sent on as a lead.
    Escalated,
    /// Closed as not worth pursuing.
    Dismissed,
}

impl Status {
    /// The state as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::InReview => "in_review",
            Status::Escalated => "escalated",
            Status::Dismissed => "dismissed",
        }
    }

    /// Whether the workflow allows going from `self` to `to`.
    pub fn can_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::New, Status::InReview)
                | (
                    Status::New | Status::InReview,
                    Status::Escalated | Status::Dismissed
                )
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<10}` aligns table columns.
        f.pad(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [
            Status::New,
            Status::InReview,
            Status::Escalated,
            Status::Dismissed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// An analyst's label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// True for suspicious, false for benign.
    pub suspicious: bool,
    /// Indicator tags the analyst saw.
    pub indicators: Vec<Indicator>,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub user: String,
    /// `submitted`, `label`, `escalate`, `dismiss`, `assign`, `note`.
    pub action: String,
    /// State before.
    pub from_status: Option<Status>,
    /// State after.
    pub to_status: Option<Status>,
    /// The label given, for `label`.
    pub label: Option<Label>,
    /// Why, in the analyst's words.
    pub note: Option<String>,
    /// The office an escalation went to, or the analyst an assignment named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A triage decision on one ad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Label the ad; a `new` ad moves to `in_review`.
    Label {
        /// The analyst's verdict and indicator tags.
        label: Label,
        /// Why.
        note: Option<String>,
    },
    /// Send the ad as a lead to the field office that investigates.
    Escalate {
        /// The receiving office.
        office: String,
        /// Why: what the office should look at.
        reason: String,
    },
    /// Close the ad as not worth pursuing.
    Dismiss {
        /// Why.
        note: Option<String>,
    },
    /// Give the ad to an analyst (`None` takes it back to the pool).
    Assign {
        /// The analyst's user name.
        to: Option<String>,
    },
    /// Add a note without changing anything else.
    Note {
        /// The note.
        text: String,
    },
}

impl Change {
    /// The action's name, as stored in the history and the audit log.
    pub fn action(&self) -> &'static str {
        match self {
            Change::Label { .. } => "label",
            Change::Escalate { .. } => "escalate",
            Change::Dismiss { .. } => "dismiss",
            Change::Assign { .. } => "assign",
            Change::Note { .. } => "note",
        }
    }

    /// The state this change moves an ad in `from` to, or why the workflow refuses it.
    pub fn next_status(&self, id: i64, from: Option<Status>) -> Result<Option<Status>> {
        let to = match self {
            Change::Label { .. } => match from {
                Some(Status::New) => Some(Status::InReview),
                other => other,
            },
            Change::Escalate { .. } => Some(Status::Escalated),
            Change::Dismiss { .. } => Some(Status::Dismissed),
            Change::Assign { .. } | Change::Note { .. } => from,
        };
        match (from, to) {
            (None, Some(t)) => Err(Refusal::Conflict(format!(
                "ad {id} is not in the queue (it was not flagged), so it cannot become {t}: label it instead"
            ))
            .into()),
            (Some(f), Some(t)) if f != t && !f.can_become(t) => Err(Refusal::Conflict(format!(
                "ad {id} is {f}: only new or in_review ads can become {t}"
            ))
            .into()),
            _ => Ok(to),
        }
    }
}

/// How the queue is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Order {
    /// Highest score first.
    #[default]
    Risk,
    /// Scores nearest this threshold first: the ads whose labels teach the model most.
    Uncertain(f32),
    /// Highest network score first (see `link::score`), then ad score.
    Network,
}

/// Queue filters; unset fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this state.
    pub status: Option<Status>,
    /// Only this language.
    pub lang: Option<Lang>,
    /// Only this office.
    pub office: Option<String>,
    /// Only scores at or above.
    pub min_score: Option<f32>,
    /// Only scores at or below.
    pub max_score: Option<f32>,
    /// Only ads submitted on or after this date or time (RFC 3339 prefix, e.g. `2027-01-01`).
    pub from: Option<String>,
    /// Only ads submitted before this date or time.
    pub to: Option<String>,
    /// Only ads assigned to this analyst.
    pub assigned_to: Option<String>,
    /// Only ads where the model flagged this indicator.
    pub indicator: Option<Indicator>,
    /// The order of the rows.
    pub order: Order,
    /// At most this many rows.
    pub limit: usize,
    /// Skip this many rows first (paging).
    pub offset: usize,
}

/// One row of the queue list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    /// Store id.
    pub id: i64,
    /// The submitter's id.
    pub ext_id: String,
    /// Overall score.
    #[serde(serialize_with = "crate::model::serialize_round3")]
    pub score: f32,
    /// Filed language.
    pub lang: Option<String>,
    /// Office.
    pub office: Option<String>,
    /// Queue state.
    pub status: Status,
    /// The three highest indicators, scores to three decimals.
    pub top_indicators: Vec<(String, f64)>,
    /// The first line of the text, shortened.
    pub preview: String,
    /// The analyst the ad is assigned to.
    pub assigned_to: Option<String>,
    /// When it was submitted (RFC 3339, UTC).
    pub submitted_at: String,
    /// Other ads in its network (linked to it by shared contacts or wording, directly or not).
    pub linked: usize,
}

/// An ad as stored, with its history.
#[derive(Debug, Clone, Serialize)]
pub struct StoredAd {
    /// Store id.
    pub id: i64,
    /// Queue state; `None` for ads stored but not flagged.
    pub status: Option<Status>,
    /// The scoring output, as `score` prints it.
    pub scored: serde_json::Value,
    /// The original text.
    pub text: String,
    /// The translation, if any.
    pub translation: Option<String>,
    /// Office, publication and the other metadata.
    pub metadata: serde_json::Value,
    /// The analyst's latest label.
    pub label: Option<Label>,
    /// The analyst the ad is assigned to.
    pub assigned_to: Option<String>,
    /// The office the ad was escalated to.
    pub escalated_to: Option<String>,
    /// Every recorded change, oldest first.
    pub history: Vec<Event>,
}

/// What one submitted batch did to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// For each ad of the batch, in order: its new store id, or `None` if it was already stored
    /// (by an earlier batch, or by another server at the same moment).
    pub new_ids: Vec<Option<i64>>,
    /// Ads newly stored.
    pub stored: usize,
    /// Ads already in the store (same text and translation), left as they were.
    pub duplicates: usize,
    /// Newly stored ads that entered the queue.
    pub queued: usize,
}

/// Who submits a batch, and from where.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The user recorded on the `submitted` events.
    pub user: &'a str,
    /// The office, for ads that do not name one.
    pub office: Option<&'a str>,
    /// The input's name.
    pub source: &'a str,
}

/// A store of ads, their scores, the queue and its history.
pub trait Store {
    /// Stores a batch in one transaction: all of it or none of it. Ads already stored are skipped.
    fn submit(&mut self, batch: &[PreparedAd], who: &Submission) -> Result<BatchOutcome>;
    /// Queue rows matching the filter, in the filter's order.
    fn list(&self, filter: &Filter) -> Result<Vec<QueueItem>>;
    /// One ad with its history.
    fn get(&self, id: i64) -> Result<Option<StoredAd>>;
    /// One ad with its history, for `user` to read: the read is written to the audit log.
    fn read(&mut self, id: i64, user: &str) -> Result<Option<StoredAd>>;
    /// Every ad an analyst labelled, as training records (the latest label; text, translation,
    /// declared language, office).
    fn labeled(&self) -> Result<Vec<crate::ingest::AdRecord>>;
    /// The store id of an ad already stored with the same text and translation.
    fn id_of(&self, ad: &ScoredAd) -> Result<Option<i64>>;
    /// Applies a triage decision if the workflow allows it, recording it in the ad's history and
    /// the audit log in one transaction; returns the ad's state afterwards.
    fn apply(&mut self, id: i64, change: &Change, user: &str) -> Result<Option<Status>>;
    /// Claims the riskiest `new` ad nobody holds for `user`, for `minutes`: analysts working in
    /// parallel, on any number of servers, never get the same ad. An unfinished claim lapses
    /// when it expires and the ad goes back to the pool. `None` when no ad is free.
    fn claim(&mut self, user: &str, minutes: u32) -> Result<Option<Claim>>;
}

/// An ad claimed for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// The ad's store id.
    pub id: i64,
    /// When the claim lapses (RFC 3339, UTC).
    pub expires: String,
}
