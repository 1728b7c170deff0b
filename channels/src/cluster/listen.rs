//! The listening task: open a listening connection, resynchronize, apply what the other
//! nodes say; on any doubt (a lost connection, a heartbeat without answer, a message that
//! cannot be read or applied) start over.

use std::sync::Arc;
use std::time::Duration;

use tessera_service_access::Toggle;
use tessera_store::{Bus, BusListener, StoreError};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::message::{Event, Message};
use super::Cluster;
use crate::admin::services::from_stored;
use crate::AppState;

/// Pauses between attempts to listen again: soon after a blip, not hammering a database
/// that is down.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Listens until `cancel` fires.
pub(super) async fn listen(
    cluster: Arc<Cluster>,
    bus: Bus,
    state: AppState,
    cancel: CancellationToken,
) {
    let name = cluster.application_name();
    let mut pause = FIRST_PAUSE;
    loop {
        // Listen first, then resynchronize: whatever changes after the resync began is
        // announced to this listener, so nothing falls between the two.
        let attempt = async {
            let listener = bus.listen(&name).await?;
            let dropped = resync(&state).await?;
            Ok::<_, StoreError>((listener, dropped))
        };
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            outcome = attempt => outcome,
        };
        let mut listener = match outcome {
            Ok((listener, dropped)) => {
                cluster.listening();
                tracing::info!(
                    node = %cluster.node,
                    channel = bus.channel(),
                    cache_entries_dropped = dropped,
                    "cluster bus: listening, resynchronized with the store"
                );
                pause = FIRST_PAUSE;
                listener
            }
            Err(e) => {
                tracing::warn!(node = %cluster.node, error = %e, retry_in = ?pause, "cluster bus: cannot listen and resynchronize");
                cluster.note_store(Err(&e));
                cluster.lost(e.to_string());
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(LONGEST_PAUSE);
                continue;
            }
        };
        let Some(reason) = receive(&cluster, &state, &mut listener, &cancel).await else {
            return;
        };
        tracing::warn!(node = %cluster.node, reason = %reason, "cluster bus: reconnecting; serving from cache and last known state until resynchronized");
        cluster.lost(reason);
    }
}

/// Applies messages until the connection is in doubt (returns why) or `cancel` fires
/// (returns `None`). Every heartbeat it checks that the listening connection answers —
/// one whose peer vanished without closing it (a failover, a partition) would otherwise
/// wait forever — and reconciles the toggles and the descriptor set with the store, which
/// covers a message its sender never got out (it crashed right after saving).
async fn receive(
    cluster: &Cluster,
    state: &AppState,
    listener: &mut BusListener,
    cancel: &CancellationToken,
) -> Option<String> {
    let heartbeat = cluster.heartbeat;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // `recv` is cancel safe: a beat loses no notification.
        let next = tokio::select! {
            () = cancel.cancelled() => return None,
            next = listener.recv() => next,
            _ = beat.tick() => {
                match tokio::time::timeout(heartbeat, listener.ping()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Some(format!("the listening connection failed: {e}")),
                    Err(_) => {
                        return Some(format!(
                            "the listening connection did not answer within {heartbeat:?}"
                        ))
                    }
                }
                let reconciled = reconcile(state, Check::Newest).await;
                cluster.note_store(reconciled.as_ref().map(|_| ()));
                if let Err(e) = reconciled {
                    tracing::warn!(error = %e, "cluster: cannot reconcile with the store");
                }
                continue;
            }
        };
        match next {
            Ok(Some(payload)) => {
                if let Err(reason) = apply(cluster, state, &payload).await {
                    return Some(reason);
                }
            }
            Ok(None) => return Some("the listening connection was lost".into()),
            Err(e) => return Some(format!("the listening connection failed: {e}")),
        }
    }
}

