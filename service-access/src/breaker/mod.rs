//! The circuit breaker: stops calling a backend that keeps failing, and lets a few probes
//! through now and then to learn when it has recovered. Semantics follow resilience4j's
//! (and Hystrix's before it):
//!
//! ```text
//!   Closed ──(failure or slow-call rate over the window ≥ threshold,
//!   ▲  ▲      with ≥ min_calls in it; or N consecutive failures)──► Open
//!   │  │                                                            │
//!   │  └─(reset by operator, from any state)                   open_for elapsed
//!   │                                                               ▼
//!   └──────────(every probe succeeded)────────────────────────── HalfOpen
//!                                  Open ◄──(a probe failed)──────────┘
//! ```
//!
//! The caller asks [`Breaker::try_acquire`] before calling, and reports exactly one
//! [`Outcome`] on the [`Permit`] it got. Classifying outcomes is the caller's business:
//! timeouts, 5xx and connect errors are failures, a 4xx is the client's fault and not
//! the backend's. A permit dropped without a report (the call was cancelled, say by the
//! page deadline) counts for nothing, but gives a half-open probe slot back.
//!
//! Every transition bumps a generation number, and a permit remembers the generation it
//! was issued in: an outcome that arrives after the breaker has moved on (a call started
//! while closed, finished after the breaker opened) describes a world that no longer
//! exists, and is ignored.
//!
//! Time is tokio's clock ([`tokio::time::Instant`]), so tests drive it with paused time.
//! There is no timer task: the move from Open to HalfOpen happens lazily, when anyone
//! next looks — a call, [`Breaker::state`], [`Breaker::snapshot`] or
//! [`Breaker::transitions`]. Those never report a stale Open once `open_for` has elapsed,
//! and the transition is stamped with the instant it became due, not the instant it was
//! noticed. Watchers of [`Breaker::subscribe`] see it when it is noticed.
//! [`Breaker::half_open_now`] ends an Open period early on outside evidence (a
//! successful health probe).
//!
//! Layout:
//! - `policy` — [`BreakerPolicy`], [`Window`] and their validation
//! - `window` — the count and time sliding windows with running totals
//! - `error` — [`BreakerOpen`]

mod error;
mod policy;
mod window;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

pub use error::BreakerOpen;
pub use policy::{BreakerPolicy, Window};

use error::{human, percent};
use window::{SlidingWindow, Totals};

/// How many transitions [`Breaker::transitions`] keeps: enough to see a flapping pattern
/// from the admin console, bounded so that a flapping breaker cannot grow memory.
const HISTORY: usize = 20;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; outcomes fill the window.
    Closed,
    /// Calls are refused without contacting the backend.
    Open,
    /// A limited number of probe calls are let through to test the backend.
    HalfOpen,
}

impl State {
    /// The name used in metrics, logs and JSON: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a permitted call ended, as the caller classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// One change of state, for operators: what changed, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// On tokio's clock, for ordering and tests.
    pub at: Instant,
    /// On the wall clock, for humans and logs.
    pub wall: SystemTime,
    /// E.g. `failure rate 60% >= 50% over 10 calls`, `probe failed`, `reset by operator`.
    pub cause: String,
}

/// The breaker's state and what its window holds right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub state: State,
    pub calls_in_window: u64,
    pub failures_in_window: u64,
    pub slow_in_window: u64,
    /// `failures / calls`, 0.0 for an empty window.
    pub failure_rate: f64,
    /// `slow / calls`, 0.0 for an empty window.
    pub slow_rate: f64,
}

/// A circuit breaker for one backend service. `Send + Sync`; share it as `Arc<Breaker>`.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    // A std mutex, not tokio's: every critical section is a few comparisons and counter
    // updates and never spans an `.await`, so an async mutex would only add cost to the
    // hot path. It also has to be taken in `Permit::drop`, which cannot await.
    inner: Mutex<Inner>,
    // Sent while `inner` is held, so watchers see states in the order they happened.
    published: watch::Sender<State>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// Bumped on every transition; permits from another generation are stale.
    generation: u64,
    /// Closed-state outcomes. Kept while open (the snapshot shows why it opened),
    /// emptied on every return to Closed.
    window: SlidingWindow,
    /// Consecutive failures while closed, for `consecutive_failures`.
    streak: u32,
    /// When the current Open period began.
    opened_at: Instant,
    /// Probe permits handed out (and not given back) in this half-open period.
    probes_issued: u32,
    probes_succeeded: u32,
    probes_slow: u32,
    history: VecDeque<Transition>,
}

