//! A histogram of durations that records without a lock.
//!
//! prometheus-client's `Histogram` keeps its sum, count and buckets behind one mutex,
//! taken on every observation. Every page served records two (its duration and its time
//! to first byte), so on a busy node the requests of all cores meet at that mutex — a
//! cache-hit page showed twice the CPU per request with two cores serving it as with
//! one, and the lock's waits as futex calls (docs/benchmarks.md). Here an observation is
//! two relaxed atomic additions: one bucket and the sum (in nanoseconds, an integer, so
//! no compare-and-swap loop). The count is not kept apart: a scrape sums the buckets, so
//! count and buckets always agree. A scrape reads the atomics one after the other, so it
//! may include an observation in a bucket and not yet in the sum — the same skew any
//! concurrent scrape has between two series. (ADR 0009.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Durations in seconds, in buckets with the given upper bounds (and `+Inf`).
#[derive(Debug, Clone)]
pub struct SecondsHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Finite upper bounds, ascending.
    bounds: Box<[f64]>,
    /// One per bound, then the `+Inf` bucket: observations in each (not cumulative).
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl SecondsHistogram {
    /// Bounds that are not finite are dropped (`+Inf` is always there); the rest are
    /// sorted.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            inner: Arc::new(Inner {
                bounds: bounds.into(),
                buckets,
                sum_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Records one duration of `seconds`. A negative one counts in the first bucket and
    /// adds nothing to the sum; a NaN counts in `+Inf` and adds nothing.
    pub fn observe(&self, seconds: f64) {
        let inner = &self.inner;
        let i = if seconds.is_nan() {
            inner.bounds.len()
        } else {
            inner.bounds.partition_point(|b| *b < seconds)
        };
        inner.buckets[i].fetch_add(1, Ordering::Relaxed);
        // `as` saturates: negative and NaN give 0, beyond u64 the maximum.
        let nanos = (seconds * 1e9) as u64;
        if nanos > 0 {
            inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.inner
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }

    /// Sum of the observations, in seconds.
    pub fn sum(&self) -> f64 {
        self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// `(upper bound, observations in that bucket)`, `+Inf` last.
    fn snapshot(&self) -> Vec<(f64, u64)> {
        let inner = &self.inner;
        inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(inner.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect()
    }
}

impl TypedMetric for SecondsHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for SecondsHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets = self.snapshot();
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(self.sum(), count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    fn scrape(h: &SecondsHistogram) -> String {
        let mut registry = Registry::default();
        registry.register("page_seconds", "Page time", h.clone());
        let mut out = String::new();
        encode(&mut out, &registry).expect("encodes");
        out
    }

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_is_not_below_them() {
        let h = SecondsHistogram::new([0.001, 0.01, 0.1]);
        for s in [0.0005, 0.001, 0.002, 0.05, 0.1, 3.0] {
            h.observe(s);
        }
        assert_eq!(
            h.snapshot(),
            vec![(0.001, 2), (0.01, 1), (0.1, 2), (f64::INFINITY, 1)]
        );
        assert_eq!(h.count(), 6);
        assert!((h.sum() - 3.1535).abs() < 1e-9, "{}", h.sum());
    }

    #[test]
    fn odd_values_are_counted_without_corrupting_the_sum() {
        let h = SecondsHistogram::new([f64::NAN, 0.1, f64::INFINITY, 0.01, 0.1]);
        h.observe(-1.0);
        h.observe(f64::NAN);
        h.observe(f64::INFINITY);
        assert_eq!(h.snapshot(), vec![(0.01, 1), (0.1, 0), (f64::INFINITY, 2)]);
        // Infinity saturates the sum's nanoseconds rather than wrapping it.
        assert_eq!(h.inner.sum_nanos.load(Ordering::Relaxed), u64::MAX);
    }

    #[test]
    fn it_scrapes_as_a_cumulative_histogram_like_prometheus_clients() {
        let ours = SecondsHistogram::new([0.01, 0.1]);
        let theirs = prometheus_client::metrics::histogram::Histogram::new([0.01, 0.1]);
        for s in [0.005, 0.05, 0.07, 2.0] {
            ours.observe(s);
            theirs.observe(s);
        }
        let mut registry = Registry::default();
        registry.register("page_seconds", "Page time", theirs);
        let mut expected = String::new();
        encode(&mut expected, &registry).expect("encodes");
        assert_eq!(scrape(&ours), expected);
        assert!(
            expected.contains("page_seconds_bucket{le=\"0.1\"} 3"),
            "{expected}"
        );
    }

    #[test]
    fn observations_from_many_threads_are_all_counted() {
        let h = SecondsHistogram::new([0.001, 0.01]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        h.observe(0.002);
                    }
                });
            }
        });
        assert_eq!(h.count(), 40_000);
        assert!((h.sum() - 80.0).abs() < 1e-6, "{}", h.sum());
    }
}
