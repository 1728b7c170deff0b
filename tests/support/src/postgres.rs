//! [`TestDatabase`]: a PostgreSQL database of its own for one test.
//!
//! A database rather than a schema: `LISTEN`/`NOTIFY` channels are per database, so
//! nodes of tests running in parallel never hear each other. The server is the one at
//! `TESSERA_TEST_DATABASE_URL`, by default `postgres://postgres@127.0.0.1:5432/test`
//! (trust authentication; `.ci/run` starts it). It is required: when it cannot be
//! reached the test fails with instructions, it is never skipped.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh, empty database, dropped (with every connection to it) by
/// [`TestDatabase::drop_now`] — or, if the test panicked first, when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    admin: PgConnectOptions,
    dropped: bool,
}

impl TestDatabase {
    /// Creates `tessera_t_<unique>` on the test server.
    ///
    /// # Panics
    /// If the server cannot be reached (with instructions) or refuses to create it.
    pub async fn create() -> TestDatabase {
        let url =
            std::env::var("TESSERA_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let admin = PgConnectOptions::from_str(&url)
            .unwrap_or_else(|e| panic!("TESSERA_TEST_DATABASE_URL is not a PostgreSQL URL: {e}"));
        let db = TestDatabase {
            name: unique_name(),
            admin,
            dropped: false,
        };
        db.execute(&format!("CREATE DATABASE {}", db.name)).await;
        db
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL for the database (what `TESSERA_DATABASE_URL` would say).
    pub fn url(&self) -> String {
        let o = &self.admin;
        format!(
            "postgres://{}@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            self.name
        )
    }

    /// The server's host and port.
    pub fn server(&self) -> (String, u16) {
        (self.admin.get_host().to_owned(), self.admin.get_port())
    }

    /// A URL for the database through `via` (a relay in front of the server).
    pub fn url_via(&self, via: std::net::SocketAddr) -> String {
        format!(
            "postgres://{}@{via}/{}",
            self.admin.get_username(),
            self.name
        )
    }

    /// Runs `sql` on the server's administrative database (not this one).
    ///
    /// # Panics
    /// If the server cannot be reached or the statement fails.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.admin_connection().await;
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// Terminates this database's connections whose `application_name` is `name`;
    /// returns how many there were.
    pub async fn terminate(&self, application_name: &str) -> i64 {
        let mut conn = self.admin_connection().await;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
        )
        .bind(&self.name)
        .bind(application_name)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("pg_terminate_backend: {e}"));
        let _ = conn.close().await;
        n
    }

    /// Terminates every connection to this database; returns how many there were.
    pub async fn terminate_all(&self) -> i64 {
        let mut conn = self.admin_connection().await;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&self.name)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("pg_terminate_backend: {e}"));
        let _ = conn.close().await;
        n
    }

    /// How many connections to this database are named `application_name`.
    pub async fn connections(&self, application_name: &str) -> i64 {
        let mut conn = self.admin_connection().await;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
        )
        .bind(&self.name)
        .bind(application_name)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("pg_stat_activity: {e}"));
        let _ = conn.close().await;
        n
    }

    /// Lets new connections to this database in, or not (superusers included); those
    /// already open stay.
    pub async fn allow_connections(&self, allow: bool) {
        self.execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {allow}",
            self.name
        ))
        .await;
    }

    /// Drops the database, ending every connection to it.
    pub async fn drop_now(mut self) {
        self.execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
        self.dropped = true;
    }

    async fn admin_connection(&self) -> PgConnection {
        match self.admin.connect().await {
            Ok(conn) => conn,
            Err(e) => panic!(
                "PostgreSQL is required for this test, but {}:{} is not reachable: {e}\n\
                 Start a server with trust authentication and a `test` database, e.g.\n  \
                 docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16\n\
                 or point TESSERA_TEST_DATABASE_URL at another server.",
                self.admin.get_host(),
                self.admin.get_port()
            ),
        }
    }
}

impl Drop for TestDatabase {
    /// A test that panicked before [`TestDatabase::drop_now`] still leaves no database
    /// behind: dropped from a thread of its own, since `drop` cannot await.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = admin.connect().await {
                    let _ = sqlx::query(&sql).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Unique across parallel tests and test processes; a plain identifier.
fn unique_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("tessera_t_{:016x}", h.finish())
}
