//! The conformance suite on PostgreSQL. Each test works in its own fresh schema, dropped
//! afterwards, so tests run in parallel against one database without seeing each other.
//!
//! The server is required: an unreachable server fails the tests with instructions,
//! never skips them silently.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

use super::conformance::{
    check_sample, check_user_sample, conformance_suite, new_session, new_user, write_sample,
    write_user_sample,
};
use crate::{open_with, redact_url, NewSession, Store, StoreError, StoreOptions};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn test_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A schema name unique across parallel tests and test processes.
fn fresh_schema() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("t_{:016x}", h.finish())
}

async fn admin_connection(url: &str) -> PgConnection {
    match PgConnection::connect(url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is required for the tessera-store tests, but {} is not reachable: {e}\n\
             Start a server with trust authentication and a `test` database, e.g.\n  \
             docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16\n\
             or point TESSERA_TEST_DATABASE_URL at another server.",
            redact_url(url)
        ),
    }
}

fn options_in(schema: &str) -> StoreOptions {
    StoreOptions {
        // Many tests run at once against one server; keep each pool small.
        max_connections: 4,
        pg_schema: Some(schema.to_owned()),
        ..StoreOptions::default()
    }
}

/// Runs `test` against a store in a fresh schema, then drops the schema — also when the
/// test panics (the panic is re-raised afterwards).
async fn in_fresh_schema<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = test_url();
    let schema = fresh_schema();
    let mut admin = admin_connection(&url).await;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create test schema");

    let outcome = match open_with(&url, &options_in(&schema)).await {
        Ok(store) => {
            assert_eq!(store.kind(), "postgres");
            let outcome = tokio::spawn(test(Arc::clone(&store), schema.clone())).await;
            store.close().await;
            outcome.map_err(|e| e.try_into_panic().ok())
        }
        Err(e) => Err(Some(Box::new(format!("open in schema {schema}: {e}")) as _)),
    };

    let dropped = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    match outcome {
        Ok(()) => {
            dropped.expect("drop test schema");
        }
        Err(Some(panic)) => std::panic::resume_unwind(panic),
        Err(None) => panic!("test task was cancelled"),
    }
}

async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    in_fresh_schema(|store, _schema| test(store)).await;
}

conformance_suite!(on_postgres);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_close_and_reopen() {
    in_fresh_schema(|store, schema| async move {
        let ids = write_sample(&*store).await;
        let user_sample = write_user_sample(&*store).await;
        store.close().await;
        // Migrations run again on reopen and must be recognised as applied.
        let reopened = open_with(&test_url(), &options_in(&schema))
            .await
            .expect("reopen");
        check_sample(&*reopened, &ids).await;
        check_user_sample(&*reopened, &user_sample).await;
        reopened.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_stay_inside_the_schema() {
    in_fresh_schema(|_store, schema| async move {
        let mut admin = admin_connection(&test_url()).await;
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = $1 ORDER BY table_name",
        )
        .bind(&schema)
        .fetch_all(&mut admin)
        .await
        .expect("list tables");
        let names: Vec<&str> = tables.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "_sqlx_migrations",
                "audit_log",
                "customizations",
                "descriptor_overlay",
                "descriptor_versions",
                "login_failures",
                "profile_values",
                "sessions",
                "toggles",
                "users"
            ]
        );
        let _ = admin.close().await;
    })
    .await;
}

