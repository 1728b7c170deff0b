//! Counters that every core adds to without writing the others' cache lines: each value
//! is kept once per shard, a thread adds to its own shard, and a read adds the shards
//! up. For what every request records — a page's time and outcome, the response's
//! status, the cache's hits.
//!
//! One atomic written by every core moves its cache line from core to core on every
//! write; in the two-task request-path bench (`bench/benches/request_path.rs`) the page
//! metrics of a cached page cost more than the rest of its path that way
//! (docs/benchmarks.md, session 7). A shard per thread costs memory instead: [`SHARDS`]
//! lines of 128 bytes per series.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Copies of each value. Threads take the shards in turn as they first record, so up to
/// this many recording threads (a runtime's workers) never share one.
pub const SHARDS: usize = 8;

/// Values per line.
const PER_LINE: usize = 16;

/// 128 bytes: a cache line and the one the adjacent-line prefetcher pairs it with.
#[derive(Debug)]
#[repr(align(128))]
struct Line([AtomicU64; PER_LINE]);

/// `len` values, kept [`SHARDS`] times, each shard's starting on a line of its own.
#[derive(Debug)]
pub(crate) struct Cells {
    lines: Box<[Line]>,
    /// Lines per shard.
    stride: usize,
}

impl Cells {
    pub(crate) fn new(len: usize) -> Self {
        let stride = len.div_ceil(PER_LINE).max(1);
        Self {
            lines: (0..SHARDS * stride)
                .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            stride,
        }
    }

    /// Adds `n` to value `i` in this thread's shard.
    pub(crate) fn add(&self, i: usize, n: u64) {
        self.lines[shard() * self.stride + i / PER_LINE].0[i % PER_LINE]
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Value `i`, its shards added up (wrapping, as each shard wraps).
    pub(crate) fn total(&self, i: usize) -> u64 {
        (0..SHARDS)
            .map(|s| {
                self.lines[s * self.stride + i / PER_LINE].0[i % PER_LINE].load(Ordering::Relaxed)
            })
            .fold(0, u64::wrapping_add)
    }
}

/// This thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// A monotonic counter ([`Cells`] of one value); scraped as a Prometheus counter, like
/// prometheus-client's `Counter`, into whose `Family`s it goes. Clones share the value.
#[derive(Debug, Clone)]
pub struct ShardedCounter(Arc<Cells>);

impl Default for ShardedCounter {
    fn default() -> Self {
        Self(Arc::new(Cells::new(1)))
    }
}

impl ShardedCounter {
    pub fn inc(&self) {
        self.0.add(0, 1);
    }

    pub fn get(&self) -> u64 {
        self.0.total(0)
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::registry::Registry;

    fn scrape(name: &str, metric: impl prometheus_client::registry::Metric) -> String {
        let mut registry = Registry::default();
        registry.register(name, "Requests", metric);
        let mut out = String::new();
        encode(&mut out, &registry).expect("encodes");
        out
    }

    #[test]
    fn increments_from_more_threads_than_shards_are_all_counted() {
        let c = ShardedCounter::default();
        std::thread::scope(|s| {
            for _ in 0..2 * SHARDS {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        c.inc();
                    }
                });
            }
        });
        assert_eq!(c.get(), 20_000 * SHARDS as u64);
        assert_eq!(c.clone().get(), c.get(), "clones share the value");
    }

    #[test]
    fn it_scrapes_as_prometheus_clients_counter_does() {
        let (ours, theirs) = (ShardedCounter::default(), Counter::<u64>::default());
        for _ in 0..3 {
            ours.inc();
            theirs.inc();
        }
        assert_eq!(scrape("requests", ours), scrape("requests", theirs));
    }

    #[test]
    fn values_past_a_line_are_kept_apart() {
        let cells = Cells::new(40);
        for i in 0..40 {
            cells.add(i, i as u64);
        }
        assert!((0..40).all(|i| cells.total(i) == i as u64));
    }
}
