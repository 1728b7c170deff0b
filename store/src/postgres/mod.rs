//! The PostgreSQL backend: state shared by several portal nodes.
//!
//! No TLS support is compiled in: the database is expected on loopback or a trusted
//! network (`sslmode=require` fails with a clear error rather than silently downgrading).
//! An optional schema ([`StoreOptions::pg_schema`]) is set as the session `search_path`
//! through the connection's startup `options`, so every statement — the migrations and
//! sqlx's own `_sqlx_migrations` bookkeeping included — works inside it without any
//! schema name in the SQL.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::{redact_url, url_secrets, StoreError};
use crate::types::{
    AuditEntry, AuditRecord, Customization, DescriptorVersion, NewDescriptorVersion, NewSession,
    NewUser, RegisteredSet, Session, Toggle, User,
};
use crate::{Store, StoreOptions};
use bus::Bus;

pub(crate) mod bus;
mod descriptors;
mod throttle;

// `sessions`, `toggles`, `audit`, `users`, `profile`: the queries both backends share.
crate::state_queries::state_queries!(
    sqlx::PgPool,
    json_in: "::jsonb",
    json_out: "::text",
    nullable_id: "$1::bigint",
    greatest: "GREATEST",
    collate: "COLLATE \"C\""
);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// [`Store`] on a PostgreSQL database.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// [`StoreOptions::login_failure_window`].
    login_failure_window: Duration,
    /// The cluster bus on this database (and schema).
    bus: Bus,
}

impl PgStore {
    /// Connects to `url` (optionally inside `options.pg_schema`) and migrates.
    pub(crate) async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let secrets = url_secrets(url);
        let mut connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Config(format!("invalid PostgreSQL URL {:?}: {e}", redact_url(url)))
                .scrub(&secrets)
        })?;
        if let Some(schema) = &options.pg_schema {
            if !is_plain_identifier(schema) {
                return Err(StoreError::Config(format!(
                    "invalid PostgreSQL schema name {schema:?}: use lowercase letters, digits and _"
                )));
            }
            connect = connect.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| {
                match StoreError::from_sqlx(e) {
                    config @ StoreError::Config(_) => config,
                    other => StoreError::Unavailable(format!(
                        "cannot connect to PostgreSQL at {:?}: {other}",
                        redact_url(url)
                    )),
                }
                .scrub(&secrets)
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::from(e).scrub(&secrets))?;
        tracing::debug!(url = %redact_url(url), "PostgreSQL store ready");
        let bus = Bus::new(
            pool.clone(),
            connect,
            options.pg_schema.as_deref(),
            options.acquire_timeout,
        );
        Ok(PgStore {
            pool,
            login_failure_window: options.login_failure_window,
            bus,
        })
    }
}

/// Schema names go into a connection option, not a bind parameter, so they are
/// restricted to what needs no quoting.
fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
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

    fn bus(&self) -> Option<Bus> {
        Some(self.bus.clone())
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pool.close())
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain_identifier;

    #[test]
    fn schema_names_need_no_quoting() {
        assert!(is_plain_identifier("t_0af3"));
        assert!(is_plain_identifier("_x"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("9a"));
        assert!(!is_plain_identifier("a b"));
        assert!(!is_plain_identifier("a\"; drop"));
        assert!(!is_plain_identifier("Mixed"));
    }
}
