//! Exports: the store's ads, with scores, indicators, evidence, entities, labels and triage notes,
//! as JSON Lines or CSV, optionally redacted; or the analysts' labels alone in the TAXONOMY record
//! format, ready for `adscreen train`.
//!
//! Both formats re-import: a JSONL line is an input record (`id`, `lang`, `text`, `translation`,
//! the metadata fields, and `label`/`indicators` = the analyst's label) plus fields the readers
//! keep as extra; the CSV has the same columns the CSV reader maps (`translation_lang`,
//! `indicators` separated by `;`). Full exports carry each ad's `network` and template `cluster`
//! (store ids of their oldest ads; null when the ad is not linked). CSV cells that a spreadsheet would run as a formula are
//! neutralized with a leading `'`.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::period::Period;
use super::redact::Redactor;
use crate::db::{self, Db};
use crate::ingest::entities::Handle;
use crate::queue::Status;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated, header row, one ad per row.
    Csv,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only ads in these queue states (all ads, queued or not, when empty).
    pub statuses: Vec<Status>,
    /// Only ads of this office.
    pub office: Option<String>,
    /// Only ads submitted in this period.
    pub period: Option<Period>,
    /// Only labelled ads, as TAXONOMY records (id, lang, text, translation, label, indicators).
    pub labels: bool,
    /// Replace phones, e-mails, handles and names with placeholders (see [`super::redact`]).
    pub redact: bool,
    /// Start a CSV with a UTF-8 byte order mark (for spreadsheets that otherwise guess the encoding).
    pub bom: bool,
}

/// The CSV columns of a full export, in order.
const CSV_COLUMNS: &[&str] = &[
    "id",
    "store_id",
    "lang",
    "office",
    "publication",
    "published",
    "section",
    "submitted_by",
    "submitted_at",
    "status",
    "score",
    "flagged",
    "flagged_indicators",
    "label",
    "indicators",
    "text",
    "translation_lang",
    "translation",
    "notes",
    "phones",
    "emails",
    "urls",
    "handles",
    "evidence",
    "indicator_scores",
    "triage",
    "model_version",
    "network",
    "cluster",
];

