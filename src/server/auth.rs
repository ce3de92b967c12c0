//! Who is calling, and what their role lets them do.
//!
//! Scripts send `Authorization: Bearer TOKEN`. The page uses a session cookie (HttpOnly,
//! SameSite=Strict) and must echo the session's anti-forgery token in an `X-CSRF-Token` header on
//! every request that changes something; a token sent by a script needs none, since a browser
//! never adds it on its own.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};

use super::{ApiError, AppState};
use crate::queue::{Role, User};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "adscreen_session";
/// The header that carries the anti-forgery token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub user: User,
    /// The session's anti-forgery token, when the caller came with a session cookie.
    pub csrf: Option<String>,
}

impl Caller {
    /// Refuses (403) a caller whose role is below `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role; {} is a {}",
                self.user.name, self.user.role
            )))
        }
    }

    /// Whether the caller may see an ad filed by `office`: submitters see their own office's.
    pub fn may_see(&self, office: Option<&str>) -> bool {
        self.user.role >= Role::Analyst
            || (self.user.office.is_some() && self.user.office.as_deref() == office)
    }
}

/// The value of one cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from response times.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            let token = token.to_string();
            let user = state.with_store(move |s| s.token_user(&token)).await?;
            return user
                .map(|user| Caller { user, csrf: None })
                .ok_or_else(ApiError::unauthenticated);
        }
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(String::from) else {
            return Err(ApiError::unauthenticated());
        };
        let Some((user, csrf)) = state.with_store(move |s| s.session(&token)).await? else {
            return Err(ApiError::unauthenticated());
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD);
        let echoed = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !safe && !same_secret(echoed, &csrf) {
            return Err(ApiError::forbidden(
                "missing or wrong anti-forgery token (X-CSRF-Token): reload the page and try again",
            ));
        }
        Ok(Caller {
            user,
            csrf: Some(csrf),
        })
    }
}
