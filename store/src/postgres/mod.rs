//! The PostgreSQL backend: state shared by several portal nodes.
//!
//! No TLS support is compiled in: the database is expected on loopback or a trusted
//! network (`sslmode=require` fails with a clear error rather than silently downgrading).
//! An optional schema ([`StoreOptions::pg_schema`]) is set as the session `search_path`
//! through the connection's startup `options`, so every statement — the migrations and
//! sqlx's own `_sqlx_migrations` bookkeeping included — works inside it without any
//! schema name in the SQL.

use std::str::FromStr;

use futures::future::BoxFuture;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::error::{redact_url, url_secrets, StoreError};
use crate::types::{AuditEntry, AuditRecord, Toggle};
use crate::{Store, StoreOptions};

mod audit;
mod toggles;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// [`Store`] on a PostgreSQL database.
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
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
            .connect_with(connect)
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
        Ok(PgStore { pool })
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
