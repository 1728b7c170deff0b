//! Tests that need the crate's internals (the PostgreSQL schema option, the SQLite pool).
//! `conformance.rs` is the suite both backends must pass; `sqlite.rs` and `postgres.rs`
//! run it and add backend-specific checks; this file checks `open` itself.

mod conformance;
mod postgres;
mod sqlite;

use std::time::Duration;

use crate::{open, open_with, StoreError, StoreOptions};

#[tokio::test]
async fn unknown_scheme_is_a_config_error_without_the_password() {
    for url in [
        "mysql://tess:hunter2secret@db/x",
        "redis://h",
        "tessera.db",
        "sqlite3://x",
    ] {
        match open(url).await {
            Err(StoreError::Config(m)) => {
                assert!(m.contains("expected sqlite://PATH"), "{m}");
                assert!(!m.contains("hunter2secret"), "{m}");
            }
            Err(other) => panic!("{url}: expected a config error, got {other}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
    match open("  ").await {
        Err(StoreError::Config(m)) => assert!(m.contains("empty"), "{m}"),
        other => panic!("expected a config error, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable_without_the_password() {
    // A port that was just free: nothing listens on it. sqlx retries refused connections
    // until the acquire timeout, so keep that short.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("local addr").port()
    };
    let url = format!("postgres://tess:hunter2secret@127.0.0.1:{port}/tessera");
    let options = StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    };
    match open_with(&url, &options).await {
        Err(StoreError::Unavailable(m)) => {
            assert!(!m.contains("hunter2secret"), "{m}");
            assert!(m.contains("tess:***@127.0.0.1"), "{m}");
        }
        Err(other) => panic!("expected unavailable, got {other}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}

#[tokio::test]
async fn malformed_urls_are_config_errors() {
    let Err(StoreError::Config(m)) = open("postgres://tess:hunter2secret@[::1/x").await else {
        panic!("expected a config error");
    };
    assert!(!m.contains("hunter2secret"), "{m}");
}
