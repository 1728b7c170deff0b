//! The servers under load, both on `127.0.0.1:0` and both served by
//! `tessera_channels::server::serve` (axum over hyper):
//!
//! * [`Node::tessera`] — a Tessera node wired exactly as `tessera serve` wires one
//!   (`runtime::start` then `app`), over an in-memory SQLite store.
//! * [`Node::static_page`] — the static baseline: one in-memory page answered as is,
//!   with the same headers Tessera sends, so that the ratio between the two is the
//!   cost of assembling the page and nothing else.

use std::net::{Ipv4Addr, SocketAddr};

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use tessera_descriptors::Portal;
use tessera_store::Store;
use tessera_test_support::PortalDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::BenchError;

/// A server running in this process; stopped when dropped.
#[derive(Debug)]
pub struct Node {
    addr: SocketAddr,
    /// The admin API's bearer token (Tessera nodes only).
    admin_token: Option<String>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Node {
    /// A Tessera node serving the portal in `dir`, over a new in-memory store.
    pub async fn tessera(dir: &PortalDir) -> Result<Node, BenchError> {
        Self::tessera_with(dir, memory_store().await?).await
    }

    /// A Tessera node serving the portal in `dir` over `store` (prepared by the caller,
    /// e.g. with the users a scenario signs in as).
    pub async fn tessera_with(dir: &PortalDir, store: Arc<dyn Store>) -> Result<Node, BenchError> {
        Self::tessera_at(&dir.config_dir(), &dir.templates_dir(), store).await
    }

    /// A Tessera node serving the portal in `config` and `templates` over `store`.
    pub async fn tessera_at(
        config: &std::path::Path,
        templates: &std::path::Path,
        store: Arc<dyn Store>,
    ) -> Result<Node, BenchError> {
        let (state, cancel) = start_state(config, templates, store).await?;
        let admin_token = state.admin_token.as_deref().map(str::to_owned);
        let router = tessera_channels::app(state, None);
        Self::serve(router, admin_token, cancel).await
    }

    /// Diagnostic only (S4): like [`Node::tessera`], but with `TCP_NODELAY` set on every
    /// accepted connection, which `tessera_channels::server::serve` (axum's default)
    /// does not do. Served by `axum::serve` directly, with the same connect info.
    pub async fn tessera_nodelay(dir: &PortalDir) -> Result<Node, BenchError> {
        let (state, cancel) = state_over(dir).await?;
        let admin_token = state.admin_token.as_deref().map(str::to_owned);
        let router = tessera_channels::app(state, None);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| BenchError::Setup(format!("bind 127.0.0.1:0: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::Setup(format!("local address: {e}")))?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let shutdown = cancel.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            let served = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await;
            if let Err(e) = served {
                eprintln!("server on {addr} stopped: {e}");
            }
        });
        Ok(Node {
            addr,
            admin_token,
            cancel,
            task,
        })
    }

    /// The static baseline: `page` for `GET /`, with Tessera's page headers for an
    /// uncached page.
    pub async fn static_page(page: Bytes) -> Result<Node, BenchError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self::static_response(page, headers).await
    }

    /// The static baseline for a page Tessera served: `page` for `GET /` with exactly
    /// `headers` (those Tessera sent: type, ETag, Cache-Control, Vary), so that both
    /// responses have the same bytes on the wire apart from the date.
    pub async fn static_response(page: Bytes, headers: HeaderMap) -> Result<Node, BenchError> {
        let router = Router::new().route("/", static_route(page, headers));
        Self::serve(router, None, CancellationToken::new()).await
    }

    /// The static baseline through Tessera's whole HTTP stack: `page` with exactly
    /// `headers` for `GET /`, as a route of a Tessera node over the portal in `dir`,
    /// behind the same layers as its pages (`tessera_channels::finish`: rate limit,
    /// request ids, trace context and the request's span, response counting, compression,
    /// body limit, 404 fallback). The difference to [`Node::tessera`] serving the cached
    /// page is then the page path alone: identity, page-cache lookup, page headers and
    /// page metrics.
    pub async fn static_through_stack(
        dir: &PortalDir,
        page: Bytes,
        headers: HeaderMap,
    ) -> Result<Node, BenchError> {
        let (state, cancel) = state_over(dir).await?;
        let routes = Router::new().route("/", static_route(page, headers));
        let router = tessera_channels::finish(routes, state, None);
        Self::serve(router, None, cancel).await
    }

