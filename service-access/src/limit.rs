//! Concurrency limits: the per-service bulkhead (with an optional short, bounded queue)
//! and the global cap on in-flight backend calls (no queue). Beyond a limit a call is
//! rejected at once with [`Overloaded`], so a slow backend can hold at most its own
//! slots, never the node's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which limit rejected a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The service's bulkhead (`max-concurrent` + `queue`).
    Bulkhead,
    /// The node-wide cap (`limits.max-in-flight-backend-calls`).
    Global,
}

/// A limit was full; the call was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} full ({limit} calls in flight{})", match .scope { Scope::Bulkhead => "bulkhead", Scope::Global => "global backend-call cap" }, if *.queue > 0 { format!(", {} queued", .queue) } else { String::new() })]
pub struct Overloaded {
    pub scope: Scope,
    pub limit: u32,
    pub queue: u32,
}

/// A concurrency limit with `queue` waiting places.
#[derive(Debug)]
pub struct Limit {
    scope: Scope,
    slots: Arc<Semaphore>,
    max: u32,
    queue: u32,
    waiting: AtomicU32,
}

/// Holding one slot; dropping it frees the slot (also when the call is cancelled).
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Limit {
    pub fn new(scope: Scope, max: u32, queue: u32) -> Self {
        Self {
            scope,
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            queue,
            waiting: AtomicU32::new(0),
        }
    }

    /// Takes a slot now, or waits in the queue if a place is free, or fails at once.
    /// Waiting is bounded by the caller's timeout, which wraps this.
    pub async fn acquire(&self) -> Result<Slot, Overloaded> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot(p));
        }
        let overloaded = || Overloaded {
            scope: self.scope,
            limit: self.max,
            queue: self.queue,
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded());
        }
        // Leaves the queue however the wait ends (slot, cancellation).
        struct Leave<'a>(&'a AtomicU32);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _leave = Leave(&self.waiting);
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map(Slot)
            .map_err(|_| overloaded())
    }

    /// Slots in use.
    pub fn in_flight(&self) -> u32 {
        self.max
            .saturating_sub(self.slots.available_permits() as u32)
    }

    pub fn queued(&self) -> u32 {
        self.waiting.load(Ordering::Acquire)
    }

    pub fn max(&self) -> u32 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rejects_beyond_slots_and_queue() {
        let limit = Arc::new(Limit::new(Scope::Bulkhead, 2, 1));
        let a = limit.acquire().await.expect("slot 1");
        let _b = limit.acquire().await.expect("slot 2");
        assert_eq!(limit.in_flight(), 2);
        let queued = {
            let limit = limit.clone();
            tokio::spawn(async move { limit.acquire().await.map(|_| ()) })
        };
        while limit.queued() == 0 {
            tokio::task::yield_now().await;
        }
        let err = limit.acquire().await.expect_err("queue is full");
        assert_eq!(
            err.to_string(),
            "bulkhead full (2 calls in flight, 1 queued)"
        );
        drop(a);
        queued
            .await
            .expect("task")
            .expect("the queued call gets the freed slot");
        assert_eq!(limit.queued(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_the_queue() {
        let limit = Limit::new(Scope::Bulkhead, 1, 1);
        let _a = limit.acquire().await.expect("slot");
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(10), limit.acquire()).await;
        assert!(waited.is_err());
        assert_eq!(limit.queued(), 0);
    }
}
