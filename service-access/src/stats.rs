//! Per-service statistics: counters by outcome and latency percentiles over a recent
//! window. Counters are atomics (one relaxed increment per call); the latency window is
//! a small ring buffer behind a mutex held only to push or copy.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::histogram::SecondsHistogram;
use tokio::time::Instant;

/// How many recent latencies are kept, and for how long: enough for stable p99s on a
/// busy service, small enough to copy and sort when an operator asks.
const LATENCY_SAMPLES: usize = 2048;
const LATENCY_WINDOW: Duration = Duration::from_secs(60);

/// How many recent failures are kept for operators (the console's "last errors"): enough
/// to tell one flake from a pattern, few enough to show on one screen.
pub const RECENT_ERRORS: usize = 10;

/// Upper bounds (seconds) of the latency histogram exported as
/// `tessera_backend_latency_seconds`: those of every time histogram.
pub const LATENCY_BUCKETS: [f64; 12] = crate::histogram::SECONDS_BUCKETS;

#[derive(Debug, Default)]
pub struct Stats {
    pub calls: AtomicU64,
    pub successes: AtomicU64,
    pub timeouts: AtomicU64,
    pub bad_status: AtomicU64,
    pub connect_errors: AtomicU64,
    pub transport_errors: AtomicU64,
    pub too_large: AtomicU64,
    pub bulkhead_rejections: AtomicU64,
    pub global_rejections: AtomicU64,
    pub short_circuits: AtomicU64,
    pub disabled_skips: AtomicU64,
    pub retries: AtomicU64,
    latencies: Mutex<VecDeque<(Instant, Duration)>>,
    /// Since start, unlike the window above, in buckets of [`LATENCY_BUCKETS`]: two
    /// relaxed atomic adds per call.
    latency: SecondsHistogram,
    /// The last [`RECENT_ERRORS`] failed calls, oldest first. A mutex held only to push
    /// or copy, and only on failures: the success path never takes it.
    recent_errors: Mutex<VecDeque<RecentError>>,
}

/// One failed call, as operators see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecentError {
    /// Wall-clock time of the failure.
    #[serde(with = "crate::toggle::unix_ms")]
    pub at: SystemTime,
    /// The outcome's name, as in `tessera_backend_calls_total` (`timeout`, `bad_status`, …).
    pub outcome: &'static str,
    /// What went wrong (the call error's message; never the request's path, which may
    /// name a user).
    pub message: String,
}

/// The latency histogram since start, cumulative, as Prometheus wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyHistogram {
    /// `(upper bound in seconds, calls at or under it)`, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub successes: u64,
    pub errors: ErrorCounts,
    pub bulkhead_rejections: u64,
    pub global_rejections: u64,
    pub short_circuits: u64,
    pub disabled_skips: u64,
    pub retries: u64,
    pub latency_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorCounts {
    pub timeout: u64,
    pub status: u64,
    pub connect: u64,
    pub transport: u64,
    pub too_large: u64,
}

/// Percentiles of the calls that reached the backend in the last minute.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Percentiles {
    pub samples: usize,
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
}

impl Stats {
    pub fn record_latency(&self, d: Duration) {
        self.latency.observe_duration(d);
        let now = Instant::now();
        if let Ok(mut l) = self.latencies.lock() {
            if l.len() == LATENCY_SAMPLES {
                l.pop_front();
            }
            l.push_back((now, d));
        }
    }

    /// Every latency recorded since start (calls that reached the backend, timeouts
    /// included), cumulative per bucket.
    pub fn latency_histogram(&self) -> LatencyHistogram {
        let mut running = 0;
        let buckets = self
            .latency
            .buckets()
            .into_iter()
            .map(|(bound, n)| {
                running += n;
                (bound, running)
            })
            .collect();
        LatencyHistogram {
            buckets,
            sum_seconds: self.latency.sum(),
            count: running,
        }
    }

    /// Remembers a failed call, forgetting the oldest beyond [`RECENT_ERRORS`].
    pub fn record_error(&self, outcome: &'static str, message: String) {
        if let Ok(mut r) = self.recent_errors.lock() {
            if r.len() == RECENT_ERRORS {
                r.pop_front();
            }
            r.push_back(RecentError {
                at: SystemTime::now(),
                outcome,
                message,
            });
        }
    }

    /// The recent failed calls, newest first.
    pub fn recent_errors(&self) -> Vec<RecentError> {
        self.recent_errors
            .lock()
            .map(|r| r.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    pub fn percentiles(&self) -> Percentiles {
        let now = Instant::now();
        let mut samples: Vec<Duration> = match self.latencies.lock() {
            Ok(l) => l
                .iter()
                .filter(|(at, _)| now.saturating_duration_since(*at) <= LATENCY_WINDOW)
                .map(|(_, d)| *d)
                .collect(),
            Err(_) => Vec::new(),
        };
        samples.sort_unstable();
        let pick = |q: f64| -> Option<u64> {
            if samples.is_empty() {
                return None;
            }
            // Nearest-rank percentile.
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            Some(samples[rank - 1].as_millis() as u64)
        };
        Percentiles {
            samples: samples.len(),
            p50: pick(0.5),
            p90: pick(0.9),
            p99: pick(0.99),
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            calls: get(&self.calls),
            successes: get(&self.successes),
            errors: ErrorCounts {
                timeout: get(&self.timeouts),
                status: get(&self.bad_status),
                connect: get(&self.connect_errors),
                transport: get(&self.transport_errors),
                too_large: get(&self.too_large),
            },
            bulkhead_rejections: get(&self.bulkhead_rejections),
            global_rejections: get(&self.global_rejections),
            short_circuits: get(&self.short_circuits),
            disabled_skips: get(&self.disabled_skips),
            retries: get(&self.retries),
            latency_ms: self.percentiles(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_errors_keep_the_last_few_newest_first() {
        let s = Stats::default();
        assert!(s.recent_errors().is_empty());
        for i in 0..RECENT_ERRORS + 3 {
            s.record_error("timeout", format!("error {i}"));
        }
        let r = s.recent_errors();
        assert_eq!(r.len(), RECENT_ERRORS);
        assert_eq!(r[0].message, format!("error {}", RECENT_ERRORS + 2));
        assert_eq!(r[RECENT_ERRORS - 1].message, "error 3");
        assert!(r.iter().all(|e| e.outcome == "timeout"));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = Stats::default();
        for ms in 1..=100 {
            s.record_latency(Duration::from_millis(ms));
        }
        let p = s.percentiles();
        assert_eq!(
            (p.samples, p.p50, p.p90, p.p99),
            (100, Some(50), Some(90), Some(99))
        );
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_with_infinity() {
        let s = Stats::default();
        for ms in [3, 40, 40, 20_000] {
            s.record_latency(Duration::from_millis(ms));
        }
        let h = s.latency_histogram();
        let at = |bound: f64| h.buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        assert_eq!(at(0.001), Some(0));
        assert_eq!(at(0.005), Some(1));
        assert_eq!(at(0.05), Some(3));
        assert_eq!(at(10.0), Some(3));
        assert_eq!(at(f64::INFINITY), Some(4));
        assert_eq!(h.count, 4);
        assert!((h.sum_seconds - 20.083).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn old_samples_leave_the_window() {
        let s = Stats::default();
        s.record_latency(Duration::from_millis(500));
        tokio::time::advance(Duration::from_secs(61)).await;
        s.record_latency(Duration::from_millis(5));
        assert_eq!(s.percentiles().p99, Some(5));
    }
}
