//! Breaker behaviour under paused tokio time: every test moves the clock by hand.

use std::time::Duration;

use tokio::time::{advance, Instant};

use super::*;

const FAST: Duration = Duration::from_millis(10);

fn breaker(policy: BreakerPolicy) -> Breaker {
    assert_eq!(policy.validate(), Ok(()));
    Breaker::new(policy)
}

/// A count window of 10 with the default 50% / 10 calls thresholds.
fn ten_call_window() -> BreakerPolicy {
    BreakerPolicy {
        window: Window::Count(10),
        ..BreakerPolicy::default()
    }
}

fn call(b: &Breaker, outcome: Outcome, elapsed: Duration) {
    b.try_acquire()
        .expect("the breaker should permit this call")
        .record(outcome, elapsed);
}

fn succeed(b: &Breaker, n: usize) {
    (0..n).for_each(|_| call(b, Outcome::Success, FAST));
}

fn fail(b: &Breaker, n: usize) {
    (0..n).for_each(|_| call(b, Outcome::Failure, FAST));
}

fn causes(b: &Breaker) -> Vec<String> {
    b.transitions().into_iter().map(|t| t.cause).collect()
}

fn last_cause(b: &Breaker) -> String {
    causes(b).pop().unwrap_or_default()
}

fn refused(b: &Breaker) -> BreakerOpen {
    match b.try_acquire() {
        Ok(_) => panic!("the breaker should refuse this call"),
        Err(e) => e,
    }
}

#[test]
fn breaker_is_send_and_sync() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Breaker>();
    shareable::<std::sync::Arc<Breaker>>();
}

#[tokio::test(start_paused = true)]
async fn does_not_open_before_min_calls() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 9);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().failures_in_window, 9);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert_eq!(last_cause(&b), "failure rate 100% >= 50% over 10 calls");
}

#[tokio::test(start_paused = true)]
async fn opens_exactly_at_the_failure_rate() {
    let b = breaker(ten_call_window());
    succeed(&b, 6);
    fail(&b, 4);
    let snap = b.snapshot();
    assert_eq!((snap.state, snap.calls_in_window), (State::Closed, 10));
    assert_eq!(snap.failure_rate, 0.4);
    // The oldest success leaves the window: 5 failures of 10.
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert_eq!(last_cause(&b), "failure rate 50% >= 50% over 10 calls");
}

