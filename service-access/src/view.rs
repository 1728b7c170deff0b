//! What operators see of a service: its state, statistics, recent transitions, last errors
//! and health.

use serde::Serialize;

use crate::breaker::State;
use crate::health::HealthStatus;
use crate::service::Service;
use crate::stats::{RecentError, StatsSnapshot};
use crate::toggle::Toggle;

#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub id: String,
    pub base_url: String,
    /// `closed`, `open`, `half_open`, `disabled` or `forced_closed`.
    pub state: &'static str,
    pub breaker: &'static str,
    pub toggle: Toggle,
    pub in_flight: u32,
    pub max_concurrent: u32,
    pub queued: u32,
    pub error_rate: f64,
    pub stats: StatsSnapshot,
    pub transitions: Vec<TransitionView>,
    pub health: Option<HealthStatus>,
    /// The last failed calls (timeouts, bad statuses, transport errors, rejections by the
    /// bulkhead or global cap), newest first.
    pub last_errors: Vec<RecentError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransitionView {
    pub from: &'static str,
    pub to: &'static str,
    #[serde(with = "crate::toggle::unix_ms")]
    pub at: std::time::SystemTime,
    pub cause: String,
}

impl Service {
    pub fn view(&self) -> ServiceView {
        let toggle = self.toggle();
        let breaker = self.breaker.state();
        let state = match (&toggle, breaker) {
            (Toggle::Disabled { .. }, _) => "disabled",
            (Toggle::ForcedClosed { .. }, _) => "forced_closed",
            (Toggle::Enabled, s) => s.as_str(),
        };
        let snap = self.breaker.snapshot();
        ServiceView {
            id: self.def.id.clone(),
            base_url: self.def.base_url.clone(),
            state,
            breaker: breaker.as_str(),
            toggle,
            in_flight: self.bulkhead.in_flight(),
            max_concurrent: self.bulkhead.max(),
            queued: self.bulkhead.queued(),
            error_rate: snap.failure_rate,
            stats: self.stats.snapshot(),
            transitions: self
                .breaker
                .transitions()
                .into_iter()
                .map(|t| TransitionView {
                    from: t.from.as_str(),
                    to: t.to.as_str(),
                    at: t.wall,
                    cause: t.cause,
                })
                .collect(),
            health: self.health_status(),
            last_errors: self.stats.recent_errors(),
        }
    }
}

impl State {
    pub fn is_open(self) -> bool {
        matches!(self, State::Open)
    }
}
