//! Wiring one portal node together: store, service access (with the toggles operators
//! saved), health probes, engine.

use std::sync::Arc;

use tessera_descriptors::Portal;
use tessera_engine::Engine;
use tessera_fragments::FragmentState;
use tessera_service_access::ServiceAccess;
use tessera_store::{Store, StoreError};

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot load the saved state: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
}
use tokio_util::sync::CancellationToken;

use crate::admin::services::from_stored;
use crate::registry::Registry;
use crate::AppState;

/// Builds the node's state: applies the saved toggles before the first request and
/// starts health probes (stopped by `cancel`).
pub async fn start(
    portal: Portal,
    store: Arc<dyn Store>,
    cancel: &CancellationToken,
) -> Result<AppState, StoreError> {
    let admin_token = std::env::var("TESSERA_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| portal.settings.admin.token.clone());
    let services = Arc::new(ServiceAccess::new(&portal));
    for t in store.toggles().await? {
        match services.service(&t.service) {
            Some(s) => s.set_toggle(from_stored(&t)),
            None => {
                tracing::warn!(service = %t.service, "a saved toggle names a service that no longer exists")
            }
        }
    }
    services.spawn_health_probes(cancel);
    let fragments = FragmentState::new(portal.settings.cache.max_bytes);
    Ok(AppState {
        registry: Arc::new(Registry::fixed(Engine::with_state(
            portal, services, fragments,
        ))),
        store,
        admin_token,
    })
}
