//! The conformance suite on SQLite (a file in a temporary folder, and `sqlite::memory:`),
//! plus what only a file can show: persistence across reopening, folder creation, pragmas.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use sqlx::Row;

use super::conformance::{check_sample, conformance_suite, write_sample};
use crate::sqlite::SqliteStore;
use crate::{open, Store, StoreOptions};

fn file_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Runs `test` on a fresh database file in its own temporary folder.
async fn on_file<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&file_url(&dir.path().join("tessera.db")))
        .await
        .expect("open SQLite file");
    assert_eq!(store.kind(), "sqlite");
    test(Arc::clone(&store)).await;
    store.close().await;
}

async fn in_memory<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = open("sqlite::memory:")
        .await
        .expect("open in-memory SQLite");
    test(Arc::clone(&store)).await;
    store.close().await;
}

mod file {
    use super::*;
    conformance_suite!(on_file);
}

mod memory {
    use super::*;
    conformance_suite!(in_memory);
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = file_url(&dir.path().join("tessera.db"));

    let store = open(&url).await.expect("first open");
    let ids = write_sample(&*store).await;
    store.close().await;
    drop(store);

    // Reopening runs the migrations again: they must be recognised as applied.
    let store = open(&url).await.expect("reopen");
    check_sample(&*store, &ids).await;
    // Ids continue after the old ones.
    let next = store
        .append_audit(&crate::AuditEntry {
            at: super::conformance::at(99),
            actor: "a".into(),
            action: "b".into(),
            target: "c".into(),
            reason: None,
            origin: None,
            detail: None,
        })
        .await
        .expect("append after reopen");
    assert!(ids.iter().all(|id| *id < next), "{ids:?} then {next}");
    store.close().await;
}

#[tokio::test]
async fn open_creates_missing_parent_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir
        .path()
        .join("var")
        .join("lib")
        .join("tessera")
        .join("state.db");
    let store = open(&file_url(&path)).await.expect("open");
    assert!(path.is_file(), "{} was not created", path.display());
    store.ping().await.expect("ping");
    store.close().await;
}

#[tokio::test]
async fn connections_use_wal_full_sync_foreign_keys_and_busy_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = file_url(&dir.path().join("tessera.db"));
    let store = SqliteStore::connect(&url, &StoreOptions::default())
        .await
        .expect("open");
    let pool = store.pool();
    let pragma = |name: &'static str| async move {
        let row = sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .expect(name);
        row.try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()))
            .expect(name)
    };
    assert_eq!(pragma("journal_mode").await, "wal");
    assert_eq!(pragma("synchronous").await, "2"); // FULL
    assert_eq!(pragma("foreign_keys").await, "1");
    assert_eq!(pragma("busy_timeout").await, "5000");
    store.close().await;
}
