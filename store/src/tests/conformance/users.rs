//! Conformance: users.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::at;
use crate::{NewUser, Store, StoreError, User};

pub(crate) const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

/// A valid new user with this login.
pub(crate) fn new_user(login: &str) -> NewUser {
    NewUser {
        login: login.into(),
        display_name: format!("{login} (display)"),
        password_hash: HASH.into(),
        roles: vec!["customer".into(), "beta".into()],
        segment: Some("premium".into()),
        extra_tokens: vec!["quotes.realtime".into()],
        attributes: BTreeMap::from([
            ("locale".to_owned(), "fr-CH".to_owned()),
            ("bank".to_owned(), "l'épargne \"ünï\" 😀".to_owned()),
        ]),
        created_at: at(5),
    }
}

/// Creates a user with this login, for tests of other tables.
pub(crate) async fn create(store: &dyn Store, login: &str) -> User {
    store
        .create_user(&new_user(login))
        .await
        .expect("create_user")
}

pub(crate) async fn users_create_read_and_list(store: Arc<dyn Store>) {
    let alice_new = new_user("Alice");
    let alice = store.create_user(&alice_new).await.expect("create alice");
    assert_eq!(alice.login, "Alice");
    assert_eq!(alice.roles, alice_new.roles);
    assert_eq!(alice.attributes, alice_new.attributes);
    assert_eq!(alice.created_at, at(5));

    // Bare user: no roles, tokens, attributes or segment.
    let bob = store
        .create_user(&NewUser {
            roles: vec![],
            segment: None,
            extra_tokens: vec![],
            attributes: BTreeMap::new(),
            ..new_user("bob")
        })
        .await
        .expect("create bob");
    assert!(
        bob.id > alice.id,
        "ids increase: {} then {}",
        alice.id,
        bob.id
    );

    assert_eq!(
        store.user(alice.id).await.expect("user"),
        Some(alice.clone())
    );
    assert_eq!(store.user(bob.id).await.expect("user"), Some(bob.clone()));
    assert_eq!(store.user(bob.id + 100).await.expect("unknown id"), None);
    for login in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_eq!(
            store.user_by_login(login).await.expect("by login"),
            Some(alice.clone()),
            "{login}"
        );
    }
    for login in ["alice ", "", "al\0ice", "carol"] {
        assert_eq!(store.user_by_login(login).await.expect("by login"), None);
    }

    let carol = create(&*store, "carol").await;
    assert_eq!(
        store.list_users(10, None).await.expect("list"),
        vec![alice.clone(), bob.clone(), carol.clone()]
    );
    assert_eq!(
        store.list_users(2, None).await.expect("page 1"),
        vec![alice.clone(), bob.clone()]
    );
    assert_eq!(
        store.list_users(2, Some(bob.id)).await.expect("page 2"),
        vec![carol.clone()]
    );
    assert_eq!(store.list_users(0, None).await.expect("limit 0"), vec![]);

    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA";
    assert!(store
        .set_password_hash(bob.id, new_hash)
        .await
        .expect("set hash"));
    let bob_after = store.user(bob.id).await.expect("user").expect("bob");
    assert_eq!(bob_after.password_hash, new_hash);
    assert!(!store
        .set_password_hash(carol.id + 100, new_hash)
        .await
        .expect("unknown user"));
    assert!(matches!(
        store.set_password_hash(bob.id, "plaintext").await,
        Err(StoreError::Invalid(_))
    ));
    // Debug output never shows the hash.
    assert!(!format!("{bob_after:?}").contains(new_hash));
}

pub(crate) async fn duplicate_login_is_a_conflict_ignoring_case(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    for dup in ["alice", "ALICE", "Alice"] {
        match store.create_user(&new_user(dup)).await {
            Err(StoreError::Conflict(m)) => assert!(m.contains(dup), "{m}"),
            other => panic!("{dup}: expected a conflict, got {other:?}"),
        }
    }
    // Beyond ASCII too, the same in both backends.
    create(&*store, "Zoë").await;
    assert!(matches!(
        store.create_user(&new_user("ZOË")).await,
        Err(StoreError::Conflict(_))
    ));
    let users = store.list_users(10, None).await.expect("list");
    let logins: Vec<&str> = users.iter().map(|u| u.login.as_str()).collect();
    assert_eq!(logins, ["alice", "Zoë"]);
    assert_eq!(users[0], alice);
}

pub(crate) async fn invalid_users_are_rejected(store: Arc<dyn Store>) {
    let cases = [
        NewUser {
            login: String::new(),
            ..new_user("x")
        },
        NewUser {
            login: " padded".into(),
            ..new_user("x")
        },
        NewUser {
            login: "tab\there".into(),
            ..new_user("x")
        },
        NewUser {
            login: "x".repeat(255),
            ..new_user("x")
        },
        NewUser {
            password_hash: "hunter2".into(),
            ..new_user("x")
        },
        NewUser {
            display_name: "a\0b".into(),
            ..new_user("x")
        },
        NewUser {
            roles: vec!["a\0".into()],
            ..new_user("x")
        },
        NewUser {
            extra_tokens: vec!["\0".into()],
            ..new_user("x")
        },
        NewUser {
            attributes: BTreeMap::from([("k\0".to_owned(), "v".to_owned())]),
            ..new_user("x")
        },
        NewUser {
            segment: Some("\0".into()),
            ..new_user("x")
        },
    ];
    for (i, u) in cases.iter().enumerate() {
        assert!(
            matches!(store.create_user(u).await, Err(StoreError::Invalid(_))),
            "case {i}: {u:?}"
        );
    }
    assert_eq!(store.list_users(10, None).await.expect("list"), vec![]);
    // A 254-character login is fine.
    create(&*store, &"x".repeat(254)).await;
}
