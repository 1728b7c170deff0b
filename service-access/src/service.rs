//! One backend service and the composition of its policy pieces, outermost first:
//!
//! 1. operator toggle — disabled: not called at all ([`ServiceDisabled`])
//! 2. circuit breaker — open: not called at all ([`BreakerOpen`]); skipped when forced closed
//! 3. timeout — bounds everything below, queueing included ([`Elapsed`])
//! 4. global cap — node-wide in-flight calls, no queue ([`Overloaded`], scope global)
//! 5. bulkhead — the service's slots and short queue ([`Overloaded`], scope bulkhead)
//! 6. retry — idempotent GETs, within attempts and budget
//! 7. HTTP exchange — connect timeout, body cap, header hygiene
//!
//! The toggle and the breaker come first so that a call that cannot help costs nothing
//! and never waits; limits come inside the timeout so that waiting for a slot counts
//! against the same deadline.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tessera_descriptors::{ServiceDef, WindowDef};
use tokio::time::Instant;

use crate::breaker::{Breaker, BreakerPolicy, Outcome, Window};
use crate::client::{self, BackendRequest, BackendResponse};
use crate::error::CallError;
use crate::limit::{Limit, Scope};
use crate::retry::RetryPolicy;
use crate::stats::{inc, Stats};
use crate::timeout::with_timeout;
use crate::toggle::{ServiceDisabled, Toggle};

/// One backend service with its policy, its own connection pool (so one slow service
/// cannot hold the connections another needs), and its live state.
#[derive(Debug)]
pub struct Service {
    pub def: Arc<ServiceDef>,
    pub(crate) client: reqwest::Client,
    max_body: usize,
    pub(crate) breaker: Breaker,
    pub(crate) bulkhead: Limit,
    global: Arc<Limit>,
    retry: RetryPolicy,
    pub(crate) toggle: RwLock<Toggle>,
    pub(crate) stats: Stats,
    pub(crate) health: crate::health::HealthCell,
}

pub(crate) fn breaker_policy(def: &ServiceDef) -> BreakerPolicy {
    let b = &def.breaker;
    BreakerPolicy {
        window: match b.window {
            WindowDef::Calls(n) => Window::Count(n as usize),
            WindowDef::Time(d) => Window::Time(d),
        },
        min_calls: b.min_calls,
        failure_rate: b.failure_rate,
        slow_call: b.slow_call,
        slow_call_rate: b.slow_call_rate,
        open_for: b.open_for,
        half_open_probes: b.half_open_probes,
        consecutive_failures: b.consecutive_failures,
    }
}

impl Service {
    pub(crate) fn new(
        def: Arc<ServiceDef>,
        max_body: usize,
        global: Arc<Limit>,
        security: &tessera_descriptors::settings::SecuritySettings,
    ) -> Self {
        Self {
            client: client::build_client(&def, security),
            max_body,
            breaker: Breaker::new(breaker_policy(&def)),
            bulkhead: Limit::new(Scope::Bulkhead, def.max_concurrent, def.queue),
            global,
            retry: RetryPolicy::new(&def.retry),
            toggle: RwLock::new(Toggle::Enabled),
            stats: Stats::default(),
            health: crate::health::HealthCell::default(),
            def,
        }
    }

    pub fn id(&self) -> &str {
        &self.def.id
    }

    pub fn toggle(&self) -> Toggle {
        self.toggle.read().map_or(Toggle::Enabled, |t| t.clone())
    }

