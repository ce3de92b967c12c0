//! The report as Markdown: one table per section, then the definitions.

use super::{table_rows, DEFINITIONS, SECTIONS};
use crate::report::Report;

/// Renders the report as Markdown.
pub fn render(report: &Report) -> String {
    let figures = report.figures();
    let mut out = format!(
        "# {}\n\ngenerated {}\n",
        report.title(),
        report.generated_at
    );
    for section in SECTIONS {
        let (metrics, rows) = table_rows(&figures, section);
        out += &format!("\n## {section}\n\n");
        if rows.is_empty() {
            out += "(no ads)\n";
            continue;
        }
        out += &format!("| | {} |\n", metrics.join(" | "));
        out += &format!("|---|{}\n", "---:|".repeat(metrics.len()));
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out += &format!("| {} |\n", cells.join(" | "));
        }
    }
    out += &format!("\n{DEFINITIONS}\n");
    out
}
