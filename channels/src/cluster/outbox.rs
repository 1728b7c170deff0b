//! Sending this node's messages: in order, retried until the database takes them, never
//! making the operator's request wait on the database.
//!
//! A handler that changed something locally pushes the payloads and answers at once; one
//! task sends them one after the other. A send that fails is retried with a growing pause
//! (100 ms doubling to 5 s) until it succeeds or the node stops: a late message is
//! harmless, because receivers read the state it names from the store. If the queue
//! overflows meanwhile (the database has been away through a storm of invalidations),
//! the overflowing messages are dropped and a `resync` goes out before the next message,
//! so the other nodes drop what they can no longer be told about.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages waiting to be sent. Operator actions come one by one and an invalidation of
/// the largest size splits into a few dozen payloads, so a thousand covers long outages
/// of ordinary use; beyond it a single `resync` says the same as everything dropped.
pub const CAPACITY: usize = 1024;

const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// The pushing side.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::Sender<String>,
    overflowed: Arc<AtomicBool>,
}

/// The sending side, for [`deliver`].
#[derive(Debug)]
pub struct Queue {
    rx: mpsc::Receiver<String>,
    overflowed: Arc<AtomicBool>,
}

pub fn outbox(capacity: usize) -> (Outbox, Queue) {
    let (tx, rx) = mpsc::channel(capacity);
    let overflowed = Arc::new(AtomicBool::new(false));
    (
        Outbox {
            tx,
            overflowed: overflowed.clone(),
        },
        Queue { rx, overflowed },
    )
}

impl Outbox {
    /// Queues `payload` without waiting.
    pub fn push(&self, payload: String) {
        match self.tx.try_send(payload) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.overflowed.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        capacity = CAPACITY,
                        "cluster messages are piling up (the database is not taking them): \
                         the others will be told to resynchronize"
                    );
                }
            }
            // The node is stopping: nobody sends any more.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Sends every queued payload in order with `send`, retrying each until it goes; reports
/// every attempt's outcome to `report`. Ends when `cancel` fires.
pub async fn deliver<S, F>(
    mut queue: Queue,
    resync: String,
    send: S,
    report: impl Fn(Result<(), String>),
    cancel: CancellationToken,
) where
    S: Fn(String) -> F,
    F: Future<Output = Result<(), String>>,
{
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = queue.rx.recv() => next,
        };
        let Some(payload) = next else { return };
        let mut pending = Vec::with_capacity(2);
        if queue.overflowed.swap(false, Ordering::AcqRel) {
            pending.push(resync.clone());
        }
        pending.push(payload);
        for payload in pending {
            let mut pause = FIRST_PAUSE;
            loop {
                let outcome = send(payload.clone()).await;
                let sent = outcome.is_ok();
                report(outcome);
                if sent {
                    break;
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;

    /// A sender that refuses the first `failures` attempts, recording every attempt with
    /// its time since `start`.
    #[derive(Clone)]
    struct Flaky {
        failures: Arc<Mutex<u32>>,
        attempts: Arc<Mutex<Vec<(String, Duration, bool)>>>,
        start: Instant,
    }

    impl Flaky {
        fn new(failures: u32) -> Self {
            Flaky {
                failures: Arc::new(Mutex::new(failures)),
                attempts: Arc::default(),
                start: Instant::now(),
            }
        }
        fn send(&self, payload: String) -> impl Future<Output = Result<(), String>> {
            let this = self.clone();
            async move {
                let mut left = this.failures.lock().expect("lock");
                let ok = *left == 0;
                *left = left.saturating_sub(1);
                this.attempts
                    .lock()
                    .expect("lock")
                    .push((payload, this.start.elapsed(), ok));
                if ok {
                    Ok(())
                } else {
                    Err("database away".into())
                }
            }
        }
        fn delivered(&self) -> Vec<String> {
            let attempts = self.attempts.lock().expect("lock");
            attempts
                .iter()
                .filter(|a| a.2)
                .map(|a| a.0.clone())
                .collect()
        }
    }

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn payloads_go_out_in_order_and_failed_sends_are_retried_with_growing_pauses() {
        let (outbox, queue) = outbox(16);
        let sink = Flaky::new(3);
        let reports = Arc::new(Mutex::new((0u32, 0u32)));
        let cancel = CancellationToken::new();
        let task = {
            let (sink, reports) = (sink.clone(), reports.clone());
            tokio::spawn(deliver(
                queue,
                "resync".into(),
                move |p| sink.send(p),
                move |r| {
                    let mut counts = reports.lock().expect("lock");
                    if r.is_ok() {
                        counts.0 += 1
                    } else {
                        counts.1 += 1
                    }
                },
                cancel.clone(),
            ))
        };
        for p in ["one", "two", "three"] {
            outbox.push(p.into());
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        settle().await;
        assert_eq!(sink.delivered(), ["one", "two", "three"]);
        let attempts = sink.attempts.lock().expect("lock").clone();
        let times: Vec<(String, Duration)> = attempts.iter().map(|a| (a.0.clone(), a.1)).collect();
        let ms = Duration::from_millis;
        assert_eq!(
            times,
            [
                ("one".into(), ms(0)),
                ("one".into(), ms(100)),
                ("one".into(), ms(300)),
                ("one".into(), ms(700)),
                ("two".into(), ms(700)),
                ("three".into(), ms(700)),
            ]
        );
        assert_eq!(*reports.lock().expect("lock"), (3, 3));
        cancel.cancel();
        task.await.expect("the task ends when cancelled");
    }

    #[tokio::test(start_paused = true)]
    async fn an_overflow_sends_a_resync_before_the_next_payload() {
        let (outbox, queue) = outbox(2);
        // Fill the queue and overflow it before anything is sent.
        for p in ["a", "b", "dropped-1", "dropped-2"] {
            outbox.push(p.into());
        }
        let sink = Flaky::new(0);
        let cancel = CancellationToken::new();
        let s = sink.clone();
        tokio::spawn(deliver(
            queue,
            "resync".into(),
            move |p| s.send(p),
            |_| {},
            cancel.clone(),
        ));
        settle().await;
        outbox.push("c".into());
        settle().await;
        assert_eq!(sink.delivered(), ["resync", "a", "b", "c"]);
        cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_stops_the_retries() {
        let (outbox, queue) = outbox(4);
        let sink = Flaky::new(u32::MAX);
        let cancel = CancellationToken::new();
        let s = sink.clone();
        let task = tokio::spawn(deliver(
            queue,
            "resync".into(),
            move |p| s.send(p),
            |_| {},
            cancel.clone(),
        ));
        outbox.push("never".into());
        tokio::time::sleep(Duration::from_secs(30)).await;
        cancel.cancel();
        task.await.expect("ends");
        let tried = sink.attempts.lock().expect("lock").len();
        // 0, .1, .3, .7, 1.5, 3.1, 6.3, then every 5 s: 11.3 … 26.3.
        assert_eq!(tried, 11);
        outbox.push("after".into());
        assert_eq!(sink.attempts.lock().expect("lock").len(), tried);
    }
}
