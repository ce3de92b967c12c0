//! The JSON API. Every route but `/health` needs a caller ([`Caller`]); `openapi.json` beside this
//! file documents them all and is served at `/api/openapi.json`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::{Caller, SESSION_COOKIE};
use super::{ApiError, AppState, MAX_BODY_BYTES};
use crate::ingest::{AdRecord, Lang};
use crate::queue::accounts::hash_password;
use crate::queue::{
    AuditFilter, Change, Filter, Label, Order, PreparedAd, Role, Status, Submission, User,
};
use crate::taxonomy::Indicator;

/// The most ads one request may submit.
pub const MAX_BATCH: usize = 1000;
/// The most rows one page of the queue may hold.
pub const MAX_PAGE: usize = 500;

/// The OpenAPI description of these routes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/me", get(me))
        .route("/api/logout", post(logout))
        .route("/api/model", get(model))
        .route("/api/score", post(score))
        .route("/api/ads", post(submit).get(list))
        .route("/api/ads/{id}", get(show))
        .route("/api/ads/{id}/label", post(triage::<LabelBody>))
        .route("/api/ads/{id}/note", post(triage::<NoteBody>))
        .route("/api/ads/{id}/assign", post(triage::<AssignBody>))
        .route("/api/ads/{id}/escalate", post(triage::<EscalateBody>))
        .route("/api/ads/{id}/dismiss", post(triage::<DismissBody>))
        .route("/api/claim", post(claim))
        .route("/api/users", get(users).post(add_user))
        .route("/api/users/{name}/tokens", post(add_token))
        .route("/api/audit", get(audit))
}

/// Reads a JSON body into `T`: 413 when too large, 400 when not JSON, 422 when JSON of the wrong
/// shape (a missing or unknown field, a wrong type), each saying where.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        ApiError::new(
            r.status(),
            format!(
                "{}: bodies are limited to {} MiB; split the batch",
                r.body_text(),
                MAX_BODY_BYTES >> 20
            ),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid body: {e}"),
        ),
        _ => ApiError::bad_request(format!("malformed JSON body: {e}")),
    })
}

/// A query string as `T`, or 400 saying what is wrong with it.
pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|r| ApiError::bad_request(r.body_text()))
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t)
        .map_err(|r| ApiError::bad_request(r.body_text()))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"status": "ok", "model": state.screener().model.manifest.model_version}))
}

async fn openapi(_caller: Caller) -> Response {
    ([("content-type", "application/json")], OPENAPI).into_response()
}

async fn me(caller: Caller) -> Json<Value> {
    Json(json!({"user": caller.user, "csrf": caller.csrf}))
}

