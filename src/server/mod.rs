//! `adscreen serve`: the queue as a shared, access-controlled workplace — a JSON API and the
//! analysts' triage page, served by one process with the model loaded once.
//!
//! - [`auth`] — who is calling: API token, or session cookie plus anti-forgery token; roles.
//! - [`api`] — the JSON routes (documented in `openapi.json`, served at `/api/openapi.json`).
//! - [`downloads`] — report and export files, as `adscreen report` and `adscreen export` write them.
//! - [`page`] — the login page and the triage page (embedded HTML, CSS and JS; no CDN).
//! - [`error`] — every failure as `{"error": "…"}` with the right status.
//!
//! The store is used from blocking threads through a few connections ([`StorePool`]; several
//! servers may share a PostgreSQL store). The model runs from the latest one promoted
//! through the store (every server sharing it picks it up), else from the bundle directory; it
//! is swapped in place when either changes, without restarting.

mod api;
mod auth;
mod downloads;
mod error;
mod page;
mod pool;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::Router;

use crate::link::Links;
use crate::model::bundle::sha256_hex;
use crate::model::Model;
use crate::queue::models::{default_cache, materialize};
use crate::queue::{Accounts, AuditLog, ModelStore, Store};
use crate::report::Reports;
use crate::Screener;

pub use error::ApiError;
pub use pool::{Opener, StorePool};

/// The largest request body accepted: a batch of print ads is far smaller.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What a server needs from its store: the queue, the users, the audit log, the reports, the
/// networks and the promoted models, over a connection that can tell when it is gone.
pub trait Backend: Store + Accounts + AuditLog + Reports + Links + ModelStore + Send {
    /// Whether the connection is gone (the database server restarted).
    fn is_closed(&self) -> bool;
}

impl Backend for crate::queue::SqlStore {
    fn is_closed(&self) -> bool {
        self.db().is_closed()
    }
}

/// How to run a server.
pub struct ServeConfig {
    /// Where to listen (port 0 picks a free one).
    pub addr: SocketAddr,
    /// The model bundle directory, used and watched while no model was promoted through the store.
    pub model_dir: PathBuf,
    /// How often to look for a promoted model.
    pub reload_every: Duration,
    /// Mark cookies `Secure` (when served behind HTTPS).
    pub secure_cookies: bool,
}

/// The state every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<StorePool>,
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
        tokio::task::spawn_blocking(move || store.with(f))
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

/// Store connections per server: enough for a report to run beside triage.
const POOL_SIZE: usize = 4;

/// Serves until interrupted (Ctrl-C or SIGTERM). Prints `listening on http://ADDR` once bound.
/// `store` is open; `open` opens more connections to it.
pub fn serve(store: Box<dyn Backend>, open: Opener, config: ServeConfig) -> Result<()> {
    let cache = default_cache();
    let (source, dir) = locate_model(store.as_ref(), &config.model_dir, &cache)?;
    let model = Model::load(Some(&dir))?;
    eprintln!(
        "adscreen: model {} from {}",
        model.manifest.model_version, source
    );
    let state = AppState {
        store: Arc::new(StorePool::new(store, open, POOL_SIZE)),
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
            state.clone(),
            ModelWatch {
                dir: config.model_dir,
                cache,
                source,
            },
            config.reload_every,
        ));
        println!("adscreen: listening on http://{addr}");
        axum::serve(listener, router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server stopped")
    })
}

/// Where the running model came from: what is compared to tell that a newer one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelSource {
    /// Promoted through the store (digest of its manifest).
    Store(String),
    /// The bundle directory (digest of its manifest).
    Dir(PathBuf, String),
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Store(d) => write!(f, "the store (promoted, manifest {})", &d[..12]),
            ModelSource::Dir(p, _) => write!(f, "{}", p.display()),
        }
    }
}

/// What the model watcher compares against.
struct ModelWatch {
    dir: PathBuf,
    cache: PathBuf,
    source: ModelSource,
}

/// The model to run: the latest promoted through the store (written to `cache`), else the
/// bundle directory. Returns where it came from and the directory to load.
fn locate_model(store: &dyn Backend, dir: &Path, cache: &Path) -> Result<(ModelSource, PathBuf)> {
    match store.promoted_model()? {
        Some(m) => {
            let local = materialize(store, &m, cache)?;
            Ok((ModelSource::Store(m.digest), local))
        }
        None => Ok((
            ModelSource::Dir(dir.to_path_buf(), manifest_digest(dir)?),
            dir.to_path_buf(),
        )),
    }
}

/// The SHA-256 of a bundle's manifest: it names every other file's digest, so it changes
/// whenever the model does.
fn manifest_digest(dir: &Path) -> Result<String> {
    let bytes = std::fs::read(dir.join("manifest.json"))
        .with_context(|| format!("cannot read {}/manifest.json", dir.display()))?;
    Ok(sha256_hex(&bytes))
}

/// Reloads the model whenever a newer one is promoted through the store, or the bundle
/// directory's manifest changes; a bundle that fails to load (checksums, half-copied) is
/// reported and the model in use kept.
async fn watch_model(state: AppState, mut watch: ModelWatch, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let (store, dir, cache) = (state.store.clone(), watch.dir.clone(), watch.cache.clone());
        let found =
            tokio::task::spawn_blocking(move || store.with(|s| locate_model(s, &dir, &cache)))
                .await;
        let Ok(Ok((source, path))) = found else {
            continue;
        };
        if source == watch.source {
            continue;
        }
        let p = path.clone();
        match tokio::task::spawn_blocking(move || Model::load(Some(&p))).await {
            Ok(Ok(model)) => {
                eprintln!(
                    "adscreen: model {} loaded from {source}",
                    model.manifest.model_version
                );
                *state.screener.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Screener {
                    model,
                    office: None,
                });
                watch.source = source;
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
