//! The catalogue of simulated services and [`start_all`], which runs each on
//! its own loopback port behind a [`tessera_sim::SimServer`].

use std::time::Duration;

use axum::Router;
use tessera_sim::{Behavior, Mode, SimServer};

use crate::services;

/// A simulated service: its id (the id of its shipped service descriptor),
/// its answer format and its typical latency.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// Same id as `config/services/<id>.xml`.
    pub id: &'static str,
    /// `json`, `xml` or `html`, as in the descriptor.
    pub format: &'static str,
    /// Typical latency: real backends are never instant, and the portal's
    /// concurrency and caching only show their worth against some delay.
    pub latency: Duration,
    /// Latency varies within ± this.
    pub jitter: Duration,
    /// Builds the service's routes.
    pub router: fn() -> Router,
}

const fn spec(
    id: &'static str,
    format: &'static str,
    latency_ms: u64,
    jitter_ms: u64,
    router: fn() -> Router,
) -> ServiceSpec {
    ServiceSpec {
        id,
        format,
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(jitter_ms),
        router,
    }
}

/// Every simulated service, in descriptor order.
pub const SERVICES: &[ServiceSpec] = &[
    spec("profile", "json", 15, 5, services::profile::router),
    spec("news", "json", 40, 10, services::news::router),
    spec("quotes", "json", 25, 8, services::quotes::router),
    spec("markets", "xml", 60, 15, services::markets::router),
    spec("research", "html", 120, 30, services::research::router),
    spec("accounts", "json", 80, 20, services::accounts::router),
    spec("weather", "xml", 50, 10, services::weather::router),
    spec("offers", "json", 30, 8, services::offers::router),
];

impl ServiceSpec {
    /// The behaviour the service starts with: normal answers after its
    /// typical latency.
    pub fn behavior(&self) -> Behavior {
        Behavior {
            latency: self.latency,
            jitter: self.jitter,
            mode: Mode::Normal,
        }
    }
}

/// The running simulated backends of the demo bank.
#[derive(Debug, Clone)]
pub struct DemoBackends {
    /// One server per entry of [`SERVICES`], in the same order; each
    /// server's name is the service id.
    pub services: Vec<SimServer>,
}

impl DemoBackends {
    /// Base URL (`http://127.0.0.1:PORT`) of service `id`.
    pub fn url_of(&self, id: &str) -> Option<String> {
        self.server(id).map(SimServer::url)
    }

    /// The server of service `id`, e.g. to change its behaviour.
    pub fn server(&self, id: &str) -> Option<&SimServer> {
        self.services.iter().find(|s| s.name() == id)
    }

    /// `(service id, base url)` for every service: what the portal uses to
    /// override the placeholder `base-url`s of the shipped descriptors.
    pub fn overrides(&self) -> Vec<(String, String)> {
        self.services
            .iter()
            .map(|s| (s.name().to_owned(), s.url()))
            .collect()
    }
}

/// Starts every service of [`SERVICES`] on `127.0.0.1:0` with its typical
/// latency. Servers stop when the returned handles are dropped.
pub async fn start_all() -> Result<DemoBackends, std::io::Error> {
    let mut services = Vec::with_capacity(SERVICES.len());
    for spec in SERVICES {
        let server = SimServer::start_with(spec.id, (spec.router)(), spec.behavior()).await?;
        tracing::debug!(service = spec.id, url = %server.url(), "simulated backend started");
        services.push(server);
    }
    Ok(DemoBackends { services })
}
