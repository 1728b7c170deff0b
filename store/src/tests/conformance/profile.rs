//! Conformance: profile values and page customizations.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::at;
use super::users::create;
use crate::{CustomSlot, Customization, Store, StoreError, MAX_CUSTOMIZATION_BYTES};

fn changes(items: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
        .collect()
}

fn values(items: &[(&str, &str)]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) async fn profile_set_and_delete_in_one_call(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    let bob = create(&*store, "bob").await;
    assert_eq!(
        store.profile_values(alice.id).await.expect("values"),
        values(&[])
    );

    store
        .set_profile_values(
            alice.id,
            &changes(&[
                ("home.layout", Some("two-columns")),
                ("fragment.news.topics", Some("tech,markets")),
                ("theme.color", Some("#1a2b3c")),
                ("never.set", None), // deleting what is not there is fine
            ]),
        )
        .await
        .expect("set");
    store
        .set_profile_values(bob.id, &changes(&[("theme.color", Some("dark"))]))
        .await
        .expect("set bob");

    // One call sets, replaces and deletes.
    store
        .set_profile_values(
            alice.id,
            &changes(&[
                ("home.layout", None),
                ("theme.color", Some("l'été \"ünï\" 😀")),
                ("greeting.name_style", Some("")),
            ]),
        )
        .await
        .expect("set and delete");
    assert_eq!(
        store.profile_values(alice.id).await.expect("values"),
        values(&[
            ("fragment.news.topics", "tech,markets"),
            ("greeting.name_style", ""),
            ("theme.color", "l'été \"ünï\" 😀"),
        ])
    );
    // Other users are untouched.
    assert_eq!(
        store.profile_values(bob.id).await.expect("values"),
        values(&[("theme.color", "dark")])
    );
    store
        .set_profile_values(alice.id, &BTreeMap::new())
        .await
        .expect("empty change");
    assert_eq!(
        store
            .profile_values(bob.id + 100)
            .await
            .expect("unknown user"),
        values(&[])
    );
}

