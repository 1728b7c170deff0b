//! Sliding windows of call outcomes, with running totals so that reading the rates is
//! O(1) on the hot path (every recorded outcome re-evaluates them).
//!
//! Both windows grow only as calls arrive, so a generous window in a descriptor costs
//! memory in proportion to real traffic, not to its configured size.

use std::collections::VecDeque;
use tokio::time::Instant;

use super::policy::Window;

/// What a window currently holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub calls: u64,
    pub failures: u64,
    pub slow: u64,
}

impl Totals {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u64::from(failed);
        self.slow += u64::from(slow);
    }

    fn remove(&mut self, other: Totals) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }

    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    pub fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }
}

// Exact division: `5 / 10` is the double nearest 0.5, the same double the policy's
// literal `0.5` parses to, so thresholds trip exactly where the descriptor says.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[derive(Debug)]
pub(crate) enum SlidingWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl SlidingWindow {
    pub fn new(window: Window, origin: Instant) -> Self {
        match window {
            Window::Count(size) => Self::Count(CountWindow {
                size,
                calls: VecDeque::new(),
                totals: Totals::default(),
            }),
            Window::Time(span) => Self::Time(TimeWindow {
                origin,
                seconds: span.as_secs().max(1),
                buckets: VecDeque::new(),
                totals: Totals::default(),
            }),
        }
    }

    pub fn record(&mut self, now: Instant, failed: bool, slow: bool) {
        match self {
            Self::Count(w) => w.record(failed, slow),
            Self::Time(w) => w.record(now, failed, slow),
        }
    }

    pub fn totals(&mut self, now: Instant) -> Totals {
        match self {
            Self::Count(w) => w.totals,
            Self::Time(w) => {
                w.evict(now);
                w.totals
            }
        }
    }

    pub fn clear(&mut self) {
        match self {
            Self::Count(w) => {
                w.calls.clear();
                w.totals = Totals::default();
            }
            Self::Time(w) => {
                w.buckets.clear();
                w.totals = Totals::default();
            }
        }
    }
}

/// The last `size` calls.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: usize,
    calls: VecDeque<(bool, bool)>,
    totals: Totals,
}

impl CountWindow {
    fn record(&mut self, failed: bool, slow: bool) {
        if self.calls.len() == self.size {
            if let Some((old_failed, old_slow)) = self.calls.pop_front() {
                let mut old = Totals::default();
                old.add(old_failed, old_slow);
                self.totals.remove(old);
            }
        }
        self.calls.push_back((failed, slow));
        self.totals.add(failed, slow);
    }
}

/// The calls of the last `seconds` seconds, one bucket per second that saw a call.
/// Second `k` is `[origin + k s, origin + (k+1) s)`; at second `now`, the window keeps
/// buckets `now - seconds + 1 ..= now`.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    origin: Instant,
    seconds: u64,
    buckets: VecDeque<(u64, Totals)>,
    totals: Totals,
}

impl TimeWindow {
    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    fn record(&mut self, now: Instant, failed: bool, slow: bool) {
        self.evict(now);
        let second = self.second(now);
        match self.buckets.back_mut() {
            Some((s, bucket)) if *s == second => bucket.add(failed, slow),
            _ => {
                let mut bucket = Totals::default();
                bucket.add(failed, slow);
                self.buckets.push_back((second, bucket));
            }
        }
        self.totals.add(failed, slow);
    }

    fn evict(&mut self, now: Instant) {
        let current = self.second(now);
        while let Some(&(second, bucket)) = self.buckets.front() {
            if second + self.seconds > current {
                break;
            }
            self.buckets.pop_front();
            self.totals.remove(bucket);
        }
    }
}
