//! A histogram of durations that records without a lock: the node's one kind of time
//! histogram — backend latencies (`tessera_backend_latency_seconds`, through
//! [`crate::stats::Stats`]), fragment and page times (`tessera_engine::Metrics`).
//!
//! prometheus-client's own `Histogram` keeps its sum, count and buckets behind one mutex
//! taken on every observation, and every page served records two (its duration and its
//! time to first byte): every request for a page would meet every other one at its
//! series' mutex. Here an observation is two relaxed atomic additions — one bucket and
//! the sum in whole nanoseconds (an integer: no compare-and-swap loop) — into the
//! recording thread's own shard of the series' cells, so that cores do not write each
//! other's cache lines either (`crate::sharded`). The count is not
//! kept apart: a scrape sums the buckets, so count and buckets always agree. A scrape
//! reads the atomics one after the other, so it may count an observation in its bucket
//! and not yet in the sum — the same skew any concurrent scrape has between two series.
//! (ADR 0009.)

use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::sharded::Cells;

/// Upper bounds (seconds) of every time histogram: from well under a millisecond
/// (cached proxies) to past any sensible timeout. Fixed, so that page, fragment and
/// backend times line up, and every node and service is comparable.
pub const SECONDS_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One observation adds at most this much to the sum (about 11.6 days): an absurd
/// value cannot carry the sum's nanoseconds past `u64::MAX`, which would wrap it.
/// Accumulated, the sum wraps only after about 584 years of observed time (a series
/// then reads like a counter reset, which Prometheus handles).
pub const MAX_OBSERVATION_SECONDS: f64 = 1e6;

/// Durations in seconds, in buckets with the given upper bounds (and `+Inf`).
#[derive(Debug, Clone)]
pub struct SecondsHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Finite upper bounds, ascending.
    bounds: Box<[f64]>,
    /// One per bound, then the `+Inf` bucket (observations in each, not cumulative),
    /// then the sum in whole nanoseconds; kept per shard.
    cells: Cells,
}

impl Inner {
    /// The sum's cell.
    fn sum_cell(&self) -> usize {
        self.bounds.len() + 1
    }
}

impl SecondsHistogram {
    /// Bounds that are not finite are dropped (`+Inf` is always there); the rest are
    /// sorted.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Self {
        let mut bounds: Vec<f64> = bounds.into_iter().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        // The buckets, `+Inf` and the sum.
        let cells = Cells::new(bounds.len() + 2);
        Self {
            inner: Arc::new(Inner {
                bounds: bounds.into(),
                cells,
            }),
        }
    }

    /// Records one duration of `seconds`. A negative one counts in the first bucket and
    /// adds nothing to the sum; a NaN counts in `+Inf` and adds nothing; one beyond
    /// [`MAX_OBSERVATION_SECONDS`] counts in its bucket and adds that maximum.
    pub fn observe(&self, seconds: f64) {
        let inner = &self.inner;
        let i = if seconds.is_nan() {
            inner.bounds.len()
        } else {
            inner.bounds.partition_point(|b| *b < seconds)
        };
        inner.cells.add(i, 1);
        // `as` saturates: a negative value gives 0. (`min` would turn a NaN into the
        // maximum, hence the test first.)
        let nanos = if seconds.is_nan() {
            0
        } else {
            (seconds.min(MAX_OBSERVATION_SECONDS) * 1e9) as u64
        };
        if nanos > 0 {
            inner.cells.add(inner.sum_cell(), nanos);
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        (0..=self.inner.bounds.len())
            .map(|i| self.inner.cells.total(i))
            .sum()
    }

    /// Sum of the observations, in seconds.
    pub fn sum(&self) -> f64 {
        self.inner.cells.total(self.inner.sum_cell()) as f64 / 1e9
    }

    /// Records one duration.
    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    /// `(upper bound, observations in that bucket)`, `+Inf` last; not cumulative.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        let inner = &self.inner;
        inner
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .enumerate()
            .map(|(i, bound)| (bound, inner.cells.total(i)))
            .collect()
    }
}

impl Default for SecondsHistogram {
    /// With [`SECONDS_BUCKETS`].
    fn default() -> Self {
        Self::new(SECONDS_BUCKETS)
    }
}

impl TypedMetric for SecondsHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for SecondsHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets = self.buckets();
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
    use crate::sharded::SHARDS;
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
            h.buckets(),
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
        h.observe(1.0);
        assert_eq!(h.buckets(), vec![(0.01, 1), (0.1, 0), (f64::INFINITY, 3)]);
        // Infinity adds the per-observation maximum, so a later observation still adds
        // up instead of wrapping the sum around.
        assert_eq!(h.sum(), MAX_OBSERVATION_SECONDS + 1.0);
    }

    #[test]
    fn sums_are_whole_nanoseconds() {
        let h = SecondsHistogram::new([1.0]);
        h.observe(0.1);
        h.observe(0.2);
        // Integer nanoseconds: 0.3 exactly, where adding the floats gives
        // 0.30000000000000004. Below a nanosecond is dropped.
        assert_eq!(h.sum(), 0.3);
        h.observe(1e-10);
        assert_eq!(h.sum(), 0.3);
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
    fn series_with_more_cells_than_a_line_holds_count_every_bucket() {
        let bounds: Vec<f64> = (1..=40).map(f64::from).collect();
        let h = SecondsHistogram::new(bounds.clone());
        for b in &bounds {
            h.observe(*b);
        }
        h.observe(1000.0);
        let buckets = h.buckets();
        assert_eq!(buckets.len(), 41);
        assert!(buckets.iter().all(|(_, n)| *n == 1), "{buckets:?}");
        assert_eq!(h.sum(), 820.0 + 1000.0);
    }

    #[test]
    fn observations_from_many_threads_are_all_counted() {
        let h = SecondsHistogram::new([0.001, 0.01]);
        // More threads than copies: several record into the same one.
        std::thread::scope(|s| {
            for _ in 0..2 * SHARDS {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        h.observe(0.002);
                    }
                });
            }
        });
        assert_eq!(h.count(), 20_000 * SHARDS as u64);
        assert!((h.sum() - 40.0 * SHARDS as f64).abs() < 1e-6, "{}", h.sum());
    }
}