#[tokio::test(start_paused = true)]
async fn open_refuses_for_exactly_open_for() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 10);
    let open_for = b.policy().open_for;
    assert_eq!(refused(&b).retry_in, open_for);
    assert_eq!(
        refused(&b).to_string(),
        "circuit breaker open; next probe in 5s"
    );

    advance(Duration::from_millis(3_800)).await;
    assert_eq!(
        refused(&b).to_string(),
        "circuit breaker open; next probe in 1.2s"
    );

    advance(open_for - Duration::from_millis(3_801)).await;
    assert_eq!(refused(&b).retry_in, Duration::from_millis(1));
    assert_eq!(b.state(), State::Open);

    advance(Duration::from_millis(1)).await;
    let probe = b.try_acquire().expect("a probe once open_for has elapsed");
    assert!(probe.is_probe());
    assert_eq!(b.state(), State::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn half_open_permits_only_the_configured_probes() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 10);
    advance(b.policy().open_for).await;
    // All three still running: the fourth caller is refused.
    let probes: Vec<_> = (0..3)
        .map(|_| b.try_acquire().expect("one of 3 probes"))
        .collect();
    let err = refused(&b);
    assert_eq!(err.retry_in, Duration::ZERO);
    assert_eq!(
        err.to_string(),
        "circuit breaker half-open; all probe slots are in use"
    );
    assert_eq!(probes.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn closes_with_an_empty_window_when_every_probe_succeeds() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 10);
    advance(b.policy().open_for).await;
    succeed(&b, 2);
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b, 1);
    let snap = b.snapshot();
    assert_eq!((snap.state, snap.calls_in_window), (State::Closed, 0));
    assert_eq!(last_cause(&b), "3 probes succeeded");
    // The old failures are gone: it takes a full new window to open again.
    fail(&b, 9);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_a_new_period() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 10);
    advance(b.policy().open_for).await;
    let first = b.try_acquire().expect("probe 1");
    let second = b.try_acquire().expect("probe 2");
    advance(Duration::from_millis(40)).await;
    first.record(Outcome::Failure, Duration::from_millis(40));
    assert_eq!(b.state(), State::Open);
    assert_eq!(last_cause(&b), "probe failed");
    assert_eq!(refused(&b).retry_in, b.policy().open_for);
    // The other probe belonged to the finished half-open period.
    second.record(Outcome::Success, FAST);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_gives_its_slot_back() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 10);
    advance(b.policy().open_for).await;
    let first = b.try_acquire().expect("probe 1");
    let second = b.try_acquire().expect("probe 2");
    let third = b.try_acquire().expect("probe 3");
    assert!(b.try_acquire().is_err());
    drop(second); // cancelled by the page deadline
    let replacement = b.try_acquire().expect("the freed slot");
    assert!(b.try_acquire().is_err());
    for p in [first, third, replacement] {
        p.record(Outcome::Success, FAST);
    }
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_while_closed_is_not_counted() {
    let b = breaker(BreakerPolicy::default());
    drop(b.try_acquire().expect("closed"));
    assert_eq!(b.snapshot().calls_in_window, 0);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_the_breaker() {
    let b = breaker(BreakerPolicy {
        window: Window::Count(10),
        slow_call: Some(Duration::from_millis(250)),
        slow_call_rate: 0.8,
        ..BreakerPolicy::default()
    });
    call(&b, Outcome::Success, Duration::from_millis(249)); // just under: not slow
    call(&b, Outcome::Success, FAST);
    for _ in 0..7 {
        call(&b, Outcome::Success, Duration::from_millis(250));
    }
    assert_eq!(b.snapshot().slow_in_window, 7);
    assert_eq!(b.state(), State::Closed);
    call(&b, Outcome::Success, Duration::from_millis(300));
    assert_eq!(b.state(), State::Open);
    assert_eq!(last_cause(&b), "slow-call rate 80% >= 80% over 10 calls");
}

#[tokio::test(start_paused = true)]
async fn a_slow_failure_counts_as_slow_and_failed() {
    let b = breaker(BreakerPolicy {
        slow_call: Some(Duration::from_millis(250)),
        ..BreakerPolicy::default()
    });
    call(&b, Outcome::Failure, Duration::from_secs(1));
    let snap = b.snapshot();
    assert_eq!((snap.failures_in_window, snap.slow_in_window), (1, 1));
    assert_eq!((snap.failure_rate, snap.slow_rate), (1.0, 1.0));
}

#[tokio::test(start_paused = true)]
async fn slow_probes_reopen_instead_of_closing() {
    let b = breaker(BreakerPolicy {
        slow_call: Some(Duration::from_millis(250)),
        slow_call_rate: 0.5,
        ..BreakerPolicy::default()
    });
    fail(&b, 10);
    advance(b.policy().open_for).await;
    call(&b, Outcome::Success, Duration::from_millis(400));
    call(&b, Outcome::Success, Duration::from_millis(400));
    call(&b, Outcome::Success, FAST);
    assert_eq!(b.state(), State::Open);
    assert_eq!(last_cause(&b), "slow-call rate 66.7% >= 50% over 3 probes");
}

#[tokio::test(start_paused = true)]
async fn the_count_window_slides() {
    let b = breaker(ten_call_window());
    fail(&b, 4);
    succeed(&b, 6);
    succeed(&b, 4);
    assert_eq!(b.snapshot().failures_in_window, 0);
    // Had the first four stayed, this would be 8 of 10.
    fail(&b, 4);
    let snap = b.snapshot();
    assert_eq!((snap.state, snap.failures_in_window), (State::Closed, 4));
}

#[tokio::test(start_paused = true)]
async fn the_time_window_drops_calls_older_than_the_window() {
    let b = breaker(BreakerPolicy {
        window: Window::Time(Duration::from_secs(10)),
        ..BreakerPolicy::default()
    });
    fail(&b, 5);
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(b.snapshot().calls_in_window, 5);
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.snapshot().calls_in_window, 0);

    // Calls spread over the window all count.
    fail(&b, 5);
    advance(Duration::from_secs(5)).await;
    fail(&b, 4);
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert_eq!(last_cause(&b), "failure rate 100% >= 50% over 10 calls");
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_below_min_calls() {
    let b = breaker(BreakerPolicy {
        consecutive_failures: Some(3),
        ..BreakerPolicy::default()
    });
    fail(&b, 2);
    succeed(&b, 1); // resets the streak
    fail(&b, 2);
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().calls_in_window, 6);
    assert_eq!(last_cause(&b), "3 consecutive failures");
}

