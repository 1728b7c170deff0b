//! `FragmentCache::clear`: what a node does when it cannot prove its entries fresh.

use std::sync::Arc;
use std::time::Duration;

use tessera_fragments::cache::{Deps, FragmentCache, GraphCheck, StageKey, StageValue};

fn source(i: usize) -> StageKey {
    StageKey::Source {
        service: "s".into(),
        path: format!("/item/{i}").into(),
        user: None,
    }
}

fn derived(i: usize) -> StageKey {
    StageKey::Source {
        service: "derived".into(),
        path: format!("/item/{i}").into(),
        user: None,
    }
}

#[test]
fn clear_drops_every_entry_and_the_whole_graph_and_the_cache_keeps_working() {
    let cache = FragmentCache::new(64 * 1024 * 1024);
    let keep = Duration::from_secs(3600);
    let value = || StageValue::Markup(Arc::from("<p>"));
    for i in 0..50 {
        let s = cache.insert(
            source(i),
            value(),
            &Deps {
                objects: vec![Arc::from(format!("o{}", i % 7).as_str())],
                fragment: Some(format!("f{}", i % 5).into()),
                ..Deps::default()
            },
            keep,
        );
        cache.insert(
            derived(i),
            value(),
            &Deps {
                entries: vec![s.version],
                ..Deps::default()
            },
            keep,
        );
    }
    assert_eq!(cache.graph_check().entries, 100);

    assert_eq!(cache.clear(), 100);

    for i in 0..50 {
        assert!(cache.peek(&source(i)).is_none(), "source {i} survived");
        assert!(cache.peek(&derived(i)).is_none(), "derived {i} survived");
    }
    assert_eq!(
        cache.graph_check(),
        GraphCheck::default(),
        "no node is left"
    );
    let snap = cache.snapshot();
    assert_eq!((snap.entries, snap.invalidated_entries), (0, 100));

    // Entries inserted afterwards are cached and reachable as usual.
    cache.insert(source(1), value(), &Deps::default(), keep);
    assert!(cache.peek(&source(1)).is_some());
    assert_eq!(cache.graph_check().entries, 1);
    assert_eq!(cache.clear(), 1);
    assert_eq!(cache.clear(), 0, "clearing an empty cache drops nothing");
}
