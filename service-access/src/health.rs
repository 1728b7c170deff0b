//! Health probes. While a service's breaker is open or an operator has disabled it, a
//! background task asks its health path every `every`, so the console shows when it is
//! safe to enable it again. A healthy answer lets an open breaker try half-open at once
//! (instead of waiting out `open-for`); it never re-enables an operator's disable.

use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::client::{self, BackendRequest};
use crate::service::Service;
use crate::timeout::with_timeout;
use crate::toggle::Toggle;
use crate::ServiceAccess;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct HealthStatus {
    /// The last probe's verdict; `None` before the first probe.
    pub healthy: Option<bool>,
    #[serde(with = "opt_unix_ms")]
    pub last_probe: Option<SystemTime>,
    pub last_error: Option<String>,
    /// Whether the service is currently being probed (open or disabled).
    pub probing: bool,
    pub probes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct HealthCell(pub(crate) Mutex<HealthStatus>);

impl Service {
    pub fn health_status(&self) -> Option<HealthStatus> {
        self.def.health.as_ref()?;
        self.health.0.lock().ok().map(|h| h.clone())
    }

    /// Whether the service needs watching: breaker open or disabled by an operator.
    fn needs_probe(&self) -> bool {
        matches!(self.toggle(), Toggle::Disabled { .. }) || self.breaker.state().is_open()
    }

    /// One probe of the health path; the answer must be 2xx within the probe timeout.
    pub async fn probe(&self) -> Result<(), String> {
        let Some(h) = &self.def.health else {
            return Ok(());
        };
        let request = BackendRequest {
            path_and_query: h.path.clone(),
            headers: Vec::new(),
        };
        let result = with_timeout(
            h.timeout,
            client::exchange(
                &self.client,
                &self.def.base_url,
                &request,
                64 * 1024,
                self.def.read_timeout,
            ),
        )
        .await;
        let verdict = match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Ok(mut s) = self.health.0.lock() {
            s.healthy = Some(verdict.is_ok());
            s.last_probe = Some(SystemTime::now());
            s.last_error = verdict.as_ref().err().cloned();
            s.probes += 1;
        }
        verdict
    }

    pub(crate) async fn probe_loop(service: Weak<Service>, cancel: CancellationToken) {
        loop {
            let every = match service.upgrade() {
                Some(s) => match &s.def.health {
                    Some(h) => h.every,
                    None => return,
                },
                None => return,
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            let Some(s) = service.upgrade() else { return };
            let needed = s.needs_probe();
            if let Ok(mut h) = s.health.0.lock() {
                h.probing = needed;
            }
            if needed && s.probe().await.is_ok() && matches!(s.toggle(), Toggle::Enabled) {
                s.breaker.half_open_now("health probe succeeded");
            }
        }
    }
}

impl ServiceAccess {
    /// Starts one probe task per service that declares `<health>`; they stop when
    /// `cancel` fires or the service is dropped.
    pub fn spawn_health_probes(self: &Arc<Self>, cancel: &CancellationToken) {
        for s in self.services() {
            if s.def.health.is_some() {
                tokio::spawn(Service::probe_loop(Arc::downgrade(s), cancel.clone()));
            }
        }
    }
}

mod opt_unix_ms {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => crate::toggle::unix_ms::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}
