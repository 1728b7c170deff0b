//! Conformance: server-side sessions.

use std::sync::Arc;

use super::at;
use super::users::create;
use crate::{NewSession, Store, StoreError};

/// A session of `user_id` created at `at(0)`, absolute expiry `at(abs)`, idle `at(idle)`.
pub(crate) fn new_session(id: &str, user_id: i64, abs: u64, idle: u64) -> NewSession {
    NewSession {
        id: id.into(),
        user_id,
        created_at: at(0),
        expires_at: at(abs),
        idle_expires_at: at(idle),
        csrf_token: format!("csrf-{id}"),
    }
}

pub(crate) async fn session_round_trip_and_expiry(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    // Absolute expiry at 10 s, idle expiry at 3 s.
    let s = new_session("sid-alice-1", alice.id, 10_000, 3_000);
    store.create_session(&s).await.expect("create session");

    let live = store
        .session("sid-alice-1", at(1))
        .await
        .expect("session")
        .expect("live at 1 ms");
    assert_eq!(live.user_id, alice.id);
    assert_eq!(live.created_at, at(0));
    assert_eq!(live.expires_at, at(10_000));
    assert_eq!(live.idle_expires_at, at(3_000));
    assert_eq!(live.csrf_token, "csrf-sid-alice-1");
    assert!(!format!("{live:?}").contains("csrf-sid"));

    // Idle expiry: live just before, gone at the instant and after.
    assert!(store
        .session("sid-alice-1", at(2_999))
        .await
        .expect("s")
        .is_some());
    assert!(store
        .session("sid-alice-1", at(3_000))
        .await
        .expect("s")
        .is_none());
    assert!(store
        .session("sid-alice-1", at(5_000))
        .await
        .expect("s")
        .is_none());

    // Absolute expiry wins even when the idle expiry is later.
    let s2 = new_session("sid-alice-2", alice.id, 10_000, 60_000);
    store.create_session(&s2).await.expect("create session 2");
    assert!(store
        .session("sid-alice-2", at(9_999))
        .await
        .expect("s")
        .is_some());
    assert!(store
        .session("sid-alice-2", at(10_000))
        .await
        .expect("s")
        .is_none());
    assert!(store
        .session("sid-alice-2", at(50_000))
        .await
        .expect("s")
        .is_none());

    // Unknown, empty and near-miss ids find nothing.
    for id in ["sid-alice-3", "", "SID-ALICE-1", "sid-alice-1 "] {
        assert!(
            store.session(id, at(1)).await.expect("s").is_none(),
            "{id:?}"
        );
    }
}

pub(crate) async fn touch_extends_idle_expiry(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    store
        .create_session(&new_session("sid", alice.id, 100_000, 3_000))
        .await
        .expect("create");
    assert!(store.touch_session("sid", at(8_000)).await.expect("touch"));
    let s = store
        .session("sid", at(5_000))
        .await
        .expect("s")
        .expect("live after touch");
    assert_eq!(s.idle_expires_at, at(8_000));
    assert!(store.session("sid", at(8_000)).await.expect("s").is_none());

    // An earlier instant (a slower concurrent request) does not pull it forward.
    assert!(store.touch_session("sid", at(6_000)).await.expect("touch"));
    let s = store
        .session("sid", at(7_000))
        .await
        .expect("s")
        .expect("still live");
    assert_eq!(s.idle_expires_at, at(8_000));

    // Touch never goes past the absolute expiry in effect.
    assert!(store
        .touch_session("sid", at(500_000))
        .await
        .expect("touch"));
    assert!(store.session("sid", at(99_999)).await.expect("s").is_some());
    assert!(store
        .session("sid", at(100_000))
        .await
        .expect("s")
        .is_none());

    assert!(!store
        .touch_session("nope", at(1))
        .await
        .expect("touch unknown"));
}

pub(crate) async fn sessions_delete_and_purge(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    let bob = create(&*store, "bob").await;
    let sessions = [
        new_session("a1", alice.id, 10_000, 10_000),
        new_session("a2", alice.id, 10_000, 2_000), // idle-expired at 5 s
        new_session("a3", alice.id, 4_000, 10_000), // expired at 5 s
        new_session("b1", bob.id, 10_000, 10_000),
        new_session("b2", bob.id, 1_000, 1_000), // expired at 5 s
    ];
    for s in &sessions {
        store.create_session(s).await.expect("create");
    }
    assert_eq!(
        store
            .purge_expired_sessions(at(5_000))
            .await
            .expect("purge"),
        3
    );
    assert_eq!(
        store
            .purge_expired_sessions(at(5_000))
            .await
            .expect("purge"),
        0
    );
    // Purged sessions are gone even for a `now` at which they were live.
    assert!(store.session("a2", at(1)).await.expect("s").is_none());
    assert!(store.session("a1", at(5_000)).await.expect("s").is_some());

    assert!(store.delete_session("b1").await.expect("delete"));
    assert!(!store.delete_session("b1").await.expect("delete again"));
    assert!(store.session("b1", at(5_000)).await.expect("s").is_none());

    store
        .create_session(&new_session("a4", alice.id, 10_000, 10_000))
        .await
        .expect("create a4");
    store
        .create_session(&new_session("b3", bob.id, 10_000, 10_000))
        .await
        .expect("create b3");
    assert_eq!(
        store
            .delete_user_sessions(alice.id)
            .await
            .expect("delete all"),
        2
    );
    assert!(store.session("a1", at(5_000)).await.expect("s").is_none());
    assert!(store.session("a4", at(5_000)).await.expect("s").is_none());
    assert!(store.session("b3", at(5_000)).await.expect("s").is_some());
    assert_eq!(
        store.delete_user_sessions(alice.id).await.expect("again"),
        0
    );
}

pub(crate) async fn invalid_sessions_are_rejected(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    let s = new_session("dup", alice.id, 10_000, 10_000);
    store.create_session(&s).await.expect("create");
    assert!(matches!(
        store.create_session(&s).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_session(&new_session("", alice.id, 10_000, 10_000))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .create_session(&new_session("orphan", alice.id + 1000, 10_000, 10_000))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad_csrf = new_session("csrf", alice.id, 10_000, 10_000);
    bad_csrf.csrf_token = "a\0".into();
    assert!(matches!(
        store.create_session(&bad_csrf).await,
        Err(StoreError::Invalid(_))
    ));
}
