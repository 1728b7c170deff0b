//! The SQLite backend: one database file per node.
//!
//! Connection settings, and why:
//! - `journal_mode=WAL`: readers (the console listing the audit log) never block the
//!   writer and vice versa, and a commit is one sequential append to the WAL.
//! - `synchronous=FULL`: every commit is fsynced, so an acknowledged toggle or audit
//!   entry survives a power cut or kernel crash, not only a process crash (`NORMAL` in
//!   WAL mode may lose the last commits on power loss). Store writes happen at operator
//!   and login rate, so one fsync per commit costs nothing that matters, and an audit log
//!   that silently drops its last entries would defeat its purpose.
//! - `foreign_keys=ON`: SQLite leaves them off by default; later tables (sessions → users)
//!   rely on them.
//! - `busy_timeout`: connections of the pool wait for each other's write lock instead of
//!   failing with `SQLITE_BUSY` ([`StoreOptions::sqlite_busy_timeout`]).

use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::{redact_url, StoreError};
use crate::types::{AuditEntry, AuditRecord, Toggle};
use crate::{Store, StoreOptions};

mod audit;
mod toggles;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// [`Store`] on a SQLite database.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and migrates it.
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let in_memory = is_in_memory(url);
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::Config(format!("invalid SQLite URL {:?}: {e}", redact_url(url)))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.sqlite_busy_timeout);

        if !in_memory {
            if let Some(parent) = connect.get_filename().parent() {
                if !parent.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(parent).await.map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot create the folder {} for the SQLite database: {e}",
                            parent.display()
                        ))
                    })?;
                }
            }
        }

        let pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
        let pool = if in_memory {
            // An in-memory database lives only as long as one of its connections, and
            // shared-cache connections lock whole tables against each other. One
            // connection that is never recycled avoids both problems.
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(options.max_connections.max(1))
        };
        let pool =
            pool.connect_with(connect)
                .await
                .map_err(|e| match StoreError::from_sqlx(e) {
                    config @ StoreError::Config(_) => config,
                    other => StoreError::Unavailable(format!(
                        "cannot open SQLite database {:?}: {other}",
                        redact_url(url)
                    )),
                })?;
        MIGRATOR.run(&pool).await?;
        tracing::debug!(url = %redact_url(url), "SQLite store ready");
        Ok(SqliteStore { pool })
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// `sqlite::memory:` and URLs with `mode=memory` never touch the disk.
fn is_in_memory(url: &str) -> bool {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    path.trim_start_matches("sqlite:").trim_start_matches("//") == ":memory:"
        || query.split('&').any(|kv| kv == "mode=memory")
}

impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn put_toggle<'a>(&'a self, t: &'a Toggle) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(toggles::put(&self.pool, t))
    }

    fn toggles(&self) -> BoxFuture<'_, Result<Vec<Toggle>, StoreError>> {
        Box::pin(toggles::list(&self.pool))
    }

    fn delete_toggle<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(toggles::delete(&self.pool, service))
    }

    fn append_audit<'a>(&'a self, e: &'a AuditEntry) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(audit::append(&self.pool, e))
    }

    fn audit(
        &self,
        limit: u32,
        before_id: Option<i64>,
    ) -> BoxFuture<'_, Result<Vec<AuditRecord>, StoreError>> {
        Box::pin(audit::list(&self.pool, limit, before_id))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pool.close())
    }
}

#[cfg(test)]
mod tests {
    use super::is_in_memory;

    #[test]
    fn recognises_in_memory_urls() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://:memory:"));
        assert!(is_in_memory("sqlite://x.db?mode=memory"));
        assert!(!is_in_memory("sqlite://x.db"));
        assert!(!is_in_memory("sqlite:///srv/memory.db"));
    }
}
