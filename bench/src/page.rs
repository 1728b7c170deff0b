//! One benchmark page brought up end to end: [`FRAGMENTS`] simulated backends, the
//! portal pointing at them, and a Tessera node serving it.
//!
//! The backends are [`SimServer`]s rather than `Scripted` ones: both are real HTTP
//! servers on `127.0.0.1:0` with a delay or a hang, but `Scripted` records every
//! request for test assertions, which under load grows memory by a few hundred bytes
//! per call and adds a mutex to every answer. `SimServer` only counts.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::Router;
use bytes::Bytes;
use tessera_store::Store;
use tessera_test_support::{Behavior, Clock, Mode, PortalDir, SimServer};

use crate::node::{memory_store, Node};
use crate::portal::{self, PortalSpec, FRAGMENTS, FRAGMENT_BYTES};
use crate::BenchError;

/// How one backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The ~3 KB JSON body after this delay.
    Answer(Duration),
    /// Never answers.
    Hang,
}

impl Backend {
    /// Answers at once.
    pub const FAST: Backend = Backend::Answer(Duration::ZERO);

    pub fn after_ms(ms: u64) -> Backend {
        Backend::Answer(Duration::from_millis(ms))
    }
}

/// The benchmark page running: backends, portal folder, node. Dropping it stops all.
#[derive(Debug)]
pub struct BenchPage {
    pub node: Node,
    /// Kept alive for as long as the node calls them.
    backends: Vec<SimServer>,
    // The folder is deleted on drop.
    portal: PortalDir,
}

impl BenchPage {
    /// Starts one backend per entry of `backends` (exactly [`FRAGMENTS`]) and a node
    /// serving the default portal (nothing cached, anonymous).
    pub async fn start(backends: &[Backend; FRAGMENTS]) -> Result<BenchPage, BenchError> {
        Self::start_with(backends, &PortalSpec::default(), memory_store().await?).await
    }

    /// Starts the backends and a node serving the portal `spec` describes over `store`.
    pub async fn start_with(
        backends: &[Backend; FRAGMENTS],
        spec: &PortalSpec,
        store: Arc<dyn Store>,
    ) -> Result<BenchPage, BenchError> {
        let started = start_backends(backends).await?;
        let urls: Vec<String> = started.iter().map(SimServer::url).collect();
        let dir = portal::write_with(&urls, spec);
        let node = Node::tessera_with(&dir, store).await?;
        Ok(BenchPage {
            node,
            backends: started,
            portal: dir,
        })
    }

    /// Diagnostic only (S4): a second node serving the same portal and backends, with
    /// `TCP_NODELAY` on its accepted connections ([`Node::tessera_nodelay`]).
    pub async fn nodelay_node(&self) -> Result<Node, BenchError> {
        Node::tessera_nodelay(&self.portal).await
    }

    /// A static server answering `page` with `headers` through the whole HTTP stack of a
    /// node over this portal ([`Node::static_through_stack`]).
    pub async fn static_through_stack(
        &self,
        page: bytes::Bytes,
        headers: http::HeaderMap,
    ) -> Result<Node, BenchError> {
        Node::static_through_stack(&self.portal, page, headers).await
    }

    /// The portal folder the node serves.
    pub fn portal(&self) -> &PortalDir {
        &self.portal
    }

    /// Data calls received by all backends so far (hanging ones counted on arrival).
    pub fn backend_calls(&self) -> u64 {
        self.backends.iter().map(SimServer::calls).sum()
    }

    /// `http://127.0.0.1:PORT/items/N` of backend `i`, for measuring it alone.
    pub fn backend_url(&self, i: usize) -> Option<String> {
        self.backends
            .get(i)
            .map(|b| format!("{}/items/{}", b.url(), i + 1))
    }
}

/// Starts one simulated backend per entry of `backends`, each answering the ~3 KB JSON
/// body to any path (`/items/N`, `/items/N/userK`) as its entry says, its delay timed
/// by [`Clock::Precise`].
pub async fn start_backends(backends: &[Backend]) -> Result<Vec<SimServer>, BenchError> {
    let body = Bytes::from(portal::payload(FRAGMENT_BYTES));
    let mut started = Vec::with_capacity(backends.len());
    for (i, backend) in backends.iter().enumerate() {
        let body = body.clone();
        let router = Router::new().fallback(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (CONTENT_TYPE, "application/json"),
                        // Explicitly not cacheable: the uncached scenarios measure
                        // assembly from the backends, whatever caching defaults
                        // the portal grows. (The cached ones write a `ttl`, which
                        // wins over `no-store`.)
                        (CACHE_CONTROL, "no-store"),
                    ],
                    body,
                )
            }
        });
        let behavior = match backend {
            Backend::Answer(delay) => Behavior {
                latency: *delay,
                ..Behavior::default()
            },
            Backend::Hang => Behavior {
                mode: Mode::Hang,
                ..Behavior::default()
            },
        };
        // The targets are "within 1 ms of the slowest backend": its delay must be
        // what it says, not tokio's millisecond ticks later (`Clock`).
        let server = SimServer::start_on(portal::service_id(i), router, behavior, Clock::Precise)
            .await
            .map_err(|e| BenchError::Setup(format!("backend on 127.0.0.1:0: {e}")))?;
        started.push(server);
    }
    Ok(started)
}
