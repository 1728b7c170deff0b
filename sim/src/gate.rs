//! [`Gate`]: a latch that holds replies until a test opens it.

use tokio::sync::watch;

/// A latch shared between a test and the replies it scripts.
///
/// Replies built with [`crate::Reply::gate`] wait until the gate is open, so a
/// test can hold N requests in flight, or order answers, without wall-clock
/// sleeps. Clones share the same state.
///
/// ```no_run
/// # async fn demo() {
/// use tessera_sim::{Gate, Reply, Scripted};
/// let gate = Gate::new();
/// let backend = Scripted::start().await;
/// backend.respond(Reply::json("{}").gate(gate.clone()));
/// // ... send requests, `backend.wait_for_in_flight(3).await` ...
/// gate.open();
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Gate {
    open: watch::Sender<bool>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        let (open, _) = watch::channel(false);
        Gate { open }
    }

    /// Opens the gate: every waiting reply proceeds, and later ones pass through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Closes the gate again; replies arriving from now on wait.
    pub fn close(&self) {
        self.open.send_replace(false);
    }

    /// Whether the gate is open.
    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Resolves once the gate is open.
    pub async fn wait(&self) {
        let mut rx = self.open.subscribe();
        // `self` owns the sender, so the channel cannot close while we wait.
        let _ = rx.wait_for(|open| *open).await;
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}