#[tokio::test(start_paused = true)]
async fn reset_closes_and_clears() {
    let b = breaker(BreakerPolicy::default());
    let in_flight = b.try_acquire().expect("closed");
    fail(&b, 10);
    assert_eq!(b.state(), State::Open);
    b.reset();
    let snap = b.snapshot();
    assert_eq!((snap.state, snap.calls_in_window), (State::Closed, 0));
    assert_eq!(last_cause(&b), "reset by operator");
    // An outcome from before the reset does not leak into the cleared window.
    in_flight.record(Outcome::Failure, FAST);
    assert_eq!(b.snapshot().calls_in_window, 0);
    assert!(b.try_acquire().is_ok(), "a reset breaker permits calls");
}

#[tokio::test(start_paused = true)]
async fn transitions_record_causes_in_order() {
    let b = breaker(BreakerPolicy::default());
    let start = Instant::now();
    fail(&b, 10);
    advance(Duration::from_secs(7)).await; // noticed 2s after it became due
    let probe = b.try_acquire().expect("probe");
    probe.record(Outcome::Failure, FAST);
    advance(Duration::from_secs(5)).await;
    succeed(&b, 3);
    b.reset();

    let history = b.transitions();
    let steps: Vec<_> = history
        .iter()
        .map(|t| (t.from, t.to, t.cause.as_str()))
        .collect();
    use State::*;
    assert_eq!(
        steps,
        [
            (Closed, Open, "failure rate 100% >= 50% over 10 calls"),
            (Open, HalfOpen, "open for 5s elapsed"),
            (HalfOpen, Open, "probe failed"),
            (Open, HalfOpen, "open for 5s elapsed"),
            (HalfOpen, Closed, "3 probes succeeded"),
            (Closed, Closed, "reset by operator"),
        ]
    );
    let offsets: Vec<_> = history.iter().map(|t| t.at - start).collect();
    let s = Duration::from_secs;
    assert_eq!(offsets, [s(0), s(5), s(7), s(12), s(12), s(12)]);
    // The wall stamp of the late-noticed transition is back-dated to when it was due.
    let noticed_late = history[2]
        .wall
        .duration_since(history[1].wall)
        .unwrap_or_default();
    assert!(
        noticed_late >= s(2) && noticed_late < s(3),
        "{noticed_late:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn transitions_keep_the_last_twenty() {
    let b = breaker(BreakerPolicy {
        consecutive_failures: Some(1),
        ..BreakerPolicy::default()
    });
    for _ in 0..11 {
        fail(&b, 1); // Closed -> Open
        b.reset(); // Open -> Closed
    }
    let history = b.transitions();
    assert_eq!(history.len(), 20);
    // 22 transitions happened; the first two (one open, one reset) are gone.
    assert_eq!(history[0].to, State::Open);
    assert_eq!(history[19].cause, "reset by operator");
}

#[tokio::test(start_paused = true)]
async fn state_reports_half_open_once_due_without_a_call() {
    let b = breaker(BreakerPolicy::default());
    fail(&b, 10);
    let opened = Instant::now();
    advance(Duration::from_secs(60)).await;
    assert_eq!(b.state(), State::HalfOpen);
    let due = b.transitions().pop().map(|t| t.at);
    assert_eq!(due, Some(opened + b.policy().open_for));
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_every_transition() {
    let b = breaker(BreakerPolicy::default());
    let mut rx = b.subscribe();
    assert_eq!(*rx.borrow_and_update(), State::Closed);
    let mut expect = |state: State| {
        assert!(
            rx.has_changed().unwrap_or(false),
            "no change before {state}"
        );
        assert_eq!(*rx.borrow_and_update(), state);
    };
    fail(&b, 10);
    expect(State::Open);
    advance(b.policy().open_for).await;
    let probe = b.try_acquire().expect("probe");
    expect(State::HalfOpen);
    probe.record(Outcome::Failure, FAST);
    expect(State::Open);
    advance(b.policy().open_for).await;
    succeed(&b, 3);
    // Two transitions since the last look: the watch shows the newest.
    expect(State::Closed);
    b.reset();
    expect(State::Closed);
    assert!(!rx.has_changed().unwrap_or(true));
}

#[tokio::test(start_paused = true)]
async fn a_stale_outcome_from_an_earlier_generation_is_ignored() {
    let b = breaker(BreakerPolicy::default());
    let slow_closed_call = b.try_acquire().expect("closed");
    fail(&b, 10);
    advance(b.policy().open_for).await;
    assert_eq!(b.state(), State::HalfOpen);
    // Acquired while closed, finished now: it must not count as a failed probe.
    slow_closed_call.record(Outcome::Failure, Duration::from_secs(5));
    assert_eq!(b.state(), State::HalfOpen);
    succeed(&b, 3);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().calls_in_window, 0);
}

#[test]
fn the_default_policy_is_valid() {
    assert_eq!(BreakerPolicy::default().validate(), Ok(()));
}

#[test]
fn validation_reports_every_problem() {
    let policy = BreakerPolicy {
        window: Window::Count(0),
        min_calls: 0,
        failure_rate: 1.5,
        slow_call: Some(Duration::ZERO),
        slow_call_rate: 0.0,
        open_for: Duration::ZERO,
        half_open_probes: 0,
        consecutive_failures: Some(0),
    };
    assert_eq!(
        policy.validate(),
        Err([
            "window must hold at least 1 call",
            "min_calls must be at least 1",
            "failure_rate must be above 0% and at most 100% (got 150%)",
            "slow_call_rate must be above 0% and at most 100% (got 0%)",
            "slow_call must be above 0ms (every call would be slow)",
            "open_for must be above 0ms",
            "half_open_probes must be at least 1 (the breaker could never close)",
            "consecutive_failures must be at least 1",
        ]
        .join("; "))
    );
}

#[test]
fn validation_rejects_windows_that_cannot_work() {
    let with = |window, min_calls| BreakerPolicy {
        window,
        min_calls,
        ..BreakerPolicy::default()
    };
    assert_eq!(
        with(Window::Count(5), 10).validate(),
        Err(
            "min_calls (10) exceeds the window of 5 calls, so the rates could never be evaluated"
                .to_owned()
        )
    );
    assert_eq!(
        with(Window::Time(Duration::from_millis(1_500)), 10).validate(),
        Err("a time window must be a whole number of seconds, at least 1s (got 1.5s)".to_owned())
    );
    assert_eq!(
        with(Window::Time(Duration::from_millis(500)), 10).validate(),
        Err("a time window must be a whole number of seconds, at least 1s (got 500ms)".to_owned())
    );
    let nan = BreakerPolicy {
        failure_rate: f64::NAN,
        ..BreakerPolicy::default()
    };
    assert_eq!(
        nan.validate(),
        Err("failure_rate must be above 0% and at most 100% (got NaN)".to_owned())
    );
    assert_eq!(
        with(Window::Time(Duration::from_secs(60)), 10).validate(),
        Ok(())
    );
}

#[test]
fn durations_read_well() {
    use super::error::human;
    let ms = Duration::from_millis;
    assert_eq!(human(Duration::ZERO), "0ms");
    assert_eq!(human(Duration::from_micros(1)), "1ms");
    assert_eq!(human(ms(250)), "250ms");
    assert_eq!(human(ms(1_200)), "1.2s");
    assert_eq!(human(ms(1_960)), "2s");
    assert_eq!(human(ms(5_000)), "5s");
    assert_eq!(human(ms(90_000)), "1m30s");
}

#[tokio::test(start_paused = true)]
async fn half_open_now_ends_an_open_period_early() {
    let b = breaker(BreakerPolicy::default());
    b.half_open_now("health probe succeeded");
    assert_eq!(b.state(), State::Closed, "a closed breaker needs no help");
    fail(&b, 10);
    advance(Duration::from_secs(1)).await;
    b.half_open_now("health probe succeeded");
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(last_cause(&b), "health probe succeeded");
    let held = b.try_acquire().expect("probe");
    b.half_open_now("again");
    assert_eq!(
        b.transitions().len(),
        2,
        "a running half-open period keeps its probes"
    );
    held.record(Outcome::Success, FAST);
    succeed(&b, 2);
    assert_eq!(b.state(), State::Closed);
}