async fn logout(
    State(state): State<AppState>,
    _caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = super::auth::cookie(&headers, SESSION_COOKIE).map(String::from) {
        state.with_store(move |s| s.close_session(&token)).await?;
    }
    Ok((
        [(
            "set-cookie",
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Json(json!({"logged_out": true})),
    )
        .into_response())
}

async fn model(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let s = state.screener();
    let m = &s.model.manifest;
    Json(json!({
        "model_version": m.model_version, "created": m.created, "threshold": s.model.thresholds[0],
        "threshold_rule": m.threshold_rule, "metrics": m.metrics,
        "indicators": Indicator::ALL.iter().map(|i| i.id()).collect::<Vec<_>>(),
    }))
}

/// Scores one ad without storing it.
async fn score(
    State(state): State<AppState>,
    _caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let obj: Map<String, Value> = parse(body)?;
    let record = AdRecord::from_json(obj, "ad").map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("field {}: {}", e.field, e.reason),
        )
    })?;
    let screener = state.screener();
    let scored = tokio::task::spawn_blocking(move || screener.screen(record))
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(Json(
        serde_json::to_value(&scored).map_err(|e| ApiError::internal(e.into()))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// Ad records (shared/TAXONOMY.md format).
    ads: Vec<Value>,
    /// The office that canvassed them, for records that name none.
    office: Option<String>,
}

/// Scores and stores a batch; per-record errors do not stop the others.
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: SubmitBody = parse(body)?;
    if body.ads.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a batch of {} ads: at most {MAX_BATCH} per request; split it",
                body.ads.len()
            ),
        ));
    }
    // Submitters file for their own office, whatever the body says.
    let office = match caller.user.role {
        Role::Submitter => caller.user.office.clone(),
        _ => body.office,
    };
    let mut errors = Vec::new();
    let mut records = Vec::new();
    for (index, v) in body.ads.into_iter().enumerate() {
        let Value::Object(obj) = v else {
            errors.push(json!({"index": index, "field": null, "error": "must be a JSON object"}));
            continue;
        };
        match AdRecord::from_json(obj, &format!("api-{index}")) {
            Ok(mut r) => {
                if caller.user.role == Role::Submitter || r.office.is_none() {
                    r.office = office.clone().or(r.office);
                }
                records.push((index, r));
            }
            Err(e) => errors.push(json!({"index": index, "field": e.field, "error": e.reason})),
        }
    }
    let screener = state.screener();
    let scored = tokio::task::spawn_blocking(move || {
        records
            .into_par_iter()
            .map(|(i, r)| (i, PreparedAd::of(screener.screen(r))))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?;
    let user = caller.user.name.clone();
    let results = state
        .with_store(move |s| {
            let (indexes, batch): (Vec<usize>, Vec<_>) = scored.into_iter().unzip();
            let who = Submission {
                user: &user,
                office: office.as_deref(),
                source: "api",
            };
            // The insert itself tells a new ad from one already stored, even when another
            // server stores the same ad at the same moment.
            let outcome = s.submit(&batch, &who)?;
            indexes
                .iter()
                .zip(batch.iter().map(|p| &p.ad))
                .zip(outcome.new_ids)
                .map(|((i, ad), new_id)| {
                    let id = match new_id {
                        Some(id) => Some(id),
                        None => s.id_of(ad)?,
                    };
                    Ok(json!({
                        "index": i, "id": id, "ext_id": ad.id, "score": crate::model::round3(ad.score),
                        "flagged": ad.flagged, "duplicate": new_id.is_none(),
                    }))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await?;
    Ok(Json(json!({"results": results, "errors": errors})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
    lang: Option<Lang>,
    office: Option<String>,
    indicator: Option<Indicator>,
    min_score: Option<f32>,
    max_score: Option<f32>,
    from: Option<String>,
    to: Option<String>,
    assigned_to: Option<String>,
    order: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// A date or date-time bound, checked so a typo is an error rather than an empty list.
fn date_bound(name: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s)
            if chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_err()
                && chrono::DateTime::parse_from_rfc3339(&s).is_err() =>
        {
            Err(ApiError::bad_request(format!(
                "{name}={s:?}: give a date (2027-01-31) or an RFC 3339 time"
            )))
        }
        v => Ok(v),
    }
}

/// One page of the queue.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let order = match q.order.as_deref() {
        None | Some("risk") => Order::Risk,
        Some("uncertain") => Order::Uncertain(state.screener().model.thresholds[0]),
        Some("network") => Order::Network,
        Some(o) => {
            return Err(ApiError::bad_request(format!(
                "order={o:?}: use risk (highest score first), network (highest network score first) or uncertain (nearest the threshold first)"
            )))
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let offset = q.offset.unwrap_or(0);
    let office = if caller.user.role == Role::Submitter {
        Some(caller.user.office.clone().unwrap_or_default())
    } else {
        q.office
    };
    let filter = Filter {
        status: q.status,
        lang: q.lang,
        office,
        min_score: q.min_score,
        max_score: q.max_score,
        from: date_bound("from", q.from)?,
        to: date_bound("to", q.to)?,
        assigned_to: q.assigned_to,
        indicator: q.indicator,
        order,
        limit: limit + 1,
        offset,
    };
    let mut items = state.with_store(move |s| s.list(&filter)).await?;
    let more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(json!({
        "items": items,
        "next_offset": more.then_some(offset + limit),
    })))
}

/// One ad in full, with its links for analysts; the read is audited.
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path(id)?;
    let c = caller.clone();
    let ad = state
        .with_store(move |s| {
            let Some(ad) = s.get(id)? else {
                return Ok(None);
            };
            if !c.may_see(ad.metadata["office"].as_str()) {
                return Ok(Some(Err(())));
            }
            s.audit(&c.user.name, "read", Some(&id.to_string()), None, None)?;
            let links = match c.user.role {
                Role::Submitter => None,
                _ => s.links(id)?,
            };
            let mut v = serde_json::to_value(&ad)?;
            v["links"] = serde_json::to_value(links)?;
            Ok(Some(Ok(v)))
        })
        .await?;
    match ad {
        Some(Ok(ad)) => Ok(Json(ad)),
        Some(Err(())) => Err(ApiError::forbidden(format!(
            "ad {id} was filed by another office; the submitter role sees only its own office's ads"
        ))),
        None => Err(ApiError::not_found(format!("no ad with id {id}"))),
    }
}

/// A triage request body: what it asks to change.
trait TriageBody: DeserializeOwned {
    /// The change, once the fields are checked.
    fn change(self) -> Result<Change, ApiError>;
}

/// Applies a triage decision as an analyst and returns the ad's new state.
/// Body of `POST /api/claim`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    /// Minutes until an unfinished claim lapses (default 30, at most a day).
    minutes: Option<u32>,
}

/// Claims the riskiest new ad nobody holds for the caller: `{"id": …, "expires": …}`, or
/// `{"id": null}` when every new ad is taken.
async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let body = match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => ClaimBody::default(),
        other => parse::<ClaimBody>(other)?,
    };
    let minutes = body.minutes.unwrap_or(30);
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field minutes: a claim lasts 1 to 1440 minutes",
        ));
    }
    let user = caller.user.name;
    let claim = state.with_store(move |s| s.claim(&user, minutes)).await?;
    Ok(Json(match claim {
        Some(c) => json!({"id": c.id, "expires": c.expires}),
        None => json!({"id": null}),
    }))
}

