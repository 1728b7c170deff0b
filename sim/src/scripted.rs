//! [`Scripted`]: a backend whose every answer a test decides.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;

use crate::counters::{Counters, InFlight, Recorded};
use crate::reply::Reply;
use crate::serve::Running;

/// A real HTTP backend on `127.0.0.1:0` that answers what the test scripted.
///
/// Every path gets the default reply ([`Scripted::respond`]) unless a route
/// overrides it ([`Scripted::route`]). Until scripted, the default is `404`
/// with the text `no reply scripted`. Calls are counted on arrival and every
/// request is recorded.
///
/// Clones share the same server; the server stops accepting connections when
/// the last clone is dropped.
///
/// ```no_run
/// # async fn demo() {
/// use tessera_sim::{Reply, Scripted};
/// let backend = Scripted::start().await;
/// backend.route("/headlines", Reply::json(r#"{"items":[]}"#));
/// // point the code under test at backend.url() ...
/// assert_eq!(backend.calls_to("/headlines"), 0);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Scripted {
    script: Arc<Script>,
    counters: Counters,
    running: Running,
}

/// What to answer. A std mutex: held only to clone a reply, never across
/// an `.await`.
#[derive(Debug)]
struct Script {
    replies: Mutex<Replies>,
}

#[derive(Debug)]
struct Replies {
    default: Reply,
    routes: HashMap<String, Reply>,
}

impl Script {
    fn reply_for(&self, path: &str) -> Reply {
        let replies = self.replies.lock().unwrap_or_else(PoisonError::into_inner);
        replies.routes.get(path).unwrap_or(&replies.default).clone()
    }
}

impl Scripted {
    /// Starts a backend on an ephemeral loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound; use [`Scripted::try_start`] to handle it.
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .unwrap_or_else(|e| panic!("Scripted: cannot bind 127.0.0.1:0: {e}"))
    }

    /// Starts a backend on an ephemeral loopback port.
    pub async fn try_start() -> io::Result<Self> {
        let script = Arc::new(Script {
            replies: Mutex::new(Replies {
                default: Reply::text("no reply scripted").with_status(404),
                routes: HashMap::new(),
            }),
        });
        let counters = Counters::recording();
        let app = counters.track(Router::new().fallback(answer).with_state(script.clone()));
        let running = Running::start(app).await?;
        Ok(Scripted {
            script,
            counters,
            running,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// Sets the reply for every path without its own route.
    pub fn respond(&self, reply: Reply) {
        self.script
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .default = reply;
    }

    /// Sets the reply for one path (matched without the query string),
    /// replacing any earlier reply for it.
    pub fn route(&self, path: &str, reply: Reply) {
        self.script
            .replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .routes
            .insert(path.to_owned(), reply);
    }

    /// The shared counters, e.g. to hand to code that only needs counting.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Total requests received.
    pub fn calls(&self) -> u64 {
        self.counters.calls()
    }

    /// Requests received for `path` (without query).
    pub fn calls_to(&self, path: &str) -> u64 {
        self.counters.calls_to(path)
    }

    /// Requests currently being handled, hanging ones included.
    pub fn in_flight(&self) -> usize {
        self.counters.in_flight()
    }

    /// The highest number of requests ever in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.counters.peak_in_flight()
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.counters.requests()
    }

    /// Resolves once at least `n` calls have arrived.
    pub async fn wait_for_calls(&self, n: u64) {
        self.counters.wait_for_calls(n).await;
    }

    /// Resolves once at least `n` requests are in flight at once.
    pub async fn wait_for_in_flight(&self, n: usize) {
        self.counters.wait_for_in_flight(n).await;
    }

    /// Resolves once no request is in flight.
    pub async fn wait_for_idle(&self) {
        self.counters.wait_for_idle().await;
    }

    /// Zeroes calls and recorded requests; see [`Counters::reset`].
    pub fn reset_counters(&self) {
        self.counters.reset();
    }
}

async fn answer(State(script): State<Arc<Script>>, req: Request) -> Response {
    let reply = script.reply_for(req.uri().path());
    let in_flight = req.extensions().get::<InFlight>().cloned();
    // The request (and its body) is not needed any more; only the token is kept.
    drop(req);
    reply.answer(in_flight).await
}
