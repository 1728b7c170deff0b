//! A tiny xorshift PRNG for latency jitter.
//!
//! Jitter only has to look random to a human watching the demo, so a
//! dependency on `rand` is not worth it. Seeded from the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// xorshift64 state. An atomic so concurrent requests need no lock; a lost
/// update under contention only repeats a number, which is harmless here.
#[derive(Debug)]
pub(crate) struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    pub(crate) fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self::seeded(nanos)
    }

    pub(crate) fn seeded(seed: u64) -> Self {
        // xorshift is stuck at zero forever; any other seed is fine.
        let seed = if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        };
        Jitter {
            state: AtomicU64::new(seed),
        }
    }

    fn next_u64(&self) -> u64 {
        let mut x = self.state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.store(x, Ordering::Relaxed);
        x
    }

    /// `base` moved uniformly within ±`spread` (microsecond resolution),
    /// never below zero.
    pub(crate) fn around(&self, base: Duration, spread: Duration) -> Duration {
        let spread_us = u64::try_from(spread.as_micros()).unwrap_or(u64::MAX / 2);
        if spread_us == 0 {
            return base;
        }
        let width = spread_us.saturating_mul(2).saturating_add(1);
        let offset = self.next_u64() % width;
        let plus = Duration::from_micros(offset);
        (base + plus).saturating_sub(Duration::from_micros(spread_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_the_spread_and_actually_varies() {
        let jitter = Jitter::seeded(42);
        let base = Duration::from_millis(40);
        let spread = Duration::from_millis(10);
        let samples: Vec<Duration> = (0..1000).map(|_| jitter.around(base, spread)).collect();
        assert!(samples
            .iter()
            .all(|d| *d >= Duration::from_millis(30) && *d <= Duration::from_millis(50)));
        assert!(samples.iter().any(|d| *d < Duration::from_millis(35)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(45)));
    }

    #[test]
    fn no_spread_means_exact_and_never_negative() {
        let jitter = Jitter::seeded(0);
        assert_eq!(
            jitter.around(Duration::from_millis(5), Duration::ZERO),
            Duration::from_millis(5)
        );
        for _ in 0..100 {
            assert!(
                jitter.around(Duration::ZERO, Duration::from_millis(3)) <= Duration::from_millis(3)
            );
        }
    }
}
