//! Reports and exports: the quarterly picture for headquarters ([`Report`], rendered as Markdown,
//! HTML with charts, CSV or JSON) and the store's ads out in analysts' formats ([`export`]).
//!
//! Both read the SQLite store through its connection and aggregate in SQL; rendering and exporting
//! write plain text, so the command line and the HTTP server offer the same downloads.

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
