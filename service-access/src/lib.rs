//! Service access: the only door from the portal to its backends.
//!
//! Every backend call goes through [`ServiceAccess::call`], which applies the service's
//! policy from its descriptor. The pieces are composed in this order (outermost first):
//!
//! 1. service lookup — only services from descriptors exist; fragments name ids, never URLs
//! 2. [`timeout`] — the whole exchange is bounded by the service's `timeout`
//! 3. [`client`] — the HTTP exchange: connect timeout, no redirects, body cap,
//!    hop-by-hop and `Set-Cookie` headers dropped
//!
//! Layout:
//! - `client` — the HTTP exchange and [`BackendRequest`]/[`BackendResponse`]
//! - `timeout` — the timeout piece and its [`Elapsed`] error
//! - `error` — one error type per failure mode, gathered in [`CallError`]
//! - `breaker` — the circuit breaker, its policy and its [`breaker::BreakerOpen`] error

pub mod breaker;
pub mod client;
pub mod error;
pub mod timeout;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tessera_descriptors::{Portal, ServiceDef};

pub use client::{BackendRequest, BackendResponse};
pub use error::{BadStatus, BodyTooLarge, CallError, Elapsed, Transport};

/// One backend service with its policy and its own connection pool (so one slow
/// service cannot hold the connections another needs).
#[derive(Debug)]
pub struct Service {
    pub def: Arc<ServiceDef>,
    client: reqwest::Client,
    max_body: usize,
}

impl Service {
    fn new(def: Arc<ServiceDef>, max_body: usize) -> Self {
        Self {
            client: client::build_client(def.connect_timeout),
            def,
            max_body,
        }
    }

    pub async fn call(&self, request: &BackendRequest) -> Result<BackendResponse, CallError> {
        let exchange = client::exchange(&self.client, &self.def.base_url, request, self.max_body);
        timeout::with_timeout(self.def.timeout, exchange).await?
    }

    pub fn timeout(&self) -> Duration {
        self.def.timeout
    }
}

/// All services of a portal.
#[derive(Debug, Default)]
pub struct ServiceAccess {
    services: HashMap<String, Arc<Service>>,
}

impl ServiceAccess {
    pub fn new(portal: &Portal) -> Self {
        let max_body = portal.settings.limits.max_backend_body_bytes;
        let services = portal
            .services
            .iter()
            .map(|(id, def)| (id.clone(), Arc::new(Service::new(def.clone(), max_body))))
            .collect();
        Self { services }
    }

    pub fn service(&self, id: &str) -> Option<&Arc<Service>> {
        self.services.get(id)
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