impl Breaker {
    /// A closed breaker with an empty window. The policy should have passed
    /// [`BreakerPolicy::validate`] (descriptor loading does this); under an invalid
    /// policy the breaker may never open or never close.
    pub fn new(policy: BreakerPolicy) -> Self {
        debug_assert!(policy.validate().is_ok(), "{:?}", policy.validate());
        let now = Instant::now();
        let (published, _) = watch::channel(State::Closed);
        Self {
            inner: Mutex::new(Inner {
                state: State::Closed,
                generation: 0,
                window: SlidingWindow::new(policy.window, now),
                streak: 0,
                opened_at: now,
                probes_issued: 0,
                probes_succeeded: 0,
                probes_slow: 0,
                history: VecDeque::new(),
            }),
            policy,
            published,
        }
    }

    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Asks to make one call. Closed: always permitted. Open: refused until `open_for`
    /// has elapsed, then the breaker turns half-open and this call becomes a probe.
    /// HalfOpen: at most `half_open_probes` permits in the period (a dropped, unreported
    /// permit gives its slot back); further calls are refused with `retry_in` zero.
    pub fn try_acquire(&self) -> Result<Permit<'_>, BreakerOpen> {
        let now = Instant::now();
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        match inner.state {
            State::Closed => Ok(self.permit(&inner, false)),
            State::Open => Err(BreakerOpen {
                retry_in: (inner.opened_at + self.policy.open_for).saturating_duration_since(now),
            }),
            State::HalfOpen if inner.probes_issued < self.policy.half_open_probes => {
                inner.probes_issued += 1;
                Ok(self.permit(&inner, true))
            }
            State::HalfOpen => Err(BreakerOpen {
                retry_in: Duration::ZERO,
            }),
        }
    }

    /// The current state, HalfOpen as soon as `open_for` has elapsed (see the module
    /// docs: the lazy transition is made here if it is due).
    pub fn state(&self) -> State {
        let mut inner = self.lock();
        self.advance(&mut inner, Instant::now());
        inner.state
    }

    /// Every transition is published. A watch keeps only the latest value, so a watcher
    /// that falls behind sees the newest state, not each step; [`Breaker::transitions`]
    /// has the full recent history.
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.published.subscribe()
    }

    /// Operator action: back to Closed with an empty window, from any state (recorded as
    /// a transition even from Closed, since it also discards in-flight outcomes).
    pub fn reset(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        self.transition(
            &mut inner,
            State::Closed,
            now,
            "reset by operator".to_owned(),
        );
    }

    /// Ends an Open period early: the breaker turns half-open now, as if `open_for` had
    /// elapsed, so that the next calls probe the backend. For outside evidence that the
    /// backend has recovered, such as a successful health probe; `cause` is recorded.
    /// Does nothing unless the breaker is open: closed needs no help, and a half-open
    /// period already under way keeps its probes.
    pub fn half_open_now(&self, cause: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        if inner.state == State::Open {
            self.transition(&mut inner, State::HalfOpen, now, cause.to_owned());
        }
    }

    /// The last 20 transitions, oldest first.
    pub fn transitions(&self) -> Vec<Transition> {
        let mut inner = self.lock();
        self.advance(&mut inner, Instant::now());
        inner.history.iter().cloned().collect()
    }

    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        let totals = inner.window.totals(now);
        Snapshot {
            state: inner.state,
            calls_in_window: totals.calls,
            failures_in_window: totals.failures,
            slow_in_window: totals.slow,
            failure_rate: totals.failure_rate(),
            slow_rate: totals.slow_rate(),
        }
    }

    // Poisoning would need a panic inside one of our short critical sections, none of
    // which can leave `Inner` half-updated in a way that matters more than refusing
    // every call forever would; so carry on with the data.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn permit(&self, inner: &Inner, probe: bool) -> Permit<'_> {
        Permit {
            breaker: self,
            generation: inner.generation,
            probe,
            reported: false,
        }
    }

    /// Makes the Open → HalfOpen transition if it is due, stamped when it became due.
    fn advance(&self, inner: &mut Inner, now: Instant) {
        if inner.state == State::Open {
            let due = inner.opened_at + self.policy.open_for;
            if now >= due {
                let cause = format!("open for {} elapsed", human(self.policy.open_for));
                self.transition(inner, State::HalfOpen, due, cause);
            }
        }
    }

    fn transition(&self, inner: &mut Inner, to: State, at: Instant, cause: String) {
        let from = inner.state;
        inner.state = to;
        inner.generation += 1;
        match to {
            State::Closed => {
                inner.window.clear();
                inner.streak = 0;
            }
            State::Open => inner.opened_at = at,
            State::HalfOpen => {
                inner.probes_issued = 0;
                inner.probes_succeeded = 0;
                inner.probes_slow = 0;
            }
        }
        if inner.history.len() == HISTORY {
            inner.history.pop_front();
        }
        let ago = Instant::now().saturating_duration_since(at);
        let now_wall = SystemTime::now();
        inner.history.push_back(Transition {
            from,
            to,
            at,
            wall: now_wall.checked_sub(ago).unwrap_or(now_wall),
            cause,
        });
        self.published.send_replace(to);
    }

    fn record(&self, generation: u64, outcome: Outcome, elapsed: Duration) {
        let now = Instant::now();
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        if inner.generation != generation {
            return;
        }
        let failed = outcome == Outcome::Failure;
        let slow = self.policy.slow_call.is_some_and(|limit| elapsed >= limit);
        match inner.state {
            State::Closed => {
                inner.window.record(now, failed, slow);
                inner.streak = if failed { inner.streak + 1 } else { 0 };
                let totals = inner.window.totals(now);
                if let Some(cause) = self.closed_verdict(inner.streak, totals) {
                    self.transition(&mut inner, State::Open, now, cause);
                }
            }
            State::HalfOpen if failed => {
                self.transition(&mut inner, State::Open, now, "probe failed".to_owned());
            }
            State::HalfOpen => {
                inner.probes_succeeded += 1;
                inner.probes_slow += u32::from(slow);
                let probes = self.policy.half_open_probes;
                if inner.probes_succeeded >= probes {
                    let (to, cause) = self.half_open_verdict(inner.probes_slow);
                    self.transition(&mut inner, to, now, cause);
                }
            }
            // No permit is ever issued in Open, so no generation can match here.
            State::Open => {}
        }
    }

    /// Why a closed breaker must open now, if it must.
    fn closed_verdict(&self, streak: u32, totals: Totals) -> Option<String> {
        let p = &self.policy;
        if p.consecutive_failures.is_some_and(|n| streak >= n) {
            return Some(format!("{streak} consecutive failures"));
        }
        if totals.calls < u64::from(p.min_calls) {
            return None;
        }
        if totals.failure_rate() >= p.failure_rate {
            return Some(format!(
                "failure rate {} >= {} over {} calls",
                percent(totals.failure_rate()),
                percent(p.failure_rate),
                totals.calls
            ));
        }
        if p.slow_call.is_some() && totals.slow_rate() >= p.slow_call_rate {
            return Some(format!(
                "slow-call rate {} >= {} over {} calls",
                percent(totals.slow_rate()),
                percent(p.slow_call_rate),
                totals.calls
            ));
        }
        None
    }

    /// Every probe succeeded; but if too many were slow the backend has not recovered
    /// (resilience4j applies the slow-call threshold to the probes too), so open again
    /// rather than close into a window that would need `min_calls` slow calls to notice.
    fn half_open_verdict(&self, slow_probes: u32) -> (State, String) {
        let p = &self.policy;
        let probes = p.half_open_probes;
        let slow_rate = f64::from(slow_probes) / f64::from(probes.max(1));
        if p.slow_call.is_some() && slow_probes > 0 && slow_rate >= p.slow_call_rate {
            let cause = format!(
                "slow-call rate {} >= {} over {probes} probes",
                percent(slow_rate),
                percent(p.slow_call_rate)
            );
            (State::Open, cause)
        } else {
            (State::Closed, format!("{probes} probes succeeded"))
        }
    }
}

/// Leave to make one call. Report its outcome with [`Permit::record`]; dropping it
/// unreported means the call was cancelled and counts for nothing.
#[must_use = "a permit reports its call's outcome with `record`"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    generation: u64,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Reports how the call ended and how long it took (for the slow-call rate).
    pub fn record(mut self, outcome: Outcome, elapsed: Duration) {
        self.reported = true;
        self.breaker.record(self.generation, outcome, elapsed);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.reported || !self.probe {
            return;
        }
        let mut inner = self.breaker.lock();
        if inner.generation == self.generation && inner.state == State::HalfOpen {
            inner.probes_issued = inner.probes_issued.saturating_sub(1);
        }
    }
}
