//! Retries of idempotent GETs, spent from a budget so that retries can never multiply
//! the load on a struggling backend: at most `attempts` retries per call, and over a
//! 10-second window at most `budget` × calls plus `min-per-second` (tower's `TpsBudget`,
//! the token bucket Finagle and linkerd use).

use std::time::Duration;

use tessera_descriptors::RetryDef;
use tower::retry::budget::{Budget, TpsBudget};

use crate::error::CallError;

pub struct RetryPolicy {
    attempts: u32,
    budget: TpsBudget,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl RetryPolicy {
    pub fn new(def: &RetryDef) -> Self {
        // Bounds are validated with the descriptor: budget 0..=1, min-per-second <= 1000.
        Self {
            attempts: def.attempts,
            budget: TpsBudget::new(
                Duration::from_secs(10),
                def.min_per_second,
                def.budget as f32,
            ),
        }
    }

    /// Every call earns retry credit.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// Whether the failed `attempt` (0 = the first try) may be retried: the error must be
    /// one a retry can cure, attempts must remain, and the budget must allow it.
    pub fn may_retry(&self, attempt: u32, error: &CallError) -> bool {
        attempt < self.attempts && retryable(error) && self.budget.withdraw()
    }
}

/// Refused connections, broken exchanges and "try again" statuses. Not timeouts (the
/// time is spent), not 4xx or 500 (the same request gets the same answer), not oversize.
fn retryable(error: &CallError) -> bool {
    match error {
        CallError::Connect(_) | CallError::Transport(_) => true,
        CallError::Status(s) => matches!(s.status, 502..=504),
        _ => false,
    }
}
