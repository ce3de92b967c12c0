//! `adscreen serve`: the queue as a shared, access-controlled workplace — a JSON API and the
//! analysts' triage page, served by one process with the model loaded once.
//!
//! - [`auth`] — who is calling: API token, or session cookie plus anti-forgery token; roles.
//! - [`api`] — the JSON routes (documented in `openapi.json`, served at `/api/openapi.json`).
//! - [`downloads`] — report and export files, as `adscreen report` and `adscreen export` write them.
//! - [`page`] — the login page and the triage page (embedded HTML, CSS and JS; no CDN).
//! - [`error`] — every failure as `{"error": "…"}` with the right status.
//!
//! The store is used from blocking threads behind one lock (SQLite serializes writers anyway);
//! the model is swapped in place when the bundle directory changes (a promotion), so a promoted
//! model is picked up without restarting.

mod api;
mod auth;
mod downloads;
mod error;
mod page;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::Router;

use crate::link::Links;
use crate::model::bundle::sha256_hex;
use crate::model::Model;
use crate::queue::{Accounts, AuditLog, Store};
use crate::report::Reports;
use crate::Screener;

pub use error::ApiError;

/// The largest request body accepted: a batch of print ads is far smaller.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What a server needs from its store: the queue, the users, the audit log, the reports and the
/// networks.
pub trait Backend: Store + Accounts + AuditLog + Reports + Links + Send {}
impl<T: Store + Accounts + AuditLog + Reports + Links + Send> Backend for T {}

/// How to run a server.
pub struct ServeConfig {
    /// Where to listen (port 0 picks a free one).
    pub addr: SocketAddr,
    /// The model bundle directory, watched for promotions.
    pub model_dir: PathBuf,
    /// How often to look for a promoted model.
    pub reload_every: Duration,
    /// Mark cookies `Secure` (when served behind HTTPS).
    pub secure_cookies: bool,
}

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<Mutex<Box<dyn Backend>>>,
    screener: Arc<RwLock<Arc<Screener>>>,
    secure_cookies: bool,
}

impl AppState {
    /// Runs `f` on the store in a blocking thread.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(guard.as_mut())
        })
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("store task failed: {e}")))?
        .map_err(ApiError::from_store)
    }

    /// The model in use now.
    fn screener(&self) -> Arc<Screener> {
        self.screener
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The router: API, page and health check, with the security headers every response carries.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(downloads::routes())
        .merge(page::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers that keep hostile ad text inert even if something were to slip through: no inline or
/// foreign scripts, no framing, no content sniffing, nothing cached.
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    let h = res.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (k, v) in set {
        h.insert(k, HeaderValue::from_static(v));
    }
    res
}

/// Serves until interrupted (Ctrl-C or SIGTERM). Prints `listening on http://ADDR` once bound.
pub fn serve(store: Box<dyn Backend>, config: ServeConfig) -> Result<()> {
    let model = Model::load(Some(&config.model_dir))?;
    let digest = manifest_digest(&config.model_dir)?;
    let state = AppState {
        store: Arc::new(Mutex::new(store)),
        screener: Arc::new(RwLock::new(Arc::new(Screener {
            model,
            office: None,
        }))),
        secure_cookies: config.secure_cookies,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: is another server using it? pass --addr",
                    config.addr
                )
            })?;
        let addr = listener.local_addr()?;
        tokio::spawn(watch_model(
            state.screener.clone(),
            config.model_dir,
            digest,
            config.reload_every,
        ));
        println!("adscreen: listening on http://{addr}");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server stopped")
    })
}

/// The SHA-256 of a bundle's manifest: it names every other file's digest, so it changes
/// whenever the model does.
fn manifest_digest(dir: &std::path::Path) -> Result<String> {
    let bytes = std::fs::read(dir.join("manifest.json"))
        .with_context(|| format!("cannot read {}/manifest.json", dir.display()))?;
    Ok(sha256_hex(&bytes))
}

/// Reloads the model whenever its manifest changes; a bundle that fails to load (checksums,
/// half-copied) is reported and the model in use kept.
async fn watch_model(
    screener: Arc<RwLock<Arc<Screener>>>,
    dir: PathBuf,
    mut digest: String,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(now) = manifest_digest(&dir) else {
            continue;
        };
        if now == digest {
            continue;
        }
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || Model::load(Some(&d))).await {
            Ok(Ok(model)) => {
                eprintln!(
                    "adscreen: model {} loaded from {}",
                    model.manifest.model_version,
                    dir.display()
                );
                *screener.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Screener {
                    model,
                    office: None,
                });
                digest = now;
            }
            Ok(Err(e)) => eprintln!("adscreen: keeping the current model: {e:#}"),
            Err(e) => eprintln!("adscreen: keeping the current model: {e}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
