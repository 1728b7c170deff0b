//! Service access: the only door from the portal to its backends.
//!
//! Every backend call goes through [`ServiceAccess::call`], which applies the service's
//! policy from its descriptor — toggle, breaker, timeout, global cap, bulkhead, retry,
//! HTTP exchange, in that order (see `service` for why). Each piece is its own module
//! with its own error type, so callers and tests can match on the failure mode.
//!
//! Layout:
//! - `service` — [`Service`]: one backend and the composition of its pieces
//! - `toggle` — operator toggles and [`ServiceDisabled`]
//! - `breaker` — the circuit breaker and [`BreakerOpen`]
//! - `timeout` — the timeout piece and [`Elapsed`]
//! - `limit` — bulkhead and global cap, [`Overloaded`]
//! - `retry` — retries within attempts and a budget
//! - `client` — the HTTP exchange, [`BackendRequest`]/[`BackendResponse`]
//! - `stats` — counters and latency percentiles per service
//! - `histogram` — the lock-free time histogram every time metric of the node uses
//! - `sharded` — values kept per thread (histogram cells, [`sharded::ShardedCounter`]) so cores do not share their cache lines
//! - `health` — background health probes while a service is open or disabled
//! - `view` — what operators see of a service ([`ServiceView`])
//! - `trace` — the `traceparent` naming the exported call span (OpenTelemetry export on)
//! - `error` — [`CallError`], gathering every failure mode

pub mod breaker;
pub mod client;
pub mod error;
mod evolve;
pub mod health;
pub mod histogram;
pub mod limit;
pub mod retry;
pub mod service;
pub mod sharded;
pub mod stats;
pub mod timeout;
pub mod toggle;
mod trace;
pub mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_descriptors::Portal;

pub use breaker::BreakerOpen;
pub use client::{BackendRequest, BackendResponse};
pub use error::{BadStatus, BodyTooLarge, CallError, Elapsed, Transport};
pub use limit::{Overloaded, Scope};
pub use service::Service;
pub use toggle::{ServiceDisabled, Toggle};
pub use view::ServiceView;

/// All services of a portal, sharing the node-wide cap on in-flight calls.
#[derive(Debug)]
pub struct ServiceAccess {
    services: BTreeMap<String, Arc<Service>>,
    global: Arc<limit::Limit>,
}

impl ServiceAccess {
    pub fn new(portal: &Portal) -> Self {
        let limits = &portal.settings.limits;
        let global = Arc::new(limit::Limit::new(
            Scope::Global,
            limits.max_in_flight_backend_calls,
            0,
        ));
        let services = portal
            .services
            .iter()
            .map(|(id, def)| {
                let s = Service::new(
                    def.clone(),
                    limits.max_backend_body_bytes,
                    global.clone(),
                    &portal.settings.security,
                );
                (id.clone(), Arc::new(s))
            })
            .collect();
        Self { services, global }
    }

    pub fn service(&self, id: &str) -> Option<&Arc<Service>> {
        self.services.get(id)
    }

    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// Backend calls in flight across all services.
    pub fn in_flight(&self) -> u32 {
        self.global.in_flight()
    }

    pub async fn call(
        &self,
        service: &str,
        request: &BackendRequest,
    ) -> Result<BackendResponse, CallError> {
        match self.services.get(service) {
            Some(s) => s.call(request).await,
            None => Err(CallError::UnknownService(service.to_owned())),
        }
    }
}