    pub fn set_toggle(&self, toggle: Toggle) {
        if let Ok(mut t) = self.toggle.write() {
            *t = toggle;
        }
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Calls in flight to this backend right now.
    pub fn in_flight(&self) -> u32 {
        self.bulkhead.in_flight()
    }

    /// Calls the backend through the service's policy, in a `backend_call` span with
    /// the service id, the outcome and the backend's status (never the path: it may name
    /// a user). With OpenTelemetry export on, the `traceparent` the request carries names
    /// this span, so the backend's own spans hang below the call in the exported trace.
    pub async fn call(&self, request: &BackendRequest) -> Result<BackendResponse, CallError> {
        use tracing::Instrument;
        let span = tracing::debug_span!(
            "backend_call",
            service = %self.def.id,
            outcome = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let named = crate::trace::name_exported_span(&span, request);
        let request = named.as_ref().unwrap_or(request);
        let result = self.call_in_policy(request).instrument(span.clone()).await;
        span.record("outcome", outcome_name(&result));
        match &result {
            Ok(r) => span.record("status", r.status.as_u16()),
            Err(CallError::Status(b)) => span.record("status", b.status),
            Err(_) => &span,
        };
        result
    }

    async fn call_in_policy(&self, request: &BackendRequest) -> Result<BackendResponse, CallError> {
        inc(&self.stats.calls);
        let forced = match self.toggle() {
            Toggle::Disabled { reason, .. } => {
                inc(&self.stats.disabled_skips);
                return Err(ServiceDisabled { reason }.into());
            }
            Toggle::ForcedClosed { .. } => true,
            Toggle::Enabled => false,
        };
        // Forced closed: calls go through, but a permit (if any) still records outcomes.
        let permit = match self.breaker.try_acquire() {
            Ok(p) => Some(p),
            Err(_) if forced => None,
            Err(open) => {
                inc(&self.stats.short_circuits);
                return Err(open.into());
            }
        };
        let started = Instant::now();
        let result = with_timeout(self.def.timeout, async {
            let _global = self.global.acquire().await?;
            let _slot = self.bulkhead.acquire().await?;
            self.exchange_with_retry(request).await
        })
        .await
        .unwrap_or_else(|elapsed| Err(elapsed.into()));
        let elapsed = started.elapsed();
        self.count(&result);
        if let Err(e) = &result {
            // Calls not made (disabled, breaker open) are counted, not listed: the
            // failures that caused them already are.
            self.stats
                .record_error(outcome_name(&result), e.to_string());
        }
        let outcome = classify(&result);
        if outcome.is_some() {
            // Calls that reached the backend, timeouts included: a p99 that left out the
            // timeouts would hide exactly what operators look for.
            self.stats.record_latency(elapsed);
        }
        if let Some(permit) = permit {
            match outcome {
                Some(outcome) => permit.record(outcome, elapsed),
                // Rejected locally: says nothing about the backend's health.
                None => drop(permit),
            }
        }
        result
    }

    async fn exchange_with_retry(
        &self,
        request: &BackendRequest,
    ) -> Result<BackendResponse, CallError> {
        self.retry.deposit();
        let mut attempt = 0;
        loop {
            let result = client::exchange(
                &self.client,
                &self.def.base_url,
                request,
                self.max_body,
                self.def.read_timeout,
            )
            .await;
            match result {
                Err(e) if self.retry.may_retry(attempt, &e) => {
                    inc(&self.stats.retries);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn count(&self, result: &Result<BackendResponse, CallError>) {
        let s = &self.stats;
        match result {
            Ok(_) => inc(&s.successes),
            Err(CallError::Timeout(_)) => inc(&s.timeouts),
            Err(CallError::Status(_)) => inc(&s.bad_status),
            Err(CallError::Connect(_)) => inc(&s.connect_errors),
            Err(CallError::Transport(_)) => inc(&s.transport_errors),
            Err(CallError::TooLarge(_)) => inc(&s.too_large),
            Err(CallError::Overloaded(o)) => match o.scope {
                Scope::Bulkhead => inc(&s.bulkhead_rejections),
                Scope::Global => inc(&s.global_rejections),
            },
            Err(
                CallError::Disabled(_) | CallError::BreakerOpen(_) | CallError::UnknownService(_),
            ) => {}
        }
    }
}

/// A call's outcome as spans and logs name it (the `outcome` label of
/// `tessera_backend_calls_total` uses the same names).
pub fn outcome_name(result: &Result<BackendResponse, CallError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(CallError::Timeout(_)) => "timeout",
        Err(CallError::Status(_)) => "bad_status",
        Err(CallError::Connect(_)) => "connect_error",
        Err(CallError::Transport(_)) => "transport_error",
        Err(CallError::TooLarge(_)) => "too_large",
        Err(CallError::Overloaded(o)) => match o.scope {
            Scope::Bulkhead => "bulkhead_rejected",
            Scope::Global => "global_rejected",
        },
        Err(CallError::BreakerOpen(_)) => "short_circuited",
        Err(CallError::Disabled(_)) => "disabled",
        Err(CallError::UnknownService(_)) => "unknown_service",
    }
}

/// What a call's result says about the backend's health. Client errors (4xx) are the
/// backend answering correctly; local rejections say nothing.
fn classify(result: &Result<BackendResponse, CallError>) -> Option<Outcome> {
    match result {
        Ok(_) => Some(Outcome::Success),
        Err(CallError::Status(s)) if s.status < 500 => Some(Outcome::Success),
        Err(
            CallError::Overloaded(_)
            | CallError::Disabled(_)
            | CallError::BreakerOpen(_)
            | CallError::UnknownService(_),
        ) => None,
        Err(_) => Some(Outcome::Failure),
    }
}

/// A toggle set now by `actor`.
pub fn disabled(reason: &str, actor: &str) -> Toggle {
    Toggle::Disabled {
        reason: reason.to_owned(),
        actor: actor.to_owned(),
        at: SystemTime::now(),
    }
}
