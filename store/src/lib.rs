//! # tessera-store: Tessera's persistent state
//!
//! The state that must survive a restart — today operator toggles and the audit log;
//! later users, sessions, profiles, customizations and registered descriptors — lives
//! behind one object-safe trait, [`Store`], held by the other layers as `Arc<dyn Store>`.
//!
//! Two backends implement it:
//! - **SQLite** (default): one file, created with its parent folders on first start,
//!   in WAL mode. Good for a single node.
//! - **PostgreSQL**: for several nodes sharing state.
//!
//! [`open`] picks the backend from the URL and applies that backend's embedded migrations
//! (`migrations/sqlite/`, `migrations/postgres/`) before returning:
//!
//! | URL                                   | Backend                                   |
//! |---------------------------------------|-------------------------------------------|
//! | `sqlite://var/tessera.db`             | SQLite file, relative to the working dir  |
//! | `sqlite:///srv/tessera/tessera.db`    | SQLite file, absolute path                |
//! | `sqlite::memory:`                     | SQLite in memory (tests; gone on close)   |
//! | `postgres://user:pw@host:5432/db`     | PostgreSQL (`postgresql://` also works)   |
//!
//! Both backends store exactly the same values and reject the same ones (see `codec`):
//! times are unix milliseconds, JSON detail is validated text, NUL characters are refused
//! with [`StoreError::Invalid`] because PostgreSQL cannot store them.
//!
//! ## Layout
//! - `lib.rs` — the [`Store`] trait, [`open`] / [`open_with`] and [`StoreOptions`].
//! - `types.rs` — the stored values: [`Toggle`], [`ToggleMode`], [`AuditEntry`], [`AuditRecord`].
//! - `error.rs` — [`StoreError`] and [`redact_url`].
//! - `codec.rs` — value ⇄ column conversions and validation shared by both backends.
//! - `sqlite/` — `mod.rs` (connection settings, migrations, the trait impl),
//!   one file per table group (`toggles.rs`, `audit.rs`).
//! - `postgres/` — the same shape for PostgreSQL.
//! - `tests/` (test only) — the conformance suite every backend must pass, and its
//!   per-backend harnesses.
//!
//! ## Adding state
//! Add a migration for *both* backends, the types in `types.rs`, their encoding in
//! `codec.rs`, the trait methods here, one file per backend, and a conformance test in
//! `tests/conformance.rs` (it then runs against both backends).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

mod codec;
mod error;
mod postgres;
mod sqlite;
mod types;

#[cfg(test)]
mod tests;

pub use error::{redact_url, StoreError};
pub use types::{AuditEntry, AuditRecord, Toggle, ToggleMode};

/// Tessera's persistent state.
///
/// Methods return [`BoxFuture`] rather than being `async fn`s: a trait with `async fn`
/// is not object-safe, and the layers need `Arc<dyn Store>` so that the backend is chosen
/// at run time from configuration. Writing the boxing out by hand costs one
/// `Box::pin(async move { … })` per method and spares the `async-trait` proc-macro
/// dependency, whose generated signatures are harder to read in docs and errors.
pub trait Store: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn kind(&self) -> &'static str;

    /// Sets the toggle of `t.service`, replacing any previous one.
    fn put_toggle<'a>(&'a self, t: &'a Toggle) -> BoxFuture<'a, Result<(), StoreError>>;

    /// All toggles, ordered by service id.
    fn toggles(&self) -> BoxFuture<'_, Result<Vec<Toggle>, StoreError>>;

    /// Removes the toggle of `service`. Returns whether there was one.
    fn delete_toggle<'a>(&'a self, service: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Appends an audit entry and returns its id. Ids increase and are never reused.
    /// The log is append-only through this trait: there is no update or delete.
    fn append_audit<'a>(&'a self, e: &'a AuditEntry) -> BoxFuture<'a, Result<i64, StoreError>>;

    /// Up to `limit` audit records, newest (highest id) first, only those with
    /// `id < before_id` when given — pass the last id of a page to get the next one.
    /// The caller bounds `limit` (an HTTP handler would cap it at a page size).
    fn audit(
        &self,
        limit: u32,
        before_id: Option<i64>,
    ) -> BoxFuture<'_, Result<Vec<AuditRecord>, StoreError>>;

    /// Checks that the database answers (for health endpoints).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Closes the connections, waiting for those in use to be returned. For SQLite this
    /// lets the last connection checkpoint the WAL into the database file. Calls made
    /// after closing fail with [`StoreError::Unavailable`].
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Connection settings. [`StoreOptions::default`] suits a portal node; tests and
/// deployments adjust single fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Maximum pooled connections. Store traffic is operator- and login-rate, far below
    /// page traffic, so a handful suffices; each PostgreSQL connection costs the server a
    /// process, and several nodes share its `max_connections`.
    pub max_connections: u32,
    /// How long a call waits for a free connection (and for PostgreSQL to answer a
    /// connect) before failing with [`StoreError::Unavailable`], so that a dead database
    /// degrades the console instead of hanging it.
    pub acquire_timeout: Duration,
    /// How long a SQLite statement waits for another connection's write lock before
    /// failing (`busy_timeout`). Writes are short, so waiting beats failing; five seconds
    /// covers a WAL checkpoint on a slow disk.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL schema to work in (tables, migrations bookkeeping); `None` means the
    /// server's default `search_path`. Tests use it to isolate each run; not public until
    /// deployments need it.
    pub(crate) pg_schema: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            pg_schema: None,
        }
    }
}

/// Opens the store at `url` with default [`StoreOptions`]; see [`open_with`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &StoreOptions::default()).await
}

/// Opens the store at `url` (forms in the crate docs), creating the SQLite file and its
/// parent folders if missing, and applies pending migrations.
///
/// An unknown scheme is a [`StoreError::Config`]; an unreachable server is
/// [`StoreError::Unavailable`]. No error message contains the URL's password.
pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite => Ok(Arc::new(sqlite::SqliteStore::connect(url, options).await?)),
        Backend::Postgres => Ok(Arc::new(postgres::PgStore::connect(url, options).await?)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Result<Backend, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::Config(
                "the store URL is empty; expected sqlite://PATH, sqlite::memory: or postgres://…"
                    .into(),
            ));
        }
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::Config(format!(
                "unsupported store URL {:?}: expected sqlite://PATH, sqlite::memory: or \
                 postgres://USER@HOST:PORT/DATABASE",
                redact_url(url)
            ))),
        }
    }
}
