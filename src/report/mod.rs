//! Reports and exports: the quarterly picture for headquarters ([`Report`], rendered as Markdown,
//! HTML with charts, CSV or JSON) and the store's ads out in analysts' formats ([`export`]).
//!
//! Both read the store (SQLite or PostgreSQL) through its [`Db`](crate::db::Db) connection and
//! aggregate in SQL; rendering and exporting write plain text, so the command line and the HTTP
//! server offer the same downloads.

pub mod charts;
pub mod export;
pub mod figures;
pub mod period;
pub mod redact;
pub mod render;

pub use export::{ExportFormat, ExportOptions};
pub use figures::{Counts, Report, Row};
pub use period::Period;
pub use render::Format;

use std::io::Write;

use anyhow::Result;

use crate::queue::SqlStore;

/// A store that computes reports and writes exports: what the server offers as downloads.
pub trait Reports {
    /// The report of `period` (and `office`, if given).
    fn report(&self, period: &Period, office: Option<&str>) -> Result<Report>;
    /// Writes the ads `options` select to `out`; returns how many were written.
    fn export(
        &self,
        options: &ExportOptions,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<usize>;
}

impl Reports for SqlStore {
    fn report(&self, period: &Period, office: Option<&str>) -> Result<Report> {
        Report::compute(self.db(), period, office)
    }

    fn export(
        &self,
        options: &ExportOptions,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<usize> {
        export::export(self.db(), options, format, out)
    }
}
