//! The conformance suite on SQLite (a file in a temporary folder, and `sqlite::memory:`),
//! plus what only a file can show: persistence across reopening, folder creation, pragmas.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use sqlx::Row;

use super::conformance::{
    check_sample, check_user_sample, conformance_suite, new_session, new_user, write_sample,
    write_user_sample,
};
use crate::sqlite::SqliteStore;
use crate::{open, NewSession, Store, StoreOptions};

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
async fn sqlite_has_no_cluster_bus() {
    let store = open("sqlite::memory:").await.expect("open");
    assert!(
        store.bus().is_none(),
        "one file, one node: nobody to notify"
    );
    store.close().await;
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = file_url(&dir.path().join("tessera.db"));

    let store = open(&url).await.expect("first open");
    let ids = write_sample(&*store).await;
    let user_sample = write_user_sample(&*store).await;
    store.close().await;
    drop(store);

    // Reopening runs the migrations again: they must be recognised as applied.
    let store = open(&url).await.expect("reopen");
    check_sample(&*store, &ids).await;
    check_user_sample(&*store, &user_sample).await;
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
async fn connections_use_wal_full_sync_foreign_keys_busy_timeout_and_a_small_page_cache() {
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
    // In KiB: each of the pool's connections keeps at most 512 KiB of pages.
    assert_eq!(pragma("cache_size").await, "-512");
    store.close().await;
}

#[tokio::test]
async fn session_ids_are_not_stored_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tessera.db");
    let store = SqliteStore::connect(&file_url(&path), &StoreOptions::default())
        .await
        .expect("open");
    let user = store.create_user(&new_user("alice")).await.expect("user");
    let sid = "Zq8xN3vLp0WcR7tYh2KdF5sAe9UjMb4G";
    let session = NewSession {
        csrf_token: "csrf-token".into(),
        ..new_session(sid, user.id, 60_000, 60_000)
    };
    store
        .create_session(&session)
        .await
        .expect("create session");

    // The table holds the SHA-256 of the id, and nothing else resembling it.
    let rows = sqlx::query("SELECT * FROM sessions")
        .fetch_all(store.pool())
        .await
        .expect("select");
    assert_eq!(rows.len(), 1);
    let hash: Vec<u8> = rows[0].try_get("id_hash").expect("id_hash");
    assert_eq!(hash, crate::codec::session_id_hash(sid));
    let (dump,): (String,) =
        sqlx::query_as("SELECT hex(id_hash) || ' ' || user_id || ' ' || csrf_token FROM sessions")
            .fetch_one(store.pool())
            .await
            .expect("dump");
    assert!(!dump.contains(sid), "{dump}");

    // Nor anywhere in the files on disk (database and WAL).
    store.close().await;
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let file = entry.expect("entry").path();
        // The WAL and shared-memory files may still be going away as the pool's last
        // connection closes: a file that is gone holds nothing.
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("read {}: {e}", file.display()),
        };
        assert!(
            !bytes.windows(sid.len()).any(|w| w == sid.as_bytes()),
            "{} contains the session id",
            file.display()
        );
    }
}

/// Environment variable that turns [`kill9_child`] from a no-op into the writer process
/// of [`acknowledged_writes_survive_kill_9`].
const KILL9_DB: &str = "TESSERA_STORE_KILL9_DB";

/// The child half of [`acknowledged_writes_survive_kill_9`]: writes, says so on stdout,
/// then waits to be killed. Does nothing in a normal test run.
#[tokio::test]
async fn kill9_child() {
    let Ok(path) = std::env::var(KILL9_DB) else {
        return;
    };
    let store = open(&file_url(Path::new(&path))).await.expect("child open");
    let user = store.create_user(&new_user("alice")).await.expect("user");
    let c = super::conformance::sample_customization(42);
    store
        .put_customization(user.id, "home", &c)
        .await
        .expect("put");
    println!("WRITTEN {}", user.id);
    std::thread::sleep(std::time::Duration::from_secs(60));
    unreachable!("the parent kills this process");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tessera.db");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "tests::sqlite::kill9_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL9_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut user_id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child");
        // libtest prints the test name first, on the same line.
        if let Some((_, id)) = line.split_once("WRITTEN ") {
            user_id = Some(id.trim().parse::<i64>().expect("user id"));
            break;
        }
    }
    // SIGKILL: no destructor, no pool close, no WAL checkpoint.
    child.kill().expect("kill child");
    child.wait().expect("reap child");
    let user_id = user_id.expect("the child wrote and reported");

    let store = open(&file_url(&path)).await.expect("reopen");
    assert_eq!(
        store.customization(user_id, "home").await.expect("get"),
        Some(super::conformance::sample_customization(42))
    );
    assert!(store.user_by_login("ALICE").await.expect("user").is_some());
    store.close().await;
}
