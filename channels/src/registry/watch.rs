//! Watching the config and templates folders: an edited, added or removed file is
//! applied like a registration (validated against the whole set, swapped in, versioned)
//! a short moment after the last write, so that an editor's save-in-several-steps or a
//! `git pull` touching many files is one change. A folder edited into an invalid state
//! leaves the running set alone; the problems are logged and shown in the console until
//! a later edit fixes them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer, DebounceEventResult};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Registry;

/// How long the folders must be quiet before their edits are applied.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Watches both folders until `cancel` fires. Fails when a folder cannot be watched.
pub fn spawn(
    registry: Arc<Registry>,
    config_dir: PathBuf,
    templates_dir: PathBuf,
    cancel: CancellationToken,
) -> Result<(), String> {
    // One pending signal is enough: a reload reads the folders as they are then.
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut debouncer = new_debouncer(DEBOUNCE, move |res: DebounceEventResult| match res {
        Ok(events) if !events.is_empty() => {
            let _ = tx.try_send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "watching the descriptor folders"),
    })
    .map_err(|e| format!("cannot watch the descriptor folders: {e}"))?;
    for dir in [&config_dir, &templates_dir] {
        debouncer
            .watcher()
            .watch(dir, RecursiveMode::Recursive)
            .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    }
    tracing::info!(config = %config_dir.display(), templates = %templates_dir.display(), "watching the descriptor folders");
    tokio::spawn(async move {
        // The debouncer stops watching when dropped: it lives as long as this task.
        let _debouncer = debouncer;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                got = rx.recv() => {
                    if got.is_none() {
                        return;
                    }
                    match registry.reload_files().await {
                        Ok(Some(o)) => tracing::info!(version = o.version, "applied edited descriptor files"),
                        Ok(None) => {}
                        // Logged and kept for the console by `reload_files`.
                        Err(_) => {}
                    }
                }
            }
        }
    });
    Ok(())
}