    async fn serve(
        router: Router,
        admin_token: Option<String>,
        cancel: CancellationToken,
    ) -> Result<Node, BenchError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| BenchError::Setup(format!("bind 127.0.0.1:0: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::Setup(format!("local address: {e}")))?;
        let shutdown = cancel.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            if let Err(e) = tessera_channels::server::serve(listener, router, shutdown).await {
                eprintln!("server on {addr} stopped: {e}");
            }
        });
        Ok(Node {
            addr,
            admin_token,
            cancel,
            task,
        })
    }

    /// The least an aggregator can do, for reference (S2): `GET /` asks every URL in
    /// `backends` at once through one pooled reqwest client, waits for all, and answers
    /// their bodies one after the other (502 if one fails) — no descriptors, no
    /// service-access layers, no templates, no caches, no identity, no middleware, and
    /// no coalescing: every request makes one call per backend. With one connection a
    /// page takes what Tessera adds over this; what this takes over the slowest backend
    /// alone is the hops of a fan-out on this machine.
    pub async fn bare_fanout(backends: Vec<String>) -> Result<Node, BenchError> {
        let client = reqwest::Client::new();
        let backends: Arc<[String]> = backends.into();
        let route = get(move || {
            let (client, backends) = (client.clone(), backends.clone());
            async move {
                let bodies = futures::future::join_all(backends.iter().map(|url| {
                    let client = client.clone();
                    async move {
                        client
                            .get(url)
                            .send()
                            .await?
                            .error_for_status()?
                            .bytes()
                            .await
                    }
                }))
                .await;
                let mut page = Vec::new();
                for body in bodies {
                    match body {
                        Ok(b) => page.extend_from_slice(&b),
                        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                    }
                }
                ([(header::CONTENT_TYPE, "text/html")], page).into_response()
            }
        });
        Self::serve(
            Router::new().route("/", route),
            None,
            CancellationToken::new(),
        )
        .await
    }

    /// The address the server listens on (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`: the home page.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `http://127.0.0.1:PORT/admin/api/cache`: the fragment cache's figures.
    pub fn cache_url(&self) -> String {
        format!("http://{}/admin/api/cache", self.addr)
    }

    /// `http://127.0.0.1:PORT/admin/api/services/ID`.
    pub fn service_url(&self, id: &str) -> String {
        format!("http://{}/admin/api/services/{id}", self.addr)
    }

    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }
}

/// A SQLite file store, as `tessera serve` opens one by default (a pool of connections;
/// an in-memory store has exactly one), in a new folder on `/dev/shm` where there is one
/// (so that the disk is not what is measured). The folder lives as long as the returned
/// guard.
pub async fn file_store() -> Result<(Arc<dyn Store>, tempfile::TempDir), BenchError> {
    let shm = std::path::Path::new("/dev/shm");
    let folder = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .map_err(|e| BenchError::Setup(format!("a folder for the store: {e}")))?;
    let url = format!("sqlite://{}", folder.path().join("tessera.db").display());
    let store = tessera_store::open(&url)
        .await
        .map_err(|e| BenchError::Setup(format!("store {url}: {e}")))?;
    Ok((store, folder))
}

/// A new, empty in-memory SQLite store.
/// `GET` answered with `page` and exactly `headers`, from memory.
fn static_route<S: Clone + Send + Sync + 'static>(
    page: Bytes,
    headers: HeaderMap,
) -> axum::routing::MethodRouter<S> {
    get(move || {
        let (page, headers) = (page.clone(), headers.clone());
        async move { (StatusCode::OK, headers, page).into_response() }
    })
}

/// The node's routers in this process, without a listener: Tessera's whole app over the
/// portal in `dir` (as [`Node::tessera`] serves it) and, once [`Routers::with_static`]
/// has the bytes, a static route behind the same stack (as
/// [`Node::static_through_stack`]). For microbenchmarks of the request path without the
/// network (`benches/request_path.rs`). The node's background tasks stop on drop.
pub struct Routers {
    pub app: Router,
    pub static_stack: Option<Router>,
    state: tessera_channels::AppState,
    _stop: tokio_util::sync::DropGuard,
}

impl Routers {
    pub async fn start(dir: &PortalDir) -> Result<Routers, BenchError> {
        let (state, cancel) = state_over(dir).await?;
        Ok(Routers {
            app: tessera_channels::app(state.clone(), None),
            static_stack: None,
            state,
            _stop: cancel.drop_guard(),
        })
    }

    /// Adds the static route answering `page` with `headers` behind the same stack.
    pub fn with_static(mut self, page: Bytes, headers: HeaderMap) -> Routers {
        let routes = Router::new().route("/", static_route(page, headers));
        self.static_stack = Some(tessera_channels::finish(routes, self.state.clone(), None));
        self
    }
}

/// [`start_state`] over the portal in `dir` and a new in-memory store.
async fn state_over(
    dir: &PortalDir,
) -> Result<(tessera_channels::AppState, CancellationToken), BenchError> {
    start_state(
        &dir.config_dir(),
        &dir.templates_dir(),
        memory_store().await?,
    )
    .await
}

/// A node's state over the portal in `config` and `templates` and over `store`, wired
/// as `tessera serve` wires it; cancel the token to stop its background tasks.
async fn start_state(
    config: &std::path::Path,
    templates: &std::path::Path,
    store: Arc<dyn Store>,
) -> Result<(tessera_channels::AppState, CancellationToken), BenchError> {
    let portal = Portal::load(config, templates).map_err(|d| BenchError::Portal(d.to_string()))?;
    let cancel = CancellationToken::new();
    let state = tessera_channels::runtime::start(portal, store, &cancel)
        .await
        .map_err(|e| BenchError::Setup(format!("node start: {e}")))?;
    Ok((state, cancel))
}

pub async fn memory_store() -> Result<Arc<dyn Store>, BenchError> {
    tessera_store::open("sqlite::memory:")
        .await
        .map_err(|e| BenchError::Setup(format!("in-memory store: {e}")))
}

impl Drop for Node {
    fn drop(&mut self) {
        // Stops the health probes and the server; connections still open (a hung
        // backend exchange) are cut rather than waited for.
        self.cancel.cancel();
        self.task.abort();
    }
}
