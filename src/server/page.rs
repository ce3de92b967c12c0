//! The login page and the triage page. The page is one HTML file, one script and one stylesheet,
//! embedded in the binary: the tool runs offline, with no CDN.
//!
//! The script renders every piece of ad text with `textContent`, never as HTML, and the server's
//! Content-Security-Policy forbids inline scripts, so markup in an ad stays inert text.

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::auth::{cookie, Caller, SESSION_COOKIE};
use super::{ApiError, AppState};
use crate::queue::accounts::{random_secret, verify_password, SESSION_HOURS};

const INDEX: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");
const LOGIN: &str = include_str!("page/login.html");

/// The login form's anti-forgery cookie (double submit: cookie and hidden field must match).
const LOGIN_COOKIE: &str = "adscreen_login";

/// The page's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login))
        .route("/assets/app.js", get(app_js))
        // Public: the login page needs it, and it holds no data.
        .route("/assets/style.css", get(style))
}

async fn index(caller: Result<Caller, ApiError>) -> Response {
    match caller {
        Ok(_) => Html(INDEX).into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

async fn app_js(_caller: Caller) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// The login form, with a fresh anti-forgery token in a cookie and a hidden field.
fn login_page(status: StatusCode, message: &str, secure: bool) -> Response {
    let token = random_secret();
    let body = LOGIN
        .replace("{{csrf}}", &token)
        .replace("{{message}}", message);
    let cookie = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    (status, [(header::SET_COOKIE, cookie)], Html(body)).into_response()
}

async fn login_form(State(state): State<AppState>) -> Response {
    login_page(StatusCode::OK, "", state.secure_cookies)
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let secure = state.secure_cookies;
    if cookie(&headers, LOGIN_COOKIE) != Some(form.csrf.as_str()) {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            "The form expired. Please log in again.",
            secure,
        ));
    }
    let name = form.name.clone();
    let creds = state.with_store(move |s| s.credentials(&name)).await?;
    // argon2 is slow on purpose: verify outside the store's lock.
    let ok = tokio::task::spawn_blocking(move || {
        creds.is_some_and(|(_, hash)| verify_password(&form.password, &hash))
    })
    .await
    .map_err(|e| ApiError::internal(e.into()))?;
    if !ok {
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.",
            secure,
        ));
    }
    let name = form.name;
    let session = state.with_store(move |s| s.open_session(&name)).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session.token,
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response())
}
