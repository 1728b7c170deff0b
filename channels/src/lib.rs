//! The channel-access layer: turns each channel's HTTP requests into one
//! platform-independent [`PortalRequest`](tessera_engine::PortalRequest) and the engine's
//! result back into that channel's response. Errors become responses only here.
//!
//! Layout:
//! - `health` — `/healthz` and `/readyz` for load balancers
//! - `html` — the browser channel: pages, the 404 and 500 pages
//! - `guest` — guests' cache hits answered from a per-node memo of their pages
//! - `auth` — identity (session cookie or SSO header), sign-in, passwords, CSRF
//! - `customize` — page customization (forms and JSON)
//! - `api` — the JSON channel (`/api/v1/`)
//! - `admin` — the admin JSON API (`/admin/api/`): services, toggles
//! - `console` — the operator console (`/admin`), server-rendered HTML; `/admin` on a
//!   listener of its own (`[admin] listen`)
//! - `runtime` — wiring a node: store, toggles, health probes, engine, cluster
//! - `cluster` — several nodes over one PostgreSQL: the bus (invalidations, toggles,
//!   descriptor versions), resynchronization, the node's cluster status
//! - `stream` — streamed bodies (chunk-flushed gzip)
//! - `trace` — request ids and W3C trace context; the per-request span and status count
//! - `metrics` — `/metrics` (Prometheus/OpenMetrics text)
//! - `timing` — the `Server-Timing` header of pages
//! - `server` — binding, serving and graceful shutdown

pub mod admin;
pub mod api;
pub mod auth;
pub mod cluster;
pub mod console;
pub mod customize;
pub mod demo_users;
pub mod guest;
pub mod health;
pub mod html;
pub mod metrics;
pub mod ratelimit;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod stream;
pub mod timing;
pub mod trace;

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use tessera_engine::Engine;
use tessera_store::Store;

use crate::registry::Registry;
use tower_http::services::ServeDir;

/// What every handler shares: one [`NodeState`] behind one `Arc`. Every request clones
/// the state several times (each middleware and handler takes it); one reference count
/// instead of one per field kept a tenth of the cache-hit profile off the two cores
/// (docs/benchmarks.md).
#[derive(Clone)]
pub struct AppState(Arc<NodeState>);

impl std::ops::Deref for AppState {
    type Target = NodeState;
    fn deref(&self) -> &NodeState {
        &self.0
    }
}

impl From<NodeState> for AppState {
    fn from(state: NodeState) -> Self {
        AppState(Arc::new(state))
    }
}

/// The node's parts, as [`AppState`] shares them.
#[derive(Clone)]
pub struct NodeState {
    /// The running descriptor set and how it changes (hot registration).
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    /// The admin API's bearer token; `None` disables the admin API. (Shared: the state
    /// is cloned for every request.)
    pub admin_token: Option<Arc<str>>,
    /// This node among the others: what it publishes, its bus and its status.
    pub cluster: Arc<cluster::Cluster>,
    /// Signed-in users as the store last gave them (`[auth] identity-cache-ttl`).
    pub identities: Arc<auth::known::KnownUsers>,
    /// Guests' pages as the page cache last answered them (`guest`).
    pub guests: Arc<guest::GuestPages<html::Head>>,
}

impl AppState {
    /// A node serving `engine` with no descriptor folders behind it (tests, embedding):
    /// its set can still change through the admin API, starting from this engine's.
    pub fn new(engine: Engine, store: Arc<dyn Store>) -> Self {
        let registry = Arc::new(Registry::fixed(engine));
        Self::from(NodeState {
            identities: Arc::new(auth::known::KnownUsers::new(registry.settings())),
            registry,
            store,
            admin_token: None,
            cluster: cluster::Cluster::single(),
            guests: Arc::default(),
        })
    }

    /// The portal version a request is served with: take it once per request, so the
    /// whole request sees one descriptor set even when a new one is swapped in meanwhile.
    pub fn engine(&self) -> Arc<Engine> {
        self.registry.current()
    }

    /// The node's settings (`tessera.toml`): fixed for the node's lifetime, the same in
    /// every portal version.
    pub fn settings(&self) -> &tessera_descriptors::Settings {
        self.registry.settings()
    }
}

/// The whole HTTP surface. `static_dir`, when given, is served under `/static`.
pub fn app(state: AppState, static_dir: Option<PathBuf>) -> Router {
    let mut router = Router::new()
        .route("/", get(html::home))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/pages/{id}", get(html::page))
        .route("/pages/{id}/customize", post(customize::form_action))
        .route("/metrics", get(metrics::scrape))
        .route("/light", get(html::light_home))
        .route("/light/pages/{id}", get(html::light_page))
        .route("/login", get(auth::login::form).post(auth::login::submit))
        .route("/logout", post(auth::login::logout))
        .route("/api/v1/pages/{id}", get(api::page))
        .route(
            "/api/v1/pages/{id}/layout",
            get(api::get_layout).put(api::put_layout),
        )
        .route("/api/v1/fragments/{id}/params", put(api::put_params));
    // `/admin` (console and admin API) is served here unless it has a listener of its
    // own (`[admin] listen`, see `console::admin_app`); then it is a 404 here.
    if state.settings().admin.listen.is_none() {
        router = router
            .merge(console::routes(state.clone()))
            .nest("/admin/api", admin::routes(state.clone()));
    }
    finish(router, state, static_dir)
}

/// What every listener's router gets around its routes: static files, the 404 page, the
/// request body limit, compression, tracing, request ids and counting, rate limiting.
/// Public for embedding (routes of one's own served as Tessera serves its pages) and
/// for the benchmark's static baseline through the same stack.
///
/// The layers wrap the routed router once, as one service, rather than each route
/// (`Router::layer`): a request then clones one flat stack instead of a boxed service
/// per layer and route, which showed in the cache-hit profile (docs/benchmarks.md).
pub fn finish(
    mut router: Router<AppState>,
    state: AppState,
    static_dir: Option<PathBuf>,
) -> Router {
    let limits = state.settings().limits;
    let limiter = ratelimit::Limiter::new(limits.requests_per_second, limits.request_burst);
    if let Some(dir) = static_dir {
        router = router.nest_service("/static", ServeDir::new(dir));
    }
    let routed = router.fallback(html::fallback).with_state(state.clone());
    let stack = tower::ServiceBuilder::new()
        // Outermost (after the rate limit): every response, the 404s and static files
        // too, is counted and carries its request id.
        // `observe` is also the request's span and its log events (what tower-http's
        // `TraceLayer` would add is the same span again).
        .layer(axum::middleware::from_fn_with_state(state, trace::observe))
        // Buffered responses only: streamed bodies carry their own chunk-flushed gzip
        // and a Content-Encoding, which this layer leaves alone.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::extract::DefaultBodyLimit::max(
            limits.max_request_body_bytes,
        ))
        .service(routed);
    match limiter {
        Some(l) => Router::new().fallback_service(
            tower::ServiceBuilder::new()
                .layer(axum::middleware::from_fn_with_state(l, ratelimit::limit))
                .service(stack),
        ),
        None => Router::new().fallback_service(stack),
    }
}
