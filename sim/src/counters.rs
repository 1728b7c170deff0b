//! Call, in-flight and peak counters shared by every simulated backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::{HeaderMap, Method};
use tokio::sync::watch;

/// One request as it arrived at a backend.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request method.
    pub method: Method,
    /// Path and query exactly as received, e.g. `/headlines?lang=en`.
    pub path_and_query: String,
    /// All request headers.
    pub headers: HeaderMap,
}

/// The numbers every waiter watches. Kept in one `watch` channel so that a
/// waiter sees calls, in-flight and peak change together, and so that waiting
/// needs no polling.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    calls: u64,
    in_flight: usize,
    peak_in_flight: usize,
}

/// Per-path counts and recorded requests. Only kept when recording is on:
/// a long-running demo server must not grow without bound.
#[derive(Debug, Default)]
struct Log {
    per_path: HashMap<String, u64>,
    requests: Vec<Recorded>,
}

#[derive(Debug)]
struct Inner {
    stats: watch::Sender<Stats>,
    /// `None` when recording is off. A std mutex: it is never held across an
    /// `.await`, only for a push or a lookup.
    log: Option<Mutex<Log>>,
}

/// Counts requests received by a backend: total calls (counted on arrival),
/// calls per path, requests currently in flight and the peak of that number.
///
/// Cheap to clone; clones share the same numbers. Fed by the tracking
/// middleware ([`Counters::track`]).
#[derive(Debug, Clone)]
pub struct Counters {
    inner: Arc<Inner>,
}

impl Counters {
    /// Counters that only count: no per-path counts, no recorded requests.
    /// Suited to long-running servers (demo, benchmarks).
    pub fn counting() -> Self {
        Self::build(false)
    }

    /// Counters that also record every request and count calls per path.
    /// Suited to tests.
    pub fn recording() -> Self {
        Self::build(true)
    }

    fn build(record: bool) -> Self {
        let (stats, _) = watch::channel(Stats::default());
        Counters {
            inner: Arc::new(Inner {
                stats,
                log: record.then(|| Mutex::new(Log::default())),
            }),
        }
    }

    /// Total requests received since start or the last [`Counters::reset`].
    pub fn calls(&self) -> u64 {
        self.inner.stats.borrow().calls
    }

    /// Requests received for `path` (path without query). Always 0 when
    /// recording is off.
    pub fn calls_to(&self, path: &str) -> u64 {
        self.log()
            .and_then(|log| log.per_path.get(path).copied())
            .unwrap_or(0)
    }

    /// Requests currently being handled, hanging ones included.
    pub fn in_flight(&self) -> usize {
        self.inner.stats.borrow().in_flight
    }

    /// The highest [`Counters::in_flight`] ever observed (since the last reset).
    pub fn peak_in_flight(&self) -> usize {
        self.inner.stats.borrow().peak_in_flight
    }

    /// Recorded requests in arrival order. Empty when recording is off.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log()
            .map(|log| log.requests.clone())
            .unwrap_or_default()
    }

    /// Resolves once at least `n` calls have been received.
    pub async fn wait_for_calls(&self, n: u64) {
        self.wait(|s| s.calls >= n).await;
    }

    /// Resolves once at least `n` requests are in flight at the same time.
    pub async fn wait_for_in_flight(&self, n: usize) {
        self.wait(|s| s.in_flight >= n).await;
    }

    /// Resolves once no request is in flight, e.g. after a client gave up on
    /// a hanging request and the backend noticed the disconnect.
    pub async fn wait_for_idle(&self) {
        self.wait(|s| s.in_flight == 0).await;
    }

    /// Zeroes calls, per-path counts and recorded requests; the peak restarts
    /// from the requests in flight now (those cannot be forgotten).
    pub fn reset(&self) {
        self.inner.stats.send_modify(|s| {
            s.calls = 0;
            s.peak_in_flight = s.in_flight;
        });
        if let Some(mut log) = self.log() {
            *log = Log::default();
        }
    }

    /// Counts one arriving request and returns the guard that keeps it in
    /// flight until dropped.
    pub(crate) fn arrive(&self, method: &Method, uri: &http::Uri, headers: &HeaderMap) -> InFlight {
        if let Some(mut log) = self.log() {
            *log.per_path.entry(uri.path().to_owned()).or_default() += 1;
            let path_and_query = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
            log.requests.push(Recorded {
                method: method.clone(),
                path_and_query,
                headers: headers.clone(),
            });
        }
        self.inner.stats.send_modify(|s| {
            s.calls += 1;
            s.in_flight += 1;
            s.peak_in_flight = s.peak_in_flight.max(s.in_flight);
        });
        InFlight {
            _guard: Arc::new(Guard {
                counters: self.clone(),
            }),
        }
    }

    async fn wait(&self, done: impl FnMut(&Stats) -> bool) {
        let mut rx = self.inner.stats.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(done).await;
    }

    fn log(&self) -> Option<MutexGuard<'_, Log>> {
        // A panic while holding the lock cannot leave the log half-updated in
        // a way that matters for counting, so a poisoned lock is still usable.
        self.inner
            .log
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Keeps one request counted as in flight while any clone of it is alive.
///
/// The tracking middleware holds one, and puts a clone into the request's
/// extensions so that a streaming body (a trickling reply) can keep the
/// request in flight until the body ends or the client goes away.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    _guard: Arc<Guard>,
}

#[derive(Debug)]
struct Guard {
    counters: Counters,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.counters.inner.stats.send_modify(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
        });
    }
}
