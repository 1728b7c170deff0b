//! # tessera-store: Tessera's persistent state
//!
//! The state that must survive a restart — operator toggles, the audit log, users,
//! server-side sessions, the user layer of the profile, page customizations and failed
//! logins, and the registered descriptor set with its versions — lives behind one object-safe trait,
//! [`Store`], held by the other layers as `Arc<dyn Store>`.
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
//! - `types.rs` — the stored values: [`Toggle`], [`ToggleMode`], [`AuditEntry`],
//!   [`AuditRecord`], [`NewUser`], [`User`], [`NewSession`], [`Session`],
//!   [`Customization`], [`CustomSlot`].
//! - `error.rs` — [`StoreError`] and [`redact_url`].
//! - `state_queries.rs` — the queries of toggles, the audit log, users, sessions, profile
//!   values and customizations, written once with the few dialect spellings as
//!   parameters, and instantiated by each backend's `mod.rs`.
//! - `descriptor_queries.rs` — the registered descriptors' queries (hot registration),
//!   written once the same way and instantiated by each backend's `descriptors.rs`.
//! - `codec.rs` — value ⇄ column conversions and validation shared by both backends;
//!   `codec/` holds those of users, sessions and profiles.
//! - `sqlite/` — `mod.rs` (connection settings, migrations, the trait impl, the shared
//!   queries instantiated), `descriptors.rs`, and `throttle.rs` (failed logins; the one
//!   table whose concurrency control differs: SQLite's single writer against
//!   PostgreSQL's advisory lock).
//! - `postgres/` — the same shape for PostgreSQL, plus `bus.rs`: the cluster [`Bus`]
//!   (`LISTEN`/`NOTIFY`) that [`Store::bus`] hands out.
//! - `tests/` (test only) — the conformance suite every backend must pass, and its
//!   per-backend harnesses.
//!
//! ## Adding state
//! Add a migration for *both* backends, the types in `types.rs`, their encoding in
//! `codec.rs`, the trait methods here, the queries once in `state_queries.rs` (or, where
//! the backends must differ, one file per backend), and a conformance test in
//! `tests/conformance.rs` (it then runs against both backends).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

mod codec;
mod descriptor_queries;
mod error;
mod postgres;
mod sqlite;
mod state_queries;
mod types;

#[cfg(test)]
mod tests;

