//! The running descriptor set: which [`Engine`] (portal version) new requests get, and
//! how it is replaced.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tessera_descriptors::Settings;
use tessera_engine::Engine;

/// Holds the current portal version. Requests take an `Arc` of it once and keep it, so
/// a swap never changes the set under a request that is already running.
pub struct Registry {
    current: ArcSwap<Engine>,
    settings: Arc<Settings>,
}

impl Registry {
    /// A registry serving `engine`.
    pub fn fixed(engine: Engine) -> Self {
        Self {
            settings: Arc::new(engine.portal().settings.clone()),
            current: ArcSwap::from_pointee(engine),
        }
    }

    /// The portal version new requests are served with.
    pub fn current(&self) -> Arc<Engine> {
        self.current.load_full()
    }

    /// The node's settings, the same in every version.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
