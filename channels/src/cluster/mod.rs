//! Several nodes, one state: what a node tells the others when an operator changes
//! something on it, and what it does with what they tell it.
//!
//! Nodes share a PostgreSQL store and talk over its `LISTEN`/`NOTIFY` bus
//! ([`tessera_store::Bus`]): invalidations (targets and mode), operator toggles (the
//! service id: the receiver reads the toggle from the store) and descriptor-set versions
//! (the receiver catches up with [`crate::registry::Registry::sync_from_store`]). A node
//! ignores its own messages, which come back to it like to everyone else.
//!
//! Notifications are lost while a listening connection is down, so a node never trusts
//! its cache across a gap: at start and after every reconnect it resynchronizes before it
//! reports itself in sync — it reloads every toggle and the descriptor set from the store
//! and drops its whole fragment cache, since it cannot tell which of the invalidations it
//! missed concerned which entries. Meanwhile it keeps serving from its cache and its last
//! known state and says so ([`Cluster::status`], `/healthz`, `/readyz`).
//!
//! With a SQLite store there is no bus: the node is alone ([`BusState::Single`]) and
//! publishing does nothing.
//!
//! Layout: `message` — the wire format and splitting of large invalidations; `outbox` —
//! sending in order with retries; `listen` — the listening task, resynchronization and
//! applying messages; `status` — what is reported.

mod listen;
pub mod message;
pub mod outbox;
pub mod status;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tessera_fragments::cache::{Mode, Targets};
use tessera_store::{Bus, Store, StoreError, BUS_MAX_PAYLOAD_BYTES};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use message::{Event, Message};
pub use status::{BusState, ClusterStatus, StoreState};

/// How a node takes part in the cluster (`[cluster]` in `tessera.toml`).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// This node's id; `None`: a random `node-xxxxxxxx`.
    pub node_id: Option<String>,
    /// How often the node checks its listening connection and reconciles toggles and
    /// the descriptor set with the store (`[cluster] heartbeat`).
    pub heartbeat: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            node_id: None,
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// A node's membership in the cluster: its id, its bus (if any), what it publishes and
/// its [`ClusterStatus`].
pub struct Cluster {
    node: String,
    bus: Option<Bus>,
    heartbeat: Duration,
    status: Mutex<ClusterStatus>,
    outbox: outbox::Outbox,
    /// The sending side of the outbox, taken by [`Cluster::start`].
    queue: Mutex<Option<outbox::Queue>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("bus", &self.bus)
            .finish()
    }
}

impl Cluster {
    /// A node alone: no bus, publishing does nothing.
    pub fn single() -> Arc<Cluster> {
        Self::with_bus(None, ClusterOptions::default())
    }

    /// The node's membership over `store`'s bus — none for SQLite.
    pub fn new(store: &dyn Store, options: ClusterOptions) -> Arc<Cluster> {
        Self::with_bus(store.bus(), options)
    }