pub use codec::users::login_key;
pub use codec::{MAX_CUSTOMIZATION_BYTES, MAX_PROFILE_NAME_CHARS, MAX_PROFILE_VALUE_BYTES};
pub use error::{redact_url, StoreError};
pub use postgres::bus::{Bus, BusListener, BUS_MAX_PAYLOAD_BYTES};
pub use types::{
    AuditEntry, AuditRecord, CustomSlot, Customization, DescriptorVersion, NewDescriptorVersion,
    NewSession, NewUser, OverlayDoc, RegisteredSet, Session, Toggle, ToggleMode, User,
};

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

    // ---- Users ----

    /// Creates a user and returns it as stored, with its id. The login is unique ignoring
    /// case: a login taken by any case variant is [`StoreError::Conflict`]. A login must
    /// have 1–254 characters without control characters or surrounding white space, and
    /// the password hash must be a PHC string (`$…`), else [`StoreError::Invalid`].
    fn create_user<'a>(&'a self, user: &'a NewUser) -> BoxFuture<'a, Result<User, StoreError>>;

    /// The user with this login, ignoring case; `None` if there is none.
    fn user_by_login<'a>(
        &'a self,
        login: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, StoreError>>;

    /// The user with this id; `None` if there is none.
    fn user(&self, id: i64) -> BoxFuture<'_, Result<Option<User>, StoreError>>;

    /// Replaces the password hash (a PHC string) of user `id`. Returns whether the user
    /// exists. Sessions are left alone: call [`Store::delete_user_sessions`] to end them.
    fn set_password_hash<'a>(
        &'a self,
        id: i64,
        password_hash: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Up to `limit` users in id order, only those with `id > after_id` when given — pass
    /// the last id of a page to get the next one.
    fn list_users(
        &self,
        limit: u32,
        after_id: Option<i64>,
    ) -> BoxFuture<'_, Result<Vec<User>, StoreError>>;

    // ---- Sessions ----

    /// Stores a new session. Only the SHA-256 of `session.id` is kept. An empty id is
    /// [`StoreError::Invalid`], an unknown user too; an id already in use is
    /// [`StoreError::Conflict`].
    fn create_session<'a>(
        &'a self,
        session: &'a NewSession,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The session with this id if it is live at `now`: `None` when there is none, or
    /// when `now` has reached its absolute or its idle expiry.
    fn session<'a>(
        &'a self,
        id: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Option<Session>, StoreError>>;

    /// Pushes the idle expiry of a session back to `idle_expires_at`; an earlier instant
    /// than the stored one leaves it unchanged (concurrent requests never pull it
    /// forward). It does not check liveness — pushing back the idle expiry of a session
    /// that is already idle-expired would revive it — so call it only for a session that
    /// [`Store::session`] just returned. It never extends the absolute expiry.
    /// Returns whether the session exists.
    fn touch_session<'a>(
        &'a self,
        id: &'a str,
        idle_expires_at: SystemTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Ends a session (logout). Returns whether there was one.
    fn delete_session<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Ends every session of a user (password change, "log out everywhere"). Returns
    /// how many there were.
    fn delete_user_sessions(&self, user_id: i64) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Removes the sessions that are no longer live at `now`; returns how many.
    fn purge_expired_sessions(&self, now: SystemTime) -> BoxFuture<'_, Result<u64, StoreError>>;

    // ---- Profile values (the user layer of the hierarchical profile) ----

    /// All profile values of a user, by name; empty for an unknown user.
    fn profile_values(
        &self,
        user_id: i64,
    ) -> BoxFuture<'_, Result<BTreeMap<String, String>, StoreError>>;

    /// Applies `changes` in one transaction: `Some(value)` sets a value, `None` deletes
    /// it. Names have 1–200 characters of `[a-z0-9._-]` and values at most 4096 bytes,
    /// else [`StoreError::Invalid`] and nothing is changed; an unknown user is
    /// [`StoreError::Invalid`] too.
    fn set_profile_values<'a>(
        &'a self,
        user_id: i64,
        changes: &'a BTreeMap<String, Option<String>>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    // ---- Page customizations ----

    /// A user's customization of a page; `None` if they never customized it.
    fn customization<'a>(
        &'a self,
        user_id: i64,
        page_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Customization>, StoreError>>;

    /// Sets (replaces) a user's customization of a page. Durable when the call returns.
    /// Encoded larger than [`MAX_CUSTOMIZATION_BYTES`], with an empty page id or NUL
    /// characters, or for an unknown user: [`StoreError::Invalid`].
    fn put_customization<'a>(
        &'a self,
        user_id: i64,
        page_id: &'a str,
        customization: &'a Customization,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes a user's customization of a page (back to the page's defaults). Returns
    /// whether there was one.
    fn delete_customization<'a>(
        &'a self,
        user_id: i64,
        page_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    // ---- Login throttling ----

    /// Records a failed login under `key` (`user:alice`, `addr:127.0.0.1`) at `now` and
    /// returns how many failures `key` has in the window ending at `now`
    /// ([`StoreOptions::login_failure_window`], bounds included). Failures older than
    /// the window, of every key, are forgotten. Concurrent failures of one key are
    /// counted one after the other: N parallel calls return 1 to N (plus earlier ones).
    fn record_login_failure<'a>(
        &'a self,
        key: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<u32, StoreError>>;

    /// How many failures `key` has at or after `since`. Only one window of history is
    /// kept, so `since` earlier than the window counts what is left.
    fn login_failures<'a>(
        &'a self,
        key: &'a str,
        since: SystemTime,
    ) -> BoxFuture<'a, Result<u32, StoreError>>;

    /// Forgets the failures of `key` (after a successful login).
    fn clear_login_failures<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    // ---- Registered descriptors (hot registration) ----

    /// The registered overlay and the newest version number (0: none yet).
    fn registered_descriptors(&self) -> BoxFuture<'_, Result<RegisteredSet, StoreError>>;

    /// Commits a change of the descriptor set as version `expected + 1`, in one
    /// transaction: replaces the overlay and appends the version. When the newest version
    /// is not `expected` (another node committed first) nothing is written and the answer
    /// is [`StoreError::Conflict`]. Returns the new version.
    fn commit_descriptors<'a>(
        &'a self,
        expected: i64,
        change: &'a NewDescriptorVersion,
    ) -> BoxFuture<'a, Result<i64, StoreError>>;

    /// Up to `limit` versions, newest first, only those below `before` when given.
    fn descriptor_versions(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> BoxFuture<'_, Result<Vec<DescriptorVersion>, StoreError>>;

    /// The snapshot (JSON text) of one version; `None` if there is no such version.
    fn descriptor_snapshot(
        &self,
        version: i64,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>>;

    /// Checks that the database answers (for health endpoints).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The cluster bus over this store, if it has one: PostgreSQL's `LISTEN`/`NOTIFY`
    /// for nodes sharing the database; `None` for SQLite, whose file has one node.
    fn bus(&self) -> Option<Bus>;

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
    /// How far back [`Store::record_login_failure`] counts failures, and how long they
    /// are kept. Fifteen minutes is the usual lock-out window (OWASP's suggestion): long
    /// enough to slow a guesser to a few attempts per quarter hour, short enough that a
    /// user who mistyped is not locked out for long.
    pub login_failure_window: Duration,
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
            login_failure_window: Duration::from_secs(15 * 60),
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