/// Applies one message. An error is the reason to start over (and so resynchronize).
async fn apply(cluster: &Cluster, state: &AppState, payload: &str) -> Result<(), String> {
    let message = match Message::decode(payload) {
        Ok(m) => m,
        // From a newer node, or corrupted: either way something changed that this node
        // cannot follow.
        Err(e) => {
            return Err(format!(
                "a cluster message cannot be read ({e}): {payload:.200}"
            ))
        }
    };
    if message.node == cluster.node {
        return Ok(());
    }
    match message.event {
        Event::Invalidate { targets, mode } => {
            let impact = state.engine().invalidate(&targets.into(), mode, false);
            tracing::debug!(from = %message.node, entries = impact.entries, "cluster: invalidated");
        }
        Event::Toggle { service } => reload_toggle(state, &service)
            .await
            .map_err(|e| format!("cannot read the toggle of {service:?}: {e}"))?,
        Event::Descriptors { version } => {
            let changed = state
                .registry
                .sync_from_store()
                .await
                .map_err(|e| format!("cannot read descriptor set version {version}: {e}"))?;
            tracing::debug!(from = %message.node, version, changed, "cluster: descriptor set");
        }
        Event::User { id, login } => {
            state.identities.forget(id, &login);
            tracing::debug!(from = %message.node, user = id, "cluster: user changed");
        }
        Event::Resync => {
            let dropped = resync(state)
                .await
                .map_err(|e| format!("cannot resynchronize as {} asked: {e}", message.node))?;
            cluster.resynced();
            tracing::info!(from = %message.node, cache_entries_dropped = dropped, "cluster: resynchronized on request");
        }
    }
    cluster.applied();
    Ok(())
}

/// Brings the node in line with the store — the descriptor set, every toggle — and
/// empties the cache of everything it cannot prove fresh. Returns how many entries were
/// dropped.
async fn resync(state: &AppState) -> Result<usize, StoreError> {
    reconcile(state, Check::Always).await?;
    state.identities.clear();
    Ok(state.engine().fragments().cache().clear())
}

/// How [`reconcile`] decides whether to read the stored descriptor set.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Read it: after a gap.
    Always,
    /// Read it only when the newest stored version is not the running one (one indexed
    /// row, rather than the whole registered overlay every heartbeat).
    Newest,
}

/// The descriptor set and every toggle as the store has them (no toggle stored: enabled).
async fn reconcile(state: &AppState, check: Check) -> Result<(), StoreError> {
    let behind = match check {
        Check::Always => true,
        Check::Newest => {
            let newest = state.store.descriptor_versions(1, None).await?;
            newest.first().map_or(0, |v| v.version) != state.registry.version().await
        }
    };
    if behind {
        state.registry.sync_from_store().await?;
    }
    let toggles = state.store.toggles().await?;
    for service in state.engine().services().services() {
        let toggle = toggles
            .iter()
            .find(|t| t.service == service.id())
            .map_or(Toggle::Enabled, from_stored);
        service.set_toggle(toggle);
    }
    Ok(())
}

/// Applies the stored toggle of one service (none stored: enabled).
async fn reload_toggle(state: &AppState, service: &str) -> Result<(), StoreError> {
    let toggles = state.store.toggles().await?;
    let engine = state.engine();
    let Some(s) = engine.services().service(service) else {
        tracing::debug!(
            service,
            "cluster: a toggle of a service this node does not have"
        );
        return Ok(());
    };
    s.set_toggle(
        toggles
            .iter()
            .find(|t| t.service == service)
            .map_or(Toggle::Enabled, from_stored),
    );
    Ok(())
}

/// Announces every descriptor-set version this node's registry commits, and once at
/// start the version it runs (it may have recorded it before anyone listened).
pub(super) async fn announce_commits(
    cluster: Arc<Cluster>,
    state: AppState,
    cancel: CancellationToken,
) {
    let mut commits = state.registry.commits();
    cluster.publish_descriptors(state.registry.version().await);
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = commits.recv() => next,
        };
        match next {
            Ok(version) => cluster.publish_descriptors(version),
            // Missed some: the newest is what counts.
            Err(RecvError::Lagged(_)) => {
                cluster.publish_descriptors(state.registry.version().await);
            }
            Err(RecvError::Closed) => return,
        }
    }
}
