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

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::error::{redact_url, StoreError};
use crate::types::{
    AuditEntry, AuditRecord, Customization, DescriptorVersion, NewDescriptorVersion, NewSession,
    NewUser, RegisteredSet, Session, Toggle, User,
};
use crate::{Store, StoreOptions};

mod descriptors;
mod throttle;

// `sessions`, `toggles`, `audit`, `users`, `profile`: the queries both backends share.
crate::state_queries::state_queries!(
    sqlx::SqlitePool,
    json_in: "",
    json_out: "",
    nullable_id: "$1",
    greatest: "MAX",
    collate: "COLLATE BINARY"
);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// [`Store`] on a SQLite database.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    /// [`StoreOptions::login_failure_window`].
    login_failure_window: Duration,
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
            .busy_timeout(options.sqlite_busy_timeout)
            // Each connection's own page cache, 512 KiB instead of SQLite's 2 MB: the
            // file's pages are in the system's cache anyway, and the pool's eight
            // connections each filled 2 MB of the node's heap once many users had
            // signed in (docs/benchmarks.md, Memory).
            .pragma("cache_size", "-512");

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
        Ok(SqliteStore {
            pool,
            login_failure_window: options.login_failure_window,
        })
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

    fn create_user<'a>(&'a self, user: &'a NewUser) -> BoxFuture<'a, Result<User, StoreError>> {
        Box::pin(users::create(&self.pool, user))
    }

    fn user_by_login<'a>(
        &'a self,
        login: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        Box::pin(users::by_login(&self.pool, login))
    }

    fn user(&self, id: i64) -> BoxFuture<'_, Result<Option<User>, StoreError>> {
        Box::pin(users::by_id(&self.pool, id))
    }

    fn set_password_hash<'a>(
        &'a self,
        id: i64,
        password_hash: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(users::set_password_hash(&self.pool, id, password_hash))
    }

    fn list_users(
        &self,
        limit: u32,
        after_id: Option<i64>,
    ) -> BoxFuture<'_, Result<Vec<User>, StoreError>> {
        Box::pin(users::list(&self.pool, limit, after_id))
    }

    fn create_session<'a>(
        &'a self,
        session: &'a NewSession,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(sessions::create(&self.pool, session))
    }

    fn session<'a>(
        &'a self,
        id: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Session>, StoreError>> {
        Box::pin(sessions::get(&self.pool, id, now))
    }

    fn touch_session<'a>(
        &'a self,
        id: &'a str,
        idle_expires_at: SystemTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(sessions::touch(&self.pool, id, idle_expires_at))
    }

    fn delete_session<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(sessions::delete(&self.pool, id))
    }

    fn delete_user_sessions(&self, user_id: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(sessions::delete_for_user(&self.pool, user_id))
    }

    fn purge_expired_sessions(&self, now: SystemTime) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(sessions::purge_expired(&self.pool, now))
    }

    fn profile_values(
        &self,
        user_id: i64,
    ) -> BoxFuture<'_, Result<BTreeMap<String, String>, StoreError>> {
        Box::pin(profile::values(&self.pool, user_id))
    }

    fn set_profile_values<'a>(
        &'a self,
        user_id: i64,
        changes: &'a BTreeMap<String, Option<String>>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(profile::set_values(&self.pool, user_id, changes))
    }

    fn customization<'a>(
        &'a self,
        user_id: i64,
        page_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Customization>, StoreError>> {
        Box::pin(profile::customization(&self.pool, user_id, page_id))
    }

    fn put_customization<'a>(
        &'a self,
        user_id: i64,
        page_id: &'a str,
        customization: &'a Customization,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(profile::put_customization(
            &self.pool,
            user_id,
            page_id,
            customization,
        ))
    }

    fn delete_customization<'a>(
        &'a self,
        user_id: i64,
        page_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(profile::delete_customization(&self.pool, user_id, page_id))
    }

    fn record_login_failure<'a>(
        &'a self,
        key: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<u32, StoreError>> {
        Box::pin(throttle::record(
            &self.pool,
            key,
            now,
            self.login_failure_window,
        ))
    }

    fn login_failures<'a>(
        &'a self,
        key: &'a str,
        since: SystemTime,
    ) -> BoxFuture<'a, Result<u32, StoreError>> {
        Box::pin(throttle::count(&self.pool, key, since))
    }

    fn clear_login_failures<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(throttle::clear(&self.pool, key))
    }

    fn registered_descriptors(&self) -> BoxFuture<'_, Result<RegisteredSet, StoreError>> {
        Box::pin(descriptors::registered(&self.pool))
    }

    fn commit_descriptors<'a>(
        &'a self,
        expected: i64,
        change: &'a NewDescriptorVersion,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(descriptors::commit(&self.pool, expected, change))
    }

    fn descriptor_versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> BoxFuture<'_, Result<Vec<DescriptorVersion>, StoreError>> {
        Box::pin(descriptors::versions(&self.pool, limit, before))
    }

    fn descriptor_snapshot(
        &self,
        version: i64,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(descriptors::snapshot(&self.pool, version))
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

    /// None: a SQLite file belongs to one node, so there is nobody to tell.
    fn bus(&self) -> Option<crate::Bus> {
        None
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
