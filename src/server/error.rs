//! Every failure of the API as `{"error": "…"}` with a status that says whose fault it was.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::queue::Refusal;

/// An API failure: a status and a message that tells the caller what to do next.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ApiError {
    /// A failure with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no or unknown credentials.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "log in first: open /login in a browser, or send `Authorization: Bearer TOKEN` \
             (`adscreen users token NAME` creates one)",
        )
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: our fault; the detail goes to the server's log, not to the caller.
    pub fn internal(e: anyhow::Error) -> Self {
        eprintln!("adscreen: internal error: {e:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: the server's log has the details",
        )
    }

    /// A store error: its refusals (unknown id, forbidden move, name taken) are the caller's to
    /// fix; anything else is internal.
    pub fn from_store(e: anyhow::Error) -> Self {
        match e.downcast_ref::<Refusal>() {
            Some(r @ Refusal::NotFound(_)) => Self::not_found(r.to_string()),
            Some(r @ Refusal::Conflict(_)) => Self::new(StatusCode::CONFLICT, r.to_string()),
            None => Self::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
