//! Stage 4 — queue: every ad is stored with its scores; flagged ads enter the analysts' queue;
//! every triage decision is recorded.
//!
//! States: `new` → `in_review` → `escalated` | `dismissed`. Labelling an ad takes it from `new`
//! to `in_review`; escalating or dismissing closes it. Every change is an [`Event`] with who,
//! when, from what, to what and why. [`Store`] is the interface; [`sqlite::SqliteStore`] the
//! embedded default.

pub mod sqlite;

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::ingest::Lang;
use crate::model::ScoredAd;
use crate::taxonomy::Indicator;

pub use sqlite::SqliteStore;

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
        f.write_str(self.as_str())
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
    /// `submitted`, `label`, `escalate`, `dismiss`.
    pub action: String,
    /// State before.
    pub from_status: Option<Status>,
    /// State after.
    pub to_status: Option<Status>,
    /// The label given, for `label`.
    pub label: Option<Label>,
    /// Why, in the analyst's words.
    pub note: Option<String>,
}

/// Order of the queue list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// Highest ad score first.
    #[default]
    Score,
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
    /// Only ads where the model flagged this indicator.
    pub indicator: Option<Indicator>,
    /// At most this many rows.
    pub limit: usize,
    /// Row order.
    pub order: Order,
}

/// One row of the queue list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    /// Store id.
    pub id: i64,
    /// The submitter's id.
    pub ext_id: String,
    /// Overall score.
    pub score: f32,
    /// Filed language.
    pub lang: Option<String>,
    /// Office.
    pub office: Option<String>,
    /// Queue state.
    pub status: Status,
    /// The three highest indicators.
    pub top_indicators: Vec<(String, f32)>,
    /// The first line of the text, shortened.
    pub preview: String,
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
    /// Every recorded change, oldest first.
    pub history: Vec<Event>,
}

/// What one submitted batch did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
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
    fn submit(&mut self, batch: &[ScoredAd], who: &Submission) -> Result<BatchOutcome>;
    /// Queue rows matching the filter, in the filter's order.
    fn list(&self, filter: &Filter) -> Result<Vec<QueueItem>>;
    /// One ad with its history.
    fn get(&self, id: i64) -> Result<Option<StoredAd>>;
    /// Records a label; a `new` ad moves to `in_review`.
    fn label(&mut self, id: i64, label: &Label, user: &str, note: Option<&str>) -> Result<Status>;
    /// Moves an ad to `to` (escalated or dismissed), if the workflow allows it.
    fn transition(&mut self, id: i64, to: Status, user: &str, note: Option<&str>)
        -> Result<Status>;
}
