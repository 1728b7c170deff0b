//! Registered descriptors: overlay, versions, snapshots, optimistic concurrency.

use std::sync::Arc;

use super::at;
use crate::{NewDescriptorVersion, OverlayDoc, Store, StoreError};

fn change(n: u64, overlay: Vec<OverlayDoc>) -> NewDescriptorVersion {
    NewDescriptorVersion {
        at: at(n),
        actor: format!("olga-{n}"),
        origin: "api".into(),
        reason: format!("reason {n} — ünïcode 'quoted'"),
        summary: format!("put fragment f{n}"),
        snapshot: format!(r#"{{"documents":[{{"kind":"fragment","name":"f{n}"}}]}}"#),
        overlay,
    }
}

fn doc(kind: &str, name: &str, body: Option<&str>) -> OverlayDoc {
    OverlayDoc {
        kind: kind.into(),
        name: name.into(),
        body: body.map(str::to_owned),
    }
}

pub(crate) async fn descriptor_versions_commit_and_list(store: Arc<dyn Store>) {
    let empty = store.registered_descriptors().await.expect("read");
    assert_eq!(empty.version, 0);
    assert!(empty.overlay.is_empty());

    let first = vec![
        doc("fragment", "fx", Some("<fragment id=\"fx\"/>")),
        doc("template", "fragments/fx.html", Some("{{ x }}")),
        doc("page", "markets", None),
    ];
    assert_eq!(
        store
            .commit_descriptors(0, &change(1, first.clone()))
            .await
            .expect("v1"),
        1
    );
    let set = store.registered_descriptors().await.expect("read");
    assert_eq!(set.version, 1);
    // Ordered by kind, then name.
    assert_eq!(
        set.overlay,
        vec![first[0].clone(), first[2].clone(), first[1].clone()]
    );

    // A commit replaces the overlay as a whole.
    let second = vec![doc(
        "fragment",
        "fx",
        Some("<fragment id=\"fx\" title=\"FX\"/>"),
    )];
    assert_eq!(
        store
            .commit_descriptors(1, &change(2, second.clone()))
            .await
            .expect("v2"),
        2
    );
    let set = store.registered_descriptors().await.expect("read");
    assert_eq!((set.version, set.overlay), (2, second));

    let versions = store.descriptor_versions(10, None).await.expect("list");
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(versions[1].actor, "olga-1");
    assert_eq!(versions[1].at, at(1));
    assert_eq!(versions[1].reason, "reason 1 — ünïcode 'quoted'");
    assert_eq!(versions[1].summary, "put fragment f1");
    assert_eq!(versions[1].origin, "api");
    let page = store.descriptor_versions(1, Some(2)).await.expect("page");
    assert_eq!(page.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1]);

    let snap = store.descriptor_snapshot(1).await.expect("snapshot");
    assert_eq!(snap.as_deref(), Some(change(1, vec![]).snapshot.as_str()));
    assert_eq!(store.descriptor_snapshot(7).await.expect("none"), None);
}

pub(crate) async fn stale_descriptor_commits_are_conflicts(store: Arc<dyn Store>) {
    store
        .commit_descriptors(0, &change(1, vec![]))
        .await
        .expect("v1");
    let e = store
        .commit_descriptors(0, &change(2, vec![doc("page", "p", Some("x"))]))
        .await
        .expect_err("stale");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = store
        .commit_descriptors(5, &change(2, vec![]))
        .await
        .expect_err("ahead");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Nothing of the refused commits was written.
    let set = store.registered_descriptors().await.expect("read");
    assert_eq!((set.version, set.overlay.len()), (1, 0));

    // Of concurrent commits on the same version exactly one lands.
    let tries = (0..8).map(|i| {
        let store = store.clone();
        async move {
            store
                .commit_descriptors(1, &change(10 + i, vec![doc("page", "p", Some("x"))]))
                .await
        }
    });
    let results = futures::future::join_all(tries).await;
    let landed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(landed, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(2) | Err(StoreError::Conflict(_)))));
}

pub(crate) async fn invalid_descriptor_commits_are_rejected(store: Arc<dyn Store>) {
    let mut c = change(1, vec![doc("fragment", "f", Some("a\0b"))]);
    assert!(matches!(
        store.commit_descriptors(0, &c).await,
        Err(StoreError::Invalid(_))
    ));
    c.overlay.clear();
    c.snapshot = "not json".into();
    assert!(matches!(
        store.commit_descriptors(0, &c).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.registered_descriptors().await.expect("read").version,
        0
    );
}