#[tokio::test]
async fn schema_names_that_need_quoting_are_refused() {
    let options = StoreOptions {
        pg_schema: Some("x; DROP".into()),
        acquire_timeout: Duration::from_secs(2),
        ..StoreOptions::default()
    };
    match open_with(&test_url(), &options).await {
        Err(StoreError::Config(m)) => assert!(m.contains("schema"), "{m}"),
        other => panic!("expected a config error, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_are_not_stored_in_clear() {
    in_fresh_schema(|store, schema| async move {
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
        let mut admin = admin_connection(&test_url()).await;
        let rows: Vec<(Vec<u8>, String)> = sqlx::query_as(&format!(
            "SELECT s.id_hash, s::text FROM {schema}.sessions s"
        ))
        .fetch_all(&mut admin)
        .await
        .expect("select sessions");
        let _ = admin.close().await;
        assert_eq!(rows.len(), 1);
        let (hash, whole_row) = &rows[0];
        assert_eq!(*hash, crate::codec::session_id_hash(sid));
        assert!(!whole_row.contains(sid), "{whole_row}");
        assert!(store
            .session(sid, super::conformance::at(1))
            .await
            .expect("s")
            .is_some());
    })
    .await;
}

/// Waits at most five seconds for the listener's next event.
async fn next(listener: &mut crate::BusListener) -> Result<Option<String>, StoreError> {
    tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("the listener answers within five seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_carries_payloads_to_every_listener_in_order() {
    in_fresh_schema(|store, schema| async move {
        let bus = store.bus().expect("PostgreSQL has a bus");
        assert_eq!(bus.channel(), format!("tessera_events_{schema}"));
        let mut one = bus.listen("tessera-test-one").await.expect("listen");
        let mut two = bus.listen("tessera-test-two").await.expect("listen");
        one.ping().await.expect("a live listener answers");
        for payload in [
            "first",
            "{\"kind\":\"toggle\",\"service\":\"news\"}",
            "third",
        ] {
            bus.publish(payload).await.expect("publish");
        }
        for listener in [&mut one, &mut two] {
            let got = [
                next(listener).await.expect("recv"),
                next(listener).await.expect("recv"),
                next(listener).await.expect("recv"),
            ];
            assert_eq!(
                got,
                [
                    Some("first".to_owned()),
                    Some("{\"kind\":\"toggle\",\"service\":\"news\"}".to_owned()),
                    Some("third".to_owned())
                ]
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_takes_payloads_up_to_its_limit_and_refuses_larger_ones() {
    in_fresh_schema(|store, _schema| async move {
        let bus = store.bus().expect("bus");
        let mut listener = bus.listen("tessera-test-limit").await.expect("listen");
        let largest = "x".repeat(crate::BUS_MAX_PAYLOAD_BYTES);
        bus.publish(&largest)
            .await
            .expect("the largest payload goes");
        assert_eq!(next(&mut listener).await.expect("recv"), Some(largest));
        let too_large = "x".repeat(crate::BUS_MAX_PAYLOAD_BYTES + 1);
        match bus.publish(&too_large).await {
            Err(StoreError::Invalid(m)) => assert!(m.contains("at most 7999 bytes"), "{m}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        match bus.publish("a\0b").await {
            Err(StoreError::Invalid(m)) => assert!(m.contains("NUL"), "{m}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
        // Nothing else was sent: the next payload is the next one published.
        bus.publish("after").await.expect("publish");
        assert_eq!(
            next(&mut listener).await.expect("recv"),
            Some("after".into())
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listening_connection_is_reported_not_hidden() {
    in_fresh_schema(|store, schema| async move {
        let bus = store.bus().expect("bus");
        // Unique per test run: the server is shared with parallel tests.
        let name = format!("tessera-test-{schema}");
        let mut listener = bus.listen(&name).await.expect("listen");
        let mut admin = admin_connection(&test_url()).await;
        let (killed,): (i64,) = sqlx::query_as(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("terminate the listener");
        let _ = admin.close().await;
        assert_eq!(
            killed, 1,
            "exactly the listening connection carries its name"
        );
        match next(&mut listener).await {
            Ok(None) | Err(StoreError::Unavailable(_)) => {}
            other => panic!("expected a lost connection, got {other:?}"),
        }
        // The store's own pool is untouched; a new listener hears new payloads.
        let mut again = bus.listen(&name).await.expect("listen again");
        bus.publish("after").await.expect("publish");
        assert_eq!(next(&mut again).await.expect("recv"), Some("after".into()));
    })
    .await;
}
