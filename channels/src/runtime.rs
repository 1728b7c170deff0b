//! Wiring one portal node together: store, service access (with the toggles operators
//! saved), health probes, engine, and its part in the cluster.

use std::path::PathBuf;
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
use crate::cluster::{Cluster, ClusterOptions};
use crate::registry::docs::Base;
use crate::registry::Registry;
use crate::AppState;

/// Builds the node's state: applies the saved toggles before the first request and
/// starts health probes and the node's part in the cluster (stopped by `cancel`).
///
/// The node serves `portal` as a fixed set: the admin API cannot change it (tests,
/// benchmarks, embedding). [`start_node`] starts a node whose set can change.
pub async fn start(
    portal: Portal,
    store: Arc<dyn Store>,
    cancel: &CancellationToken,
) -> Result<AppState, StartError> {
    let services = Arc::new(ServiceAccess::new(&portal));
    apply_toggles(&services, store.as_ref()).await?;
    services.spawn_health_probes(cancel);
    let fragments = FragmentState::new(portal.settings.cache.max_bytes);
    let registry = Registry::fixed(Engine::with_state(portal, services, fragments));
    finish(Arc::new(registry), store, cancel)
}

/// Starts a node over the folders as read (`base`) and the descriptors registered in the
/// store (see [`Registry::start`]). With `dirs` (the config and templates folders) the
/// folders are watched and edits applied while the node runs.
pub async fn start_node(
    base: Base,
    dirs: Option<(PathBuf, PathBuf)>,
    store: Arc<dyn Store>,
    cancel: &CancellationToken,
) -> Result<AppState, StartError> {
    let mut services_of = None;
    let registry = Registry::start(
        base,
        dirs.clone(),
        store.clone(),
        cancel.clone(),
        |portal, fragments| {
            let services = Arc::new(ServiceAccess::new(&portal));
            services_of = Some(services.clone());
            Engine::with_state(portal, services, fragments)
        },
    )
    .await
    .map_err(|e| StartError::Config(e.to_string()))?;
    if let Some(services) = services_of {
        apply_toggles(&services, store.as_ref()).await?;
        services.spawn_health_probes(cancel);
    }
    let registry = Arc::new(registry);
    if let Some((config_dir, templates_dir)) = dirs {
        crate::registry::watch::spawn(registry.clone(), config_dir, templates_dir, cancel.clone())
            .map_err(StartError::Config)?;
    }
    finish(registry, store, cancel)
}

/// Applies the toggles operators saved, before the first request.
async fn apply_toggles(services: &ServiceAccess, store: &dyn Store) -> Result<(), StoreError> {
    for t in store.toggles().await? {
        match services.service(&t.service) {
            Some(s) => s.set_toggle(from_stored(&t)),
            None => {
                tracing::warn!(service = %t.service, "a saved toggle names a service that no longer exists")
            }
        }
    }
    Ok(())
}

/// The state around `registry`, with the node's cluster membership started: with a
/// PostgreSQL store it listens on the bus (resynchronizing first) and announces what this
/// node changes.
fn finish(
    registry: Arc<Registry>,
    store: Arc<dyn Store>,
    cancel: &CancellationToken,
) -> Result<AppState, StartError> {
    let settings = registry.settings();
    let cluster = Cluster::new(store.as_ref(), cluster_options(&settings.cluster)?);
    let admin_token = std::env::var("TESSERA_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| settings.admin.token.clone())
        .map(Arc::from);
    let state = AppState::from(crate::NodeState {
        identities: Arc::new(crate::auth::known::KnownUsers::new(settings)),
        registry,
        store,
        admin_token,
        cluster: cluster.clone(),
        guests: Arc::default(),
    });
    cluster.start(state.clone(), cancel);
    Ok(state)
}

/// `[cluster]`, with `TESSERA_NODE_ID` over its `node-id`.
fn cluster_options(
    settings: &tessera_descriptors::settings::ClusterSettings,
) -> Result<ClusterOptions, StartError> {
    let node_id = match std::env::var("TESSERA_NODE_ID") {
        Ok(id) if !id.is_empty() => {
            if let Some(problem) = tessera_descriptors::settings::check_node_id(&id) {
                return Err(StartError::Config(format!("TESSERA_NODE_ID: {problem}")));
            }
            Some(id)
        }
        _ => settings.node_id.clone(),
    };
    Ok(ClusterOptions {
        node_id,
        heartbeat: settings.heartbeat,
    })
}