async fn triage<B: TriageBody>(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let id = path(id)?;
    let change = parse::<B>(body)?.change()?;
    let user = caller.user.name;
    let status = state
        .with_store(move |s| {
            if let Change::Assign { to: Some(to) } = &change {
                let analyst = s
                    .users()?
                    .into_iter()
                    .any(|u| &u.name == to && u.role >= Role::Analyst);
                if !analyst {
                    return Err(crate::queue::Refusal::NotFound(format!(
                        "no analyst named {to:?}: `GET /api/users` lists them"
                    ))
                    .into());
                }
            }
            s.apply(id, &change, &user)
        })
        .await?;
    Ok(Json(json!({"id": id, "status": status})))
}

/// Refuses an empty required text field.
fn required(field: &str, v: String) -> Result<String, ApiError> {
    if v.trim().is_empty() {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid body: `{field}` must not be empty"),
        ))
    } else {
        Ok(v)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelBody {
    suspicious: bool,
    #[serde(default)]
    indicators: Vec<Indicator>,
    note: Option<String>,
}

impl TriageBody for LabelBody {
    fn change(self) -> Result<Change, ApiError> {
        let label = Label {
            suspicious: self.suspicious,
            indicators: self.indicators,
        };
        Ok(Change::Label {
            label,
            note: self.note,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
}

impl TriageBody for NoteBody {
    fn change(self) -> Result<Change, ApiError> {
        Ok(Change::Note {
            text: required("text", self.text)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    to: Option<String>,
}

impl TriageBody for AssignBody {
    fn change(self) -> Result<Change, ApiError> {
        Ok(Change::Assign { to: self.to })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalateBody {
    office: String,
    reason: String,
}

impl TriageBody for EscalateBody {
    fn change(self) -> Result<Change, ApiError> {
        Ok(Change::Escalate {
            office: required("office", self.office)?,
            reason: required("reason", self.reason)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DismissBody {
    note: Option<String>,
}

impl TriageBody for DismissBody {
    fn change(self) -> Result<Change, ApiError> {
        Ok(Change::Dismiss { note: self.note })
    }
}

async fn users(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let users = state.with_store(|s| s.users()).await?;
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    role: Role,
    office: Option<String>,
    password: String,
}

async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let b: NewUser = parse(body)?;
    let user = User {
        name: required("name", b.name)?,
        role: b.role,
        office: b.office,
    };
    if b.password.chars().count() < 12 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid body: `password` needs at least 12 characters",
        ));
    }
    let hash = tokio::task::spawn_blocking(move || hash_password(&b.password))
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(ApiError::internal)?;
    let by = caller.user.name;
    let u = user.clone();
    state
        .with_store(move |s| s.add_user(&u, &hash, &by))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "user": user }))))
}

async fn add_token(
    State(state): State<AppState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let name = path(name)?;
    let by = caller.user.name;
    let n = name.clone();
    let token = state.with_store(move |s| s.add_token(&n, &by)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": name, "token": token})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    target: Option<String>,
    limit: Option<usize>,
}

async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let q = query(q)?;
    let filter = AuditFilter {
        user: q.user,
        action: q.action,
        target: q.target,
        limit: q.limit.unwrap_or(100).clamp(1, 10_000),
    };
    let entries = state.with_store(move |s| s.audit_entries(&filter)).await?;
    Ok(Json(json!({ "entries": entries })))
}