pub(crate) async fn invalid_profile_values_are_rejected_whole(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    store
        .set_profile_values(alice.id, &changes(&[("theme.color", Some("blue"))]))
        .await
        .expect("set");
    let long_name = "a".repeat(201);
    let long_value = "v".repeat(4097);
    let bad_changes = [
        changes(&[("Theme.Color", Some("x"))]),
        changes(&[("", Some("x"))]),
        changes(&[("a b", None)]),
        changes(&[("thème", Some("x"))]),
        changes(&[("a/b", Some("x"))]),
        changes(&[(long_name.as_str(), Some("x"))]),
        changes(&[("big", Some(long_value.as_str()))]),
        changes(&[("nul", Some("a\0"))]),
    ];
    for bad in &bad_changes {
        // Each bad entry comes with good ones: none of them may land.
        let mut all = bad.clone();
        all.insert("theme.color".into(), None);
        all.insert("zz.new".into(), Some("x".into()));
        assert!(
            matches!(
                store.set_profile_values(alice.id, &all).await,
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        store.profile_values(alice.id).await.expect("values"),
        values(&[("theme.color", "blue")])
    );
    // The limits themselves are allowed.
    let max_name = "a".repeat(200);
    let max_value = "é".repeat(2048); // 4096 bytes
    store
        .set_profile_values(
            alice.id,
            &changes(&[(max_name.as_str(), Some(max_value.as_str()))]),
        )
        .await
        .expect("limits");
    assert!(matches!(
        store
            .set_profile_values(alice.id + 100, &changes(&[("a", Some("b"))]))
            .await,
        Err(StoreError::Invalid(_))
    ));
}

/// A customization with unicode, quotes and JSON-looking text in its parameters.
pub(crate) fn sample_customization(ms: u64) -> Customization {
    Customization {
        slots: vec![
            CustomSlot {
                region: "top".into(),
                fragment: "greeting".into(),
                minimized: false,
                params: BTreeMap::new(),
            },
            CustomSlot {
                region: "main".into(),
                fragment: "news.headlines".into(),
                minimized: true,
                params: BTreeMap::from([
                    ("topics".to_owned(), "tech,markets".to_owned()),
                    (
                        "titre".to_owned(),
                        "Actualités « du jour » 日本語 😀".to_owned(),
                    ),
                    ("json".to_owned(), r#"{"a": [1, "\"b\""]} \ '"#.to_owned()),
                ]),
            },
            CustomSlot {
                region: "main".into(),
                fragment: "quotes.watchlist".into(),
                minimized: false,
                params: BTreeMap::from([("symbols".to_owned(), "ABB,NESN,ÜBS".to_owned())]),
            },
        ],
        updated_at: at(ms),
    }
}

pub(crate) async fn customization_round_trip(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    assert_eq!(
        store.customization(alice.id, "home").await.expect("get"),
        None
    );

    let c = sample_customization(7);
    store
        .put_customization(alice.id, "home", &c)
        .await
        .expect("put");
    assert_eq!(
        store.customization(alice.id, "home").await.expect("get"),
        Some(c.clone())
    );
    // Per page.
    assert_eq!(
        store
            .customization(alice.id, "research")
            .await
            .expect("get"),
        None
    );

    // Replace: order of slots is kept as given.
    let mut c2 = sample_customization(8);
    c2.slots.reverse();
    c2.slots.truncate(2);
    store
        .put_customization(alice.id, "home", &c2)
        .await
        .expect("replace");
    assert_eq!(
        store.customization(alice.id, "home").await.expect("get"),
        Some(c2)
    );

    // An empty layout is a customization too (the user removed everything).
    let empty = Customization {
        slots: vec![],
        updated_at: at(9),
    };
    store
        .put_customization(alice.id, "research", &empty)
        .await
        .expect("put empty");
    assert_eq!(
        store
            .customization(alice.id, "research")
            .await
            .expect("get"),
        Some(empty)
    );

    assert!(store
        .delete_customization(alice.id, "home")
        .await
        .expect("delete"));
    assert!(!store
        .delete_customization(alice.id, "home")
        .await
        .expect("again"));
    assert_eq!(
        store.customization(alice.id, "home").await.expect("get"),
        None
    );
    assert!(store
        .customization(alice.id, "research")
        .await
        .expect("get")
        .is_some());
}

pub(crate) async fn invalid_customizations_are_rejected(store: Arc<dyn Store>) {
    let alice = create(&*store, "alice").await;
    let c = sample_customization(1);
    let mut nul = c.clone();
    nul.slots[1].params.insert("k".into(), "\0".into());
    let mut huge = c.clone();
    huge.slots[0]
        .params
        .insert("blob".into(), "x".repeat(MAX_CUSTOMIZATION_BYTES));
    for (page, bad) in [("home", &nul), ("home", &huge), ("", &c), ("a\0", &c)] {
        assert!(
            matches!(
                store.put_customization(alice.id, page, bad).await,
                Err(StoreError::Invalid(_))
            ),
            "{page:?}"
        );
    }
    assert!(matches!(
        store.put_customization(alice.id + 100, "home", &c).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.customization(alice.id, "home").await.expect("get"),
        None
    );
    assert_eq!(store.customization(alice.id, "").await.expect("get"), None);
}

pub(crate) async fn concurrent_customizations_all_land(store: Arc<dyn Store>) {
    const USERS: usize = 24;
    let mut ids = Vec::new();
    for i in 0..USERS {
        ids.push(create(&*store, &format!("user{i}")).await.id);
    }
    let handles: Vec<_> = ids
        .iter()
        .map(|&id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut c = sample_customization(10);
                c.slots[0].params.insert("owner".into(), id.to_string());
                store.put_customization(id, "home", &c).await?;
                // A second write per user, racing the others' first ones.
                c.slots[0].minimized = true;
                store.put_customization(id, "home", &c).await
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task panicked").expect("put_customization");
    }
    let mut owners = HashSet::new();
    for &id in &ids {
        let c = store
            .customization(id, "home")
            .await
            .expect("get")
            .expect("customization landed");
        assert!(c.slots[0].minimized, "second write of {id} landed");
        assert_eq!(c.slots[0].params.get("owner"), Some(&id.to_string()));
        owners.insert(id);
    }
    assert_eq!(owners.len(), USERS);
}
