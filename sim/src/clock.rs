//! [`Clock`]: how a simulated backend waits out its latency.
//!
//! tokio's timer counts in whole milliseconds: a `sleep(80ms)` is rounded up to the
//! next millisecond tick, and the runtime parks with a timeout in whole milliseconds
//! too, so the wait ends 80–82 ms later (about 81 ms on average). That is right for
//! tests, which pause tokio's clock, and for the demo; it is wrong for a benchmark
//! whose targets are "within 1 ms of the slowest backend": the backend itself would
//! eat most of the millisecond. [`Clock::Precise`] waits on a Linux `timerfd` of its
//! own, registered with the runtime's I/O driver, which wakes when the kernel's
//! high-resolution timer fires (tens of microseconds late, not milliseconds).

use std::io;
use std::time::Duration;

use timerfd::{ClockId, SetTimeFlags, TimerFd, TimerState};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The clock a [`SimServer`](crate::SimServer) waits its latency on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// tokio's timer: millisecond resolution (a wait ends up to about 2 ms late);
    /// follows a paused test clock.
    #[default]
    Runtime,
    /// A `timerfd` per wait on the monotonic clock: real time to tens of
    /// microseconds, whatever tokio's clock says (so not for paused-time tests).
    /// Falls back to [`Clock::Runtime`] if the kernel refuses a timer.
    Precise,
}

impl Clock {
    /// Waits `delay` on this clock.
    pub async fn sleep(self, delay: Duration) {
        if delay.is_zero() {
            return;
        }
        match self {
            Clock::Runtime => tokio::time::sleep(delay).await,
            Clock::Precise => {
                if let Err(error) = timerfd_sleep(delay).await {
                    tracing::warn!(%error, "no timerfd for a precise wait; using tokio's timer");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// One oneshot timer on its own non-blocking descriptor, awaited through the
/// runtime's reactor; the descriptor is closed when the wait ends or is dropped.
async fn timerfd_sleep(delay: Duration) -> io::Result<()> {
    let mut timer = TimerFd::new_custom(ClockId::Monotonic, true, true)?;
    // A zero `Oneshot` would disarm the timer; `sleep` never passes one.
    timer.set_state(TimerState::Oneshot(delay), SetTimeFlags::Default);
    // `register_with_interest` is the unsafe form (this workspace forbids `unsafe`);
    // the safe one is deprecated only because an arbitrary `AsRawFd` type could hand
    // back another descriptor later. `TimerFd` owns its descriptor (an `OwnedFd`),
    // which stays open and the same until the `AsyncFd` drops it.
    #[allow(deprecated)]
    let timer = AsyncFd::with_interest(timer, Interest::READABLE)?;
    loop {
        let mut ready = timer.readable().await?;
        // Non-blocking: 0 when woken before the timer fired (a spurious readiness).
        if ready.get_inner().read() > 0 {
            return Ok(());
        }
        ready.clear_ready();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    // Only lower bounds: how late a wait ends depends on the machine's load, which
    // the benchmark's "backend alone" run measures, not a test.
    #[tokio::test]
    async fn a_precise_wait_lasts_at_least_its_delay() {
        for ms in [1, 3, 7] {
            let delay = Duration::from_millis(ms);
            let started = Instant::now();
            Clock::Precise.sleep(delay).await;
            assert!(
                started.elapsed() >= delay,
                "{ms} ms: {:?}",
                started.elapsed()
            );
        }
    }

    #[tokio::test]
    async fn a_zero_delay_returns_at_once_on_either_clock() {
        for clock in [Clock::Runtime, Clock::Precise] {
            tokio::time::timeout(Duration::from_secs(5), clock.sleep(Duration::ZERO))
                .await
                .expect("no wait");
        }
    }

    #[tokio::test]
    async fn precise_waits_run_side_by_side() {
        let delay = Duration::from_millis(20);
        let started = Instant::now();
        let all = futures::future::join_all((0..64).map(|_| Clock::Precise.sleep(delay)));
        tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .expect("every wait ends");
        assert!(started.elapsed() >= delay);
    }

    #[tokio::test(start_paused = true)]
    async fn the_runtime_clock_follows_paused_time() {
        let started = tokio::time::Instant::now();
        Clock::Runtime.sleep(Duration::from_secs(3600)).await;
        assert!(started.elapsed() >= Duration::from_secs(3600));
    }
}
