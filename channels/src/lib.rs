//! The channel-access layer: turns each channel's HTTP requests into one
//! platform-independent [`PortalRequest`](tessera_engine::PortalRequest) and the engine's
//! result back into that channel's response. Errors become responses only here.
//!
//! Layout:
//! - `html` — the browser channel: pages, the 404 and 500 pages
//! - `admin` — the admin JSON API (`/admin/api/`): services, toggles
//! - `runtime` — wiring a node: store, toggles, health probes, engine
//! - `server` — binding, serving and graceful shutdown

pub mod admin;
pub mod html;
pub mod runtime;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tessera_engine::Engine;
use tessera_store::Store;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    /// The admin API's bearer token; `None` disables the admin API.
    pub admin_token: Option<String>,
}

/// The whole HTTP surface. `static_dir`, when given, is served under `/static`.
pub fn app(state: AppState, static_dir: Option<PathBuf>) -> Router {
    let mut router = Router::new()
        .route("/", get(html::home))
        .route("/pages/{id}", get(html::page))
        .nest("/admin/api", admin::routes(state.clone()));
    if let Some(dir) = static_dir {
        router = router.nest_service("/static", ServeDir::new(dir));
    }
    router
        .fallback(html::fallback)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
