//! Conformance: failed-login bookkeeping (default window: 15 minutes).

use std::sync::Arc;

use super::at;
use crate::{Store, StoreError};

const MIN: u64 = 60_000;

pub(crate) async fn login_failures_count_in_the_window(store: Arc<dyn Store>) {
    let key = "user:alice";
    assert_eq!(store.login_failures(key, at(0)).await.expect("count"), 0);
    assert_eq!(
        store.record_login_failure(key, at(0)).await.expect("rec"),
        1
    );
    assert_eq!(
        store.record_login_failure(key, at(MIN)).await.expect("rec"),
        2
    );
    assert_eq!(
        store
            .record_login_failure(key, at(2 * MIN))
            .await
            .expect("rec"),
        3
    );
    // Another key is counted on its own.
    let addr = "addr:127.0.0.1";
    assert_eq!(
        store
            .record_login_failure(addr, at(2 * MIN))
            .await
            .expect("rec"),
        1
    );

    assert_eq!(store.login_failures(key, at(0)).await.expect("count"), 3);
    assert_eq!(store.login_failures(key, at(MIN)).await.expect("count"), 2);
    assert_eq!(
        store.login_failures(key, at(MIN + 1)).await.expect("count"),
        1
    );
    assert_eq!(
        store.login_failures(key, at(3 * MIN)).await.expect("count"),
        0
    );

    // 15 minutes after the first failure it still counts (bounds included); one
    // millisecond later it has left the window.
    assert_eq!(
        store
            .record_login_failure(key, at(15 * MIN))
            .await
            .expect("rec"),
        4
    );
    assert_eq!(
        store
            .record_login_failure(key, at(15 * MIN + 1))
            .await
            .expect("rec"),
        4
    );
    assert_eq!(store.login_failures(key, at(0)).await.expect("count"), 4);

    store.clear_login_failures(key).await.expect("clear");
    assert_eq!(store.login_failures(key, at(0)).await.expect("count"), 0);
    assert_eq!(store.login_failures(addr, at(0)).await.expect("count"), 1);
    assert_eq!(
        store
            .record_login_failure(key, at(16 * MIN))
            .await
            .expect("rec"),
        1
    );
    store
        .clear_login_failures("user:nobody")
        .await
        .expect("clear unknown");
}

pub(crate) async fn concurrent_login_failures_are_all_counted(store: Arc<dyn Store>) {
    const TASKS: u64 = 20;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.record_login_failure("addr:10.0.0.9", at(i)).await })
        })
        .collect();
    let mut seen = Vec::new();
    for h in handles {
        seen.push(h.await.expect("task panicked").expect("record"));
    }
    assert_eq!(
        store
            .login_failures("addr:10.0.0.9", at(0))
            .await
            .expect("count"),
        20
    );
    // Records of one key are serialized: each call saw all earlier ones, so the counts
    // returned are exactly 1..=20 (parallel guesses cannot all see a count under a limit).
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<u32>>());
}

pub(crate) async fn invalid_throttle_keys_are_rejected(store: Arc<dyn Store>) {
    for key in ["", "user:\0", &"k".repeat(1025)] {
        assert!(matches!(
            store.record_login_failure(key, at(0)).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.login_failures(key, at(0)).await.expect("count"), 0);
    }
}
