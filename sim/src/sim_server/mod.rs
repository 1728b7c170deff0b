//! [`SimServer`]: a realistic service whose behaviour changes at runtime.

mod behavior;
mod control;
mod faults;
mod jitter;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;

pub use behavior::{Behavior, Mode, ParseModeError};

use crate::clock::Clock;
use crate::counters::Counters;
use crate::serve::Running;
use jitter::Jitter;

/// A simulated service: the given router, wrapped with a [`Behavior`] layer
/// (latency, jitter, failure [`Mode`]) that can be changed at runtime.
///
/// Two endpoints sit outside the behaviour and are not counted as data calls:
/// * `GET /_control` shows name, behaviour and counters as JSON; `POST
///   /_control` (JSON or an HTML form with `latency_ms`, `jitter_ms`, `mode`)
///   changes the behaviour.
/// * `GET /health` answers `200 ok` in normal/slow mode, `503` in
///   error/garbage mode, and hangs in hang mode.
///
/// Clones share the same server; it stops accepting connections when the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct SimServer {
    shared: Arc<Shared>,
    running: Running,
}

/// State shared by the server handle, the behaviour layer and the control
/// endpoint.
#[derive(Debug)]
pub(crate) struct Shared {
    name: String,
    /// A std mutex: `Behavior` is `Copy`, read once per request, never held
    /// across an `.await`.
    behavior: Mutex<Behavior>,
    jitter: Jitter,
    /// What the latency is waited on.
    clock: Clock,
    counters: Counters,
}

impl Shared {
    fn behavior(&self) -> Behavior {
        *self.behavior.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_behavior(&self, behavior: Behavior) {
        *self.behavior.lock().unwrap_or_else(PoisonError::into_inner) = behavior;
    }
}

impl SimServer {
    /// Starts `router` as service `name` on an ephemeral loopback port, with
    /// no latency and normal mode.
    pub async fn start(name: impl Into<String>, router: Router) -> io::Result<Self> {
        Self::start_with(name, router, Behavior::default()).await
    }

    /// Starts `router` as service `name` with an initial behaviour, waiting its
    /// latency on tokio's timer ([`Clock::Runtime`]).
    pub async fn start_with(
        name: impl Into<String>,
        router: Router,
        behavior: Behavior,
    ) -> io::Result<Self> {
        Self::start_on(name, router, behavior, Clock::Runtime).await
    }

    /// Starts `router` as service `name` with an initial behaviour, waiting its
    /// latency on `clock` (the benchmark harness uses [`Clock::Precise`]).
    pub async fn start_on(
        name: impl Into<String>,
        router: Router,
        behavior: Behavior,
        clock: Clock,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            name: name.into(),
            behavior: Mutex::new(behavior),
            jitter: Jitter::from_clock(),
            clock,
            // Counting only: a demo runs for hours and must not record every request.
            counters: Counters::counting(),
        });
        let running = Running::start(app(shared.clone(), router)).await?;
        Ok(SimServer { shared, running })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The service name given at start.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Data calls received (control and health requests excluded).
    pub fn calls(&self) -> u64 {
        self.shared.counters.calls()
    }

    /// Data calls currently being handled.
    pub fn in_flight(&self) -> usize {
        self.shared.counters.in_flight()
    }

    /// The highest number of data calls ever in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.counters.peak_in_flight()
    }

    /// The shared counters, e.g. to wait for calls.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The current behaviour.
    pub fn behavior(&self) -> Behavior {
        self.shared.behavior()
    }

    /// Replaces the behaviour; applies to requests arriving from now on.
    pub fn set_behavior(&self, behavior: Behavior) {
        self.shared.set_behavior(behavior);
    }
}

/// The whole HTTP surface: control and health outside, then counting, then
/// the behaviour, then the service's own router.
fn app(shared: Arc<Shared>, router: Router) -> Router {
    let data = shared.counters.track(faults::wrap(shared.clone(), router));
    control::routes()
        .merge(faults::health_route())
        .fallback_service(data)
        .with_state(shared)
}
