//! Rendering a [`Report`] in the four formats. Markdown, HTML and CSV show the same list of
//! [`Figure`]s (so they cannot disagree); JSON is the report itself.

mod csv;
mod html;
mod md;

use anyhow::Result;

use super::figures::{Counts, NetworkRow, Report, Row};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown tables.
    Md,
    /// One self-contained HTML page with inline SVG charts, printable.
    Html,
    /// One figure per line: section, key, metric, current, previous, change.
    Csv,
    /// The report as JSON.
    Json,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

impl Report {
    /// The report as text in `format`.
    pub fn render(&self, format: Format) -> Result<String> {
        match format {
            Format::Md => Ok(md::render(self)),
            Format::Html => html::render(self),
            Format::Csv => csv::render(self),
            Format::Json => Ok(serde_json::to_string_pretty(self)? + "\n"),
        }
    }
}

/// What a figure measures, which says how to print it and its change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of ads.
    Ads,
    /// A share between 0 and 1, printed as a percentage; changes in percentage points.
    Share,
    /// Hours.
    Hours,
    /// A score between 0 and 1 (a network's, an ad's).
    Score,
}

/// One number of the report with its value in the previous period.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The table it belongs to (`By office`).
    pub section: &'static str,
    /// The row (`Lima`).
    pub key: String,
    /// The column (`flagged`).
    pub metric: &'static str,
    /// How to read it.
    pub unit: Unit,
    /// This period; `None` when undefined (a share of nothing).
    pub current: Option<f64>,
    /// The previous period.
    pub previous: Option<f64>,
}

impl Figure {
    /// Current minus previous, when both are defined.
    pub fn change(&self) -> Option<f64> {
        Some(self.current? - self.previous?)
    }

    /// The current value as printed.
    pub fn current_text(&self) -> String {
        value_text(self.current, self.unit)
    }

    /// The change as printed: `+12`, `-3.5 pp`, `+4.0 h`, or empty when undefined.
    pub fn change_text(&self) -> String {
        match (self.change(), self.unit) {
            (None, _) => String::new(),
            (Some(d), Unit::Ads) => format!("{d:+.0}"),
            (Some(d), Unit::Share) => format!("{:+.1} pp", d * 100.0),
            (Some(d), Unit::Hours) => format!("{d:+.1} h"),
            (Some(d), Unit::Score) => format!("{d:+.3}"),
        }
    }
}

fn value_text(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "–".into(),
        (Some(v), Unit::Ads) => format!("{v:.0}"),
        (Some(v), Unit::Share) => format!("{:.1}%", v * 100.0),
        (Some(v), Unit::Hours) => format!("{v:.1} h"),
        (Some(v), Unit::Score) => format!("{v:.3}"),
    }
}

/// The columns of every breakdown table, in order.
pub const METRICS: [&str; 7] = [
    "submitted",
    "flagged",
    "flagged share",
    "escalated",
    "dismissed",
    "open",
    "precision",
];

/// The tables of the report, in order: the summary, the breakdowns, then the top networks.
pub const SECTIONS: [&str; 6] = [
    "Summary",
    "By office",
    "By language",
    "By publication",
    "By indicator (flagged by the model)",
    "Top networks",
];

/// The columns of the top networks table, in order.
pub const NETWORK_METRICS: [&str; 4] = [
    "network score",
    "ads in period",
    "network size",
    "highest ad score",
];

fn counts_values(c: &Counts) -> [(Option<f64>, Unit); 7] {
    let n = |x: i64| (Some(x as f64), Unit::Ads);
    [
        n(c.submitted),
        n(c.flagged),
        (c.flagged_share(), Unit::Share),
        n(c.escalated),
        n(c.dismissed),
        n(c.open),
        (c.precision(), Unit::Share),
    ]
}

fn row_figures(section: &'static str, row: &Row, out: &mut Vec<Figure>) {
    let now = counts_values(&row.current);
    let before = counts_values(&row.previous);
    for ((metric, (current, unit)), (previous, _)) in METRICS.iter().zip(now).zip(before) {
        out.push(Figure {
            section,
            key: row.key.clone(),
            metric,
            unit,
            current,
            previous,
        });
    }
}

/// A network's figures (this period only: no previous value), its key naming the network, its
/// offices and its languages.
fn network_figures(section: &'static str, n: &NetworkRow, out: &mut Vec<Figure>) {
    let key = format!(
        "{} · offices {} · languages {}",
        n.network,
        n.offices.join(", "),
        n.langs.join(", ")
    );
    let values = [
        (n.network_score, Unit::Score),
        (n.ads as f64, Unit::Ads),
        (n.size as f64, Unit::Ads),
        (n.max_ad_score, Unit::Score),
    ];
    for (metric, (value, unit)) in NETWORK_METRICS.iter().zip(values) {
        out.push(Figure {
            section,
            key: key.clone(),
            metric,
            unit,
            current: Some(value),
            previous: None,
        });
    }
}

impl Report {
    /// Every figure of the report, table by table ([`SECTIONS`]), row by row, in [`METRICS`] order
    /// (the summary adds the median time to decision; the top networks have [`NETWORK_METRICS`]).
    pub fn figures(&self) -> Vec<Figure> {
        let mut out = Vec::new();
        row_figures(SECTIONS[0], &self.totals, &mut out);
        out.push(Figure {
            section: SECTIONS[0],
            key: self.totals.key.clone(),
            metric: "median time to decision",
            unit: Unit::Hours,
            current: self.median_hours_to_decision.0,
            previous: self.median_hours_to_decision.1,
        });
        let breakdowns = [
            &self.by_office,
            &self.by_lang,
            &self.by_publication,
            &self.by_indicator,
        ];
        for (section, rows) in SECTIONS[1..5].iter().zip(breakdowns) {
            for row in rows {
                row_figures(section, row, &mut out);
            }
        }
        for network in &self.top_networks {
            network_figures(SECTIONS[5], network, &mut out);
        }
        out
    }

    /// One line saying what the report covers.
    pub fn title(&self) -> String {
        format!(
            "adscreen report {}{} (compared with {})",
            self.period,
            self.office
                .as_deref()
                .map_or(String::new(), |o| format!(", office {o}")),
            self.previous_period
        )
    }
}

/// The definitions printed under every report, so a reader knows what each number counts.
pub const DEFINITIONS: &str = "Ads count in the period they were submitted in. Escalated, dismissed \
and open are as of the end of the period (open = flagged, not yet escalated or dismissed), so a \
past period's report does not change. Precision = flagged ads an analyst confirmed (escalated, or \
labelled suspicious) / flagged ads an analyst decided on. Time to decision = from submission to the \
first label, escalation or dismissal. Indicators are those the model flagged. Top networks = linked networks of at least 2 ads with \
ads in the period, highest network score first; their figures count the period's ads, size counts \
all. Changes are against the previous period of the same length (pp = percentage points).";

/// The figures of one table as rows of printed cells: key, then `value (change)` per metric.
fn table_rows(figures: &[Figure], section: &str) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let mut metrics: Vec<&'static str> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut last_key: Option<&str> = None;
    for f in figures.iter().filter(|f| f.section == section) {
        if last_key != Some(&f.key) {
            rows.push(vec![f.key.clone()]);
            last_key = Some(&f.key);
        }
        if rows.len() == 1 {
            metrics.push(f.metric);
        }
        let row = rows.last_mut().expect("pushed above");
        let change = f.change_text();
        row.push(if change.is_empty() {
            f.current_text()
        } else {
            format!("{} ({change})", f.current_text())
        });
    }
    (metrics, rows)
}