    fn with_bus(bus: Option<Bus>, options: ClusterOptions) -> Arc<Cluster> {
        let node = options
            .node_id
            .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>()));
        let (outbox, queue) = outbox::outbox(outbox::CAPACITY);
        Arc::new(Cluster {
            status: Mutex::new(ClusterStatus::new(
                node.clone(),
                bus.as_ref().map(|b| b.channel().to_owned()),
            )),
            node,
            bus,
            heartbeat: options.heartbeat,
            outbox,
            queue: Mutex::new(Some(queue)),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// The name of the listening connection in `pg_stat_activity`.
    pub fn application_name(&self) -> String {
        format!("tessera-bus:{}", self.node)
    }

    /// Whether there are other nodes to tell (a PostgreSQL store).
    pub fn has_bus(&self) -> bool {
        self.bus.is_some()
    }

    /// A snapshot for health endpoints and the operator console.
    pub fn status(&self) -> ClusterStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Tells the other nodes that entries were invalidated here (after the local
    /// invalidation). Large invalidations travel in several messages.
    pub fn publish_invalidation(&self, targets: &Targets, mode: Mode) {
        if self.bus.is_some() {
            for payload in
                message::invalidation_payloads(&self.node, targets, mode, BUS_MAX_PAYLOAD_BYTES)
            {
                self.outbox.push(payload);
            }
        }
    }

    /// Tells the other nodes that the toggle of `service` changed in the store.
    pub fn publish_toggle(&self, service: &str) {
        self.publish(Event::Toggle {
            service: service.to_owned(),
        });
    }

    /// Tells the other nodes that the registered descriptor set is now at `version`
    /// (committed to the store). The registry's commits are announced by
    /// [`Cluster::start`] already; call this only for changes made some other way.
    pub fn publish_descriptors(&self, version: i64) {
        self.publish(Event::Descriptors { version });
    }

    /// Tells the other nodes that this user's profile changed in the store.
    pub fn publish_user(&self, id: i64, login: &str) {
        self.publish(Event::User {
            id,
            login: login.to_owned(),
        });
    }

    /// Asks every other node to reload everything from the store and drop its cache.
    pub fn publish_resync(&self) {
        self.publish(Event::Resync);
    }

    fn publish(&self, event: Event) {
        if self.bus.is_some() {
            self.outbox.push(Message::new(&self.node, event).encode());
        }
    }

    /// Starts the node's part in the cluster until `cancel` fires: listening (with a
    /// resynchronization at once and after every reconnect), sending, and announcing the
    /// registry's commits. Does nothing without a bus, or when started already.
    pub fn start(self: &Arc<Self>, state: AppState, cancel: &CancellationToken) {
        let Some(bus) = self.bus.clone() else { return };
        let Some(queue) = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let resync = Message::new(&self.node, Event::Resync).encode();
        let sender = bus.clone();
        let this = self.clone();
        tokio::spawn(outbox::deliver(
            queue,
            resync,
            move |payload| {
                let bus = sender.clone();
                async move { bus.publish(&payload).await.map_err(|e| e.to_string()) }
            },
            move |outcome| this.published(outcome),
            cancel.clone(),
        ));
        tokio::spawn(listen::announce_commits(
            self.clone(),
            state.clone(),
            cancel.clone(),
        ));
        tokio::spawn(listen::listen(self.clone(), bus, state, cancel.clone()));
    }

    /// Records what the store answered (the readiness probe asks it too).
    pub fn note_store(&self, outcome: Result<(), &StoreError>) {
        self.update(|s| match outcome {
            Ok(()) => s.store = StoreState::Reachable,
            Err(e) => {
                let since = match &s.store {
                    StoreState::Unreachable { since, .. } => *since,
                    StoreState::Reachable => SystemTime::now(),
                };
                s.store = StoreState::Unreachable {
                    since,
                    error: e.to_string(),
                };
            }
        });
    }

    fn update(&self, f: impl FnOnce(&mut ClusterStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn published(&self, outcome: Result<(), String>) {
        self.update(|s| match outcome {
            Ok(()) => s.published += 1,
            Err(e) => {
                tracing::warn!(error = %e, "cannot send a cluster message; retrying");
                s.publish_failures += 1;
                s.last_publish_error = Some(e);
            }
        });
    }

    /// The listening connection is gone (or could not be opened): keep the first
    /// moment of the outage.
    fn lost(&self, error: String) {
        self.update(|s| {
            let since = match &s.bus {
                BusState::Reconnecting { since, .. } => *since,
                _ => SystemTime::now(),
            };
            s.bus = BusState::Reconnecting { since, error };
        });
    }

    fn listening(&self) {
        self.update(|s| {
            let now = SystemTime::now();
            s.bus = BusState::Listening { since: now };
            s.store = StoreState::Reachable;
            s.resyncs += 1;
            s.last_resync = Some(now);
        });
    }

    fn resynced(&self) {
        self.update(|s| {
            s.resyncs += 1;
            s.last_resync = Some(SystemTime::now());
        });
    }

    fn applied(&self) {
        self.update(|s| s.applied += 1);
    }
}