/// The CSV columns of a labels export: the TAXONOMY record.
const LABEL_COLUMNS: &[&str] = &[
    "id",
    "lang",
    "text",
    "translation_lang",
    "translation",
    "label",
    "indicators",
];

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) gets a leading `'`, which spreadsheets show as text and do not run.
pub fn neutralize(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// The condition on `ads a` that selects the ads `options` ask for, and the values it binds
/// (`?1`, `?2`, …): only the filters given are written, statuses as an `IN` list.
fn selection(options: &ExportOptions) -> (String, Vec<db::Value>) {
    let mut clauses = vec!["1 = 1".to_string()];
    let mut values: Vec<db::Value> = Vec::new();
    fn bind(values: &mut Vec<db::Value>, v: db::Value) -> String {
        values.push(v);
        format!("?{}", values.len())
    }
    if !options.statuses.is_empty() {
        let listed: Vec<String> = options
            .statuses
            .iter()
            .map(|s| bind(&mut values, s.as_str().into()))
            .collect();
        clauses.push(format!("a.status IN ({})", listed.join(", ")));
    }
    if let Some(office) = &options.office {
        clauses.push(format!("a.office = {}", bind(&mut values, office.into())));
    }
    if let Some(period) = &options.period {
        let start = bind(&mut values, period.start_key().into());
        let end = bind(&mut values, period.end_key().into());
        clauses.push(format!(
            "a.submitted_at >= {start} AND a.submitted_at < {end}"
        ));
    }
    if options.labels {
        clauses.push("a.label IS NOT NULL".into());
    }
    (clauses.join(" AND "), values)
}

/// The triage history (every event but the submission) of the selected ads, by store id, each
/// ad's events in the order they happened. Read before the ads, in one query: the ads stream
/// from the connection while they are written, and it runs one query at a time.
fn triage(db: &dyn Db, selected: &str, values: &[db::Value]) -> Result<HashMap<i64, Vec<Value>>> {
    let mut triage: HashMap<i64, Vec<Value>> = HashMap::new();
    db.each(
        &format!(
            "SELECT e.ad_id, e.at, e.\"user\", e.action, e.note
             FROM events e JOIN ads a ON a.id = e.ad_id
             WHERE e.action != 'submitted' AND {selected} ORDER BY e.id"
        ),
        values,
        &mut |e| {
            triage.entry(e.get(0)?).or_default().push(json!({
                "at": e.get::<String>(1)?, "user": e.get::<String>(2)?,
                "action": e.get::<String>(3)?, "note": e.get::<Option<String>>(4)?,
            }));
            Ok(())
        },
    )?;
    Ok(triage)
}

/// Writes the ads `options` select to `out` in `format`; returns how many were written.
pub fn export(
    db: &dyn Db,
    options: &ExportOptions,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize> {
    let (selected, values) = selection(options);
    let mut triage = triage(db, &selected, &values)?;
    let mut redactor = options.redact.then(Redactor::new);
    let columns = if options.labels {
        LABEL_COLUMNS
    } else {
        CSV_COLUMNS
    };
    let mut sink = match format {
        ExportFormat::Csv => {
            if options.bom {
                out.write_all("\u{feff}".as_bytes())?;
            }
            let mut w = csv::Writer::from_writer(out);
            w.write_record(columns)?;
            Sink::Csv(Box::new(w))
        }
        ExportFormat::Jsonl => Sink::Jsonl(out),
    };
    let mut written = 0;
    let sql = format!(
        "SELECT a.id, a.ext_id, a.lang, a.text, a.translation, a.office, a.metadata, a.flagged,
                a.scored, a.model_version, a.status, a.label, a.label_indicators, a.submitted_at,
                g.network, g.cluster
         FROM ads a LEFT JOIN ad_groups g ON g.ad_id = a.id
         WHERE {selected} ORDER BY a.id"
    );
    db.each(&sql, &values, &mut |r| {
        let store_id: i64 = r.get(0)?;
        let mut ad = StoredRow {
            store_id,
            ext_id: r.get(1)?,
            lang: r.get(2)?,
            text: r.get(3)?,
            translation: r.get(4)?,
            office: r.get(5)?,
            metadata: parse(r.get(6)?)?,
            flagged: r.get(7)?,
            scored: parse(r.get(8)?)?,
            model_version: r.get(9)?,
            status: r.get(10)?,
            label: r.get(11)?,
            label_indicators: r.get::<Option<String>>(12)?.map(parse).transpose()?,
            submitted_at: r.get(13)?,
            network: r.get(14)?,
            cluster: r.get(15)?,
            triage: triage.remove(&store_id).unwrap_or_default(),
        };
        if let Some(redactor) = redactor.as_mut() {
            ad.redact(redactor);
        }
        let record = if options.labels {
            ad.label_record()
        } else {
            ad.full_record()
        };
        match &mut sink {
            Sink::Csv(w) => w.write_record(columns.iter().map(|c| csv_cell(&record, c)))?,
            Sink::Jsonl(out) => writeln!(out, "{}", serde_json::to_string(&record)?)?,
        }
        written += 1;
        Ok(())
    })?;
    match sink {
        Sink::Csv(mut w) => w.flush()?,
        Sink::Jsonl(out) => out.flush()?,
    }
    Ok(written)
}

/// Where exported records go.
enum Sink<'a> {
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
    Jsonl(&'a mut dyn Write),
}

fn parse(s: String) -> Result<Value> {
    serde_json::from_str(&s).context("the store holds malformed JSON: was it edited by hand?")
}

/// One ad as read from the store.
struct StoredRow {
    store_id: i64,
    ext_id: String,
    lang: Option<String>,
    text: String,
    translation: Option<String>,
    office: Option<String>,
    metadata: Value,
    flagged: bool,
    scored: Value,
    model_version: String,
    status: Option<String>,
    label: Option<bool>,
    label_indicators: Option<Value>,
    submitted_at: String,
    /// Store id of the network the ad is linked into (`ad_groups`), if linked.
    network: Option<i64>,
    /// Store id of the ad's template cluster, if linked.
    cluster: Option<i64>,
    triage: Vec<Value>,
}

impl StoredRow {
    /// Redacts every free-text field, the extracted contacts and the people's names.
    fn redact(&mut self, r: &mut Redactor) {
        let entities = &mut self.scored["entities"];
        if let Ok(handles) = serde_json::from_value::<Vec<Handle>>(entities["handles"].take()) {
            let redacted: Vec<Handle> = handles.iter().map(|h| r.handle(h)).collect();
            entities["handles"] = json!(redacted);
        }
        redact_strings(&mut entities["phones"], |p| r.phone(p));
        redact_strings(&mut entities["emails"], |e| r.email(e));
        redact_strings(&mut entities["urls"], |u| r.text(u));
        self.text = r.text(&self.text);
        self.translation = self.translation.as_deref().map(|t| r.text(t));
        redact_strings(&mut self.metadata["notes"], |n| r.text(n));
        redact_strings(&mut self.metadata["submitted_by"], |n| r.name(n));
        if let Some(evidence) = self.scored["evidence"].as_array_mut() {
            for e in evidence {
                redact_strings(&mut e["text"], |t| r.text(t));
            }
        }
        for event in &mut self.triage {
            redact_strings(&mut event["user"], |u| r.name(u));
            redact_strings(&mut event["note"], |n| r.text(n));
        }
    }

    fn translation_value(&self) -> Value {
        match &self.translation {
            Some(text) => {
                json!({"lang": self.metadata["translation_lang"].as_str().unwrap_or("en"), "text": text})
            }
            None => Value::Null,
        }
    }

    /// The TAXONOMY record of a labelled ad.
    fn label_record(&self) -> Value {
        json!({
            "id": self.ext_id, "lang": self.lang, "text": self.text, "translation": self.translation_value(),
            "label": self.label.map(u8::from), "indicators": self.label_indicators.clone().unwrap_or(json!([])),
        })
    }

    /// Everything about the ad: an input record plus scores, evidence, entities and triage.
    fn full_record(&self) -> Value {
        let mut record = Map::new();
        if let Some(extra) = self.metadata["extra"].as_object() {
            record.extend(extra.clone());
        }
        let s = &self.scored;
        let fields = json!({
            "id": self.ext_id, "store_id": self.store_id, "lang": self.lang, "text": self.text,
            "translation": self.translation_value(), "office": self.office,
            "publication": self.metadata["publication"], "published": self.metadata["published"],
            "section": self.metadata["section"], "submitted_by": self.metadata["submitted_by"],
            "notes": self.metadata["notes"], "submitted_at": self.submitted_at, "status": self.status,
            "score": s["score"], "flagged": self.flagged, "indicator_scores": s["indicators"],
            "flagged_indicators": s["flagged_indicators"], "evidence": s["evidence"],
            "entities": s["entities"], "model_version": self.model_version,
            "label": self.label.map(u8::from), "indicators": self.label_indicators.clone().unwrap_or(json!([])),
            "network": self.network, "cluster": self.cluster, "triage": self.triage,
        });
        record.extend(fields.as_object().expect("an object").clone());
        Value::Object(record)
    }
}

/// Applies `f` to a string value, or to each string of an array; leaves anything else alone.
fn redact_strings(v: &mut Value, mut f: impl FnMut(&str) -> String) {
    let strings: Vec<&mut String> = match v {
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .iter_mut()
            .filter_map(|i| match i {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for s in strings {
        *s = f(s);
    }
}

/// The CSV cell of `column` for a record: strings as they are (neutralized), lists of strings
/// joined with `;`, handles as `app:id`, other structures as JSON, null as empty.
fn csv_cell(record: &Value, column: &str) -> String {
    let value = match column {
        "translation_lang" => &record["translation"]["lang"],
        "translation" => &record["translation"]["text"],
        "phones" | "emails" | "urls" => &record["entities"][column],
        "handles" => {
            let handles = record["entities"]["handles"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let joined: Vec<String> = handles
                .iter()
                .map(|h| {
                    format!(
                        "{}:{}",
                        h["app"].as_str().unwrap_or(""),
                        h["id"].as_str().unwrap_or("")
                    )
                })
                .collect();
            return neutralize(&joined.join(";"));
        }
        _ => &record[column],
    };
    match value {
        Value::Null => String::new(),
        Value::String(s) => neutralize(s),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            neutralize(&parts.join(";"))
        }
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other => neutralize(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        for cell in [
            "=HYPERLINK(\"http://x\")",
            "+1 555",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
        ] {
            assert_eq!(neutralize(cell), format!("'{cell}"));
        }
        assert_eq!(neutralize("Se busca = 1"), "Se busca = 1");
    }
}
