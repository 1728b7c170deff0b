//! The cluster bus: PostgreSQL `LISTEN`/`NOTIFY` on one channel of the store's database.
//!
//! The store only carries text: what the payloads mean, and what a node does with them,
//! is the channels layer's business (`tessera_channels::cluster`). Two rules come from
//! PostgreSQL itself:
//! - a payload must be shorter than 8000 bytes ([`BUS_MAX_PAYLOAD_BYTES`]): larger data
//!   belongs in a table, the notification only names it;
//! - notifications are not queued for a listener that is not connected: a node that lost
//!   its listening connection has missed an unknown number of them. [`BusListener::recv`]
//!   says so (`Ok(None)`) instead of reconnecting behind the caller's back, so the caller
//!   can resynchronize from the tables.
//!
//! Why a dedicated connection per listener rather than one from the store's pool: a
//! `LISTEN` belongs to a session, so the listening connection must never be handed to
//! another caller; and a connection of its own carries an `application_name`
//! (`tessera-bus:<node>`) that operators — and the tests — find in `pg_stat_activity`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;

use crate::error::StoreError;

/// Longest payload [`Bus::publish`] sends: PostgreSQL refuses payloads of 8000 bytes or
/// more (with its default page size).
pub const BUS_MAX_PAYLOAD_BYTES: usize = 7999;

/// The channel of a database whose tables are in the default `search_path`.
const DEFAULT_CHANNEL: &str = "tessera_events";

/// Publishes to and listens on the cluster channel of one PostgreSQL store. Cheap to
/// clone (a pool handle and the connect options).
#[derive(Clone)]
pub struct Bus {
    /// The store's pool: a `NOTIFY` is one short statement, like any other store call.
    pool: PgPool,
    /// The store's connect options (and so its schema), for listening connections.
    connect: PgConnectOptions,
    channel: String,
    /// How long opening a listening connection may take.
    connect_timeout: Duration,
}

impl Bus {
    /// `schema`: the store's schema, if not the default. Notification channels are per
    /// database, not per schema, so stores in different schemas of one database get
    /// different channels and never hear each other.
    pub(crate) fn new(
        pool: PgPool,
        connect: PgConnectOptions,
        schema: Option<&str>,
        connect_timeout: Duration,
    ) -> Self {
        let channel = match schema {
            None => DEFAULT_CHANNEL.to_owned(),
            Some(s) => format!("{DEFAULT_CHANNEL}_{s}"),
        };
        Bus {
            pool,
            connect,
            channel,
            connect_timeout,
        }
    }

    /// The channel name (`tessera_events`, or `tessera_events_<schema>`).
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Sends `payload` to every listener of the channel — this node's own listener too,
    /// so receivers recognise their own messages by content. A payload of
    /// [`BUS_MAX_PAYLOAD_BYTES`] or more, or with a NUL character, is
    /// [`StoreError::Invalid`] and nothing is sent.
    pub async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        if payload.len() > BUS_MAX_PAYLOAD_BYTES {
            return Err(StoreError::Invalid(format!(
                "a bus payload has at most {BUS_MAX_PAYLOAD_BYTES} bytes, this one {}",
                payload.len()
            )));
        }
        if payload.contains('\0') {
            return Err(StoreError::Invalid(
                "a bus payload cannot contain NUL characters".into(),
            ));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Opens a listening connection named `application_name` and subscribes it to the
    /// channel. Once this returns, every later [`Bus::publish`] reaches the listener
    /// (until it reports a lost connection).
    pub async fn listen(&self, application_name: &str) -> Result<BusListener, StoreError> {
        // A pool of one, never recycled: it only exists because `PgListener` connects
        // through a pool. The listener is dropped, with its pool, when its connection is
        // lost; the caller opens a new one.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(self.connect_timeout)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(self.connect.clone().application_name(application_name));
        let mut inner = PgListener::connect_with(&pool).await.map_err(unavailable)?;
        // Report a lost connection at once; reconnecting is the caller's decision.
        inner.eager_reconnect(false);
        inner.ignore_pool_close_event(true);
        inner.listen(&self.channel).await.map_err(unavailable)?;
        Ok(BusListener { inner })
    }
}

// The connect options hold the password: only the channel is shown.
impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("channel", &self.channel)
            .finish()
    }
}

/// Any failure to open or keep the listening connection means the database is out of
/// reach for this purpose.
fn unavailable(e: sqlx::Error) -> StoreError {
    match StoreError::from_sqlx(e) {
        StoreError::Query(m) => StoreError::Unavailable(m),
        other => other,
    }
}

/// One listening connection.
#[derive(Debug)]
pub struct BusListener {
    inner: PgListener,
}

impl BusListener {
    /// The next payload on the channel. `Ok(None)` or an error: the connection is gone
    /// and notifications sent meanwhile are lost; drop this listener and open a new one.
    ///
    /// Cancel safe: dropping the future before it completes loses no notification (the
    /// caller can time it out and [`BusListener::ping`]).
    pub async fn recv(&mut self) -> Result<Option<String>, StoreError> {
        match self.inner.try_recv().await {
            Ok(Some(n)) => Ok(Some(n.payload().to_owned())),
            Ok(None) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Checks that the listening connection still answers: a connection whose peer
    /// vanished without closing it (a failover, a partition) would otherwise wait for
    /// notifications forever.
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut self.inner)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
