//! What makes a breaker open, and for how long. Defaults follow resilience4j's, which
//! are widely deployed and well understood; `validate` rejects settings under which the
//! breaker could never open or would never close.

use std::time::Duration;

use super::error::{human, percent};

/// Which calls the failure and slow-call rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls, however old.
    Count(usize),
    /// The calls of the last `d`, kept in one-second buckets: a whole number of seconds,
    /// so the window is exactly the buckets it keeps (no partial bucket to guess about).
    Time(Duration),
}

/// The settings of one [`Breaker`](super::Breaker).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// The sliding window the rates are computed over. Default: the last 20 calls.
    pub window: Window,
    /// No rate-based opening before this many calls are in the window, so that two
    /// unlucky calls after a quiet night do not open the breaker. Default 10.
    pub min_calls: u32,
    /// Open when `failures / calls >= failure_rate`. In `(0.0, 1.0]`. Default 0.5.
    pub failure_rate: f64,
    /// A call taking at least this long is slow, whatever its outcome. Default: off.
    pub slow_call: Option<Duration>,
    /// Open when `slow / calls >= slow_call_rate`. In `(0.0, 1.0]`. Default 1.0.
    pub slow_call_rate: f64,
    /// How long the breaker stays open before it lets probes through. Default 5s.
    pub open_for: Duration,
    /// How many probe calls a half-open period permits; all must succeed to close.
    /// Default 3.
    pub half_open_probes: u32,
    /// Also open after this many consecutive failures, even below `min_calls`: for
    /// services so quiet that the window rarely fills. Default: off.
    pub consecutive_failures: Option<u32>,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            window: Window::Count(20),
            min_calls: 10,
            failure_rate: 0.5,
            slow_call: None,
            slow_call_rate: 1.0,
            open_for: Duration::from_secs(5),
            half_open_probes: 3,
            consecutive_failures: None,
        }
    }
}

impl BreakerPolicy {
    /// Checks every setting and reports every problem at once, joined by `"; "`, so that
    /// a descriptor author fixes them in one round.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        match self.window {
            Window::Count(0) => problems.push("window must hold at least 1 call".to_owned()),
            Window::Count(n) if usize::try_from(self.min_calls).is_ok_and(|m| m > n) => problems.push(format!(
                "min_calls ({}) exceeds the window of {n} calls, so the rates could never be evaluated",
                self.min_calls
            )),
            Window::Count(_) => {}
            Window::Time(d) if d < Duration::from_secs(1) || d.subsec_nanos() != 0 => {
                problems.push(format!(
                    "a time window must be a whole number of seconds, at least 1s (got {})",
                    human(d)
                ))
            }
            Window::Time(_) => {}
        }
        if self.min_calls == 0 {
            problems.push("min_calls must be at least 1".to_owned());
        }
        check_rate("failure_rate", self.failure_rate, &mut problems);
        check_rate("slow_call_rate", self.slow_call_rate, &mut problems);
        if self.slow_call == Some(Duration::ZERO) {
            problems.push("slow_call must be above 0ms (every call would be slow)".to_owned());
        }
        if self.open_for.is_zero() {
            problems.push("open_for must be above 0ms".to_owned());
        }
        if self.half_open_probes == 0 {
            problems.push(
                "half_open_probes must be at least 1 (the breaker could never close)".to_owned(),
            );
        }
        if self.consecutive_failures == Some(0) {
            problems.push("consecutive_failures must be at least 1".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// A rate of 0 would open the breaker on a window without a single failure, so the
/// lower bound is exclusive.
fn check_rate(name: &str, rate: f64, problems: &mut Vec<String>) {
    if !(rate > 0.0 && rate <= 1.0) {
        let shown = if rate.is_finite() {
            percent(rate)
        } else {
            rate.to_string()
        };
        problems.push(format!(
            "{name} must be above 0% and at most 100% (got {shown})"
        ));
    }
}
