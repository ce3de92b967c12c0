//! Report and export downloads: the same files `adscreen report` and `adscreen export` write.
//! Submitters get their own office's report; exports (full ad text) are for analysts and admins.
//! Every download is written to the audit log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clap::ValueEnum;
use serde::Deserialize;
use serde_json::json;

use super::api::query;
use super::auth::Caller;
use super::{ApiError, AppState};
use crate::queue::{Role, Status};
use crate::report::{ExportFormat, ExportOptions, Format, Period};

/// The download routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/report", get(report))
        .route("/api/export", get(export))
}

/// Parses one of a clap value enum's names, with the choices in the error.
fn choice<T: ValueEnum>(name: &str, value: &str) -> Result<T, ApiError> {
    T::from_str(value, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        ApiError::bad_request(format!("{name}={value:?}: use one of {}", names.join(", ")))
    })
}

fn period(value: Option<&str>) -> Result<Option<Period>, ApiError> {
    value
        .map(|p| p.parse::<Period>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("period: {e:#}")))
}

/// A file download: content type by format, and a file name for the browser.
fn file(body: Vec<u8>, content_type: &'static str, name: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    period: String,
    office: Option<String>,
    format: Option<String>,
}

async fn report(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let format: Format = choice("format", q.format.as_deref().unwrap_or("html"))?;
    let period = period(Some(&q.period))?.expect("given");
    let office = match caller.user.role {
        Role::Submitter => caller.user.office.clone().or(Some(String::new())),
        _ => q.office,
    };
    let user = caller.user.name;
    let detail = json!({"period": q.period, "office": office, "format": format!("{format:?}").to_lowercase()});
    let text = state
        .with_store(move |s| {
            let text = s.report(&period, office.as_deref())?.render(format)?;
            s.audit(&user, "report", None, None, Some(&detail))?;
            Ok(text)
        })
        .await?;
    let (content_type, ext) = match format {
        Format::Md => ("text/markdown; charset=utf-8", "md"),
        Format::Html => ("text/html; charset=utf-8", "html"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok(file(
        text.into_bytes(),
        content_type,
        format!("adscreen-report-{}.{ext}", q.period),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    status: Option<String>,
    office: Option<String>,
    period: Option<String>,
    format: Option<String>,
    #[serde(default)]
    redact: bool,
    #[serde(default)]
    labels: bool,
    #[serde(default)]
    bom: bool,
}

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Analyst)?;
    let q = query(q)?;
    let format: ExportFormat = choice("format", q.format.as_deref().unwrap_or("csv"))?;
    let statuses = q
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(|s| choice::<Status>("status", s))
        .collect::<Result<Vec<_>, _>>()?;
    let options = ExportOptions {
        statuses,
        office: q.office,
        period: period(q.period.as_deref())?,
        labels: q.labels,
        redact: q.redact,
        bom: q.bom,
    };
    let detail = json!({
        "status": q.status, "office": options.office, "period": q.period, "labels": q.labels,
        "redact": q.redact, "format": format!("{format:?}").to_lowercase(),
    });
    let user = caller.user.name;
    let body = state
        .with_store(move |s| {
            let mut out = Vec::new();
            let n = s.export(&options, format, &mut out)?;
            let mut detail = detail;
            detail["ads"] = json!(n);
            s.audit(&user, "export", None, None, Some(&detail))?;
            Ok(out)
        })
        .await?;
    let (content_type, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Jsonl => ("application/x-ndjson", "jsonl"),
    };
    Ok(file(body, content_type, format!("adscreen-export.{ext}")))
}
