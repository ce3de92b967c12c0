//! The report as one self-contained HTML page: styles inline, charts as inline SVG, no scripts and
//! no external resources, so it opens offline and prints on A4.

use anyhow::Result;

use super::{table_rows, DEFINITIONS, SECTIONS};
use crate::report::{charts, Report};

const STYLE: &str = "
body { font-family: 'Noto Sans', 'DejaVu Sans', Arial, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
p.meta, p.defs { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e4e4e4; }
th { text-align: right; background: #f3f3f3; } th:first-child, td:first-child { text-align: left; }
td { text-align: right; white-space: nowrap; } td:first-child { white-space: normal; }
.charts svg { display: block; margin: 0.8em 0; max-width: 100%; height: auto; }
section, figure { page-break-inside: avoid; break-inside: avoid; }
@media print { body { margin: 0; } h2 { page-break-after: avoid; } }
";

/// Escapes text for HTML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the report as an HTML page.
pub fn render(report: &Report) -> Result<String> {
    let figures = report.figures();
    let title = escape(&report.title());
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<p class=\"meta\">generated {}</p>\n",
        escape(&report.generated_at)
    );
    let mut tables = SECTIONS.iter().map(|section| {
        let (metrics, rows) = table_rows(&figures, section);
        let mut t = format!("<section><h2>{}</h2>\n", escape(section));
        if rows.is_empty() {
            return t + "<p>(no ads)</p></section>\n";
        }
        t += "<table><thead><tr><th></th>";
        for m in metrics {
            t += &format!("<th>{}</th>", escape(m));
        }
        t += "</tr></thead><tbody>\n";
        for row in rows {
            t += "<tr>";
            for cell in row {
                t += &format!("<td>{}</td>", escape(&cell));
            }
            t += "</tr>\n";
        }
        t + "</tbody></table></section>\n"
    });
    out += &tables.next().expect("the summary comes first");
    out += "<section class=\"charts\"><h2>Charts</h2>\n";
    for svg in [
        charts::flagged_share_trend(report)?,
        charts::indicators_by_language(report)?,
        charts::backlog(report)?,
    ] {
        out += &format!("<figure>{svg}</figure>\n");
    }
    out += "</section>\n";
    out.extend(tables);
    out += &format!(
        "<p class=\"defs\">{}</p>\n</body></html>\n",
        escape(DEFINITIONS)
    );
    Ok(out)
}
