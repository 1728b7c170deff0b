//! The next portal version's service access: services whose definitions did not change
//! keep their breakers, bulkheads, statistics and toggles; changed and new ones start
//! fresh (a changed service keeps its operator toggle); removed ones are dropped.

use std::collections::BTreeSet;
use std::sync::Arc;

use tessera_descriptors::Portal;
use tokio_util::sync::CancellationToken;

use crate::{Service, ServiceAccess};

impl ServiceAccess {
    /// Service access for `portal`, reusing this one's services except those named in
    /// `changed` (and those `portal` no longer has). Health probes start for the new
    /// services only; the reused ones keep theirs.
    pub fn evolve(
        &self,
        portal: &Portal,
        changed: &BTreeSet<String>,
        cancel: &CancellationToken,
    ) -> ServiceAccess {
        let limits = &portal.settings.limits;
        let services = portal
            .services
            .iter()
            .map(|(id, def)| {
                let reused = self.services.get(id).filter(|_| !changed.contains(id));
                let service = match reused {
                    Some(s) => s.clone(),
                    None => {
                        let s = Arc::new(Service::new(
                            def.clone(),
                            limits.max_backend_body_bytes,
                            self.global.clone(),
                            &portal.settings.security,
                        ));
                        if let Some(old) = self.services.get(id) {
                            s.set_toggle(old.toggle());
                        }
                        if def.health.is_some() {
                            tokio::spawn(Service::probe_loop(Arc::downgrade(&s), cancel.clone()));
                        }
                        s
                    }
                };
                (id.clone(), service)
            })
            .collect();
        ServiceAccess {
            services,
            global: self.global.clone(),
        }
    }
}
