//! The report as CSV, one figure per line (`section,key,metric,current,previous,change`): numbers
//! unformatted, shares between 0 and 1, so a spreadsheet can pivot and chart them.

use anyhow::Result;

use crate::report::Report;

/// Renders the report as CSV.
pub fn render(report: &Report) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "period", "office", "section", "key", "metric", "current", "previous", "change",
    ])?;
    let num = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let office = report.office.as_deref().unwrap_or("");
    for f in report.figures() {
        w.write_record([
            report.period.label.as_str(),
            office,
            f.section,
            &crate::report::export::neutralize(&f.key),
            f.metric,
            &num(f.current),
            &num(f.previous),
            &num(f.change()),
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
