//! `FragmentCache::insert_or_keep`: an entry already cached under a key is kept, and so is
//! everything built on it; a plain `insert` replaces it and takes its dependents along.

use std::sync::Arc;
use std::time::Duration;

use tessera_fragments::cache::{ChannelKey, Deps, FragmentCache, StageKey, StageValue};

const KEEP: Duration = Duration::from_secs(3600);

fn rendered() -> StageKey {
    StageKey::Rendered {
        fragment: Arc::from("news"),
        definition: 1,
        source_version: 7,
        template_version: 1,
        channel: ChannelKey::Html,
        params: 0,
        children: 0,
        profile: 0,
        user: None,
    }
}

fn page(user: &str) -> StageKey {
    StageKey::Page {
        page: Arc::from("home"),
        definition: 1,
        layout_version: 1,
        channel: ChannelKey::Html,
        slots: 1,
        profile: 0,
        user: Some(Arc::from(user)),
    }
}

fn markup(s: &str) -> StageValue {
    StageValue::Markup(Arc::from(s))
}

#[test]
fn an_equal_stage_produced_twice_keeps_the_first_entry_and_what_was_built_on_it() {
    let cache = FragmentCache::new(1 << 30);
    let first = cache.insert(rendered(), markup("<ul>news</ul>"), &Deps::default(), KEEP);
    let on_first = Deps {
        entries: vec![first.version],
        ..Deps::default()
    };
    let alice = cache.insert(page("alice"), markup("<html>alice"), &on_first, KEEP);

    // A concurrent request that missed the same key and rendered the same markup.
    let second = cache.insert_or_keep(rendered(), markup("<ul>news</ul>"), &Deps::default(), KEEP);
    assert_eq!(second.version, first.version, "the cached entry is kept");
    cache.maintain();
    assert_eq!(
        cache.peek(&page("alice")).map(|e| e.version),
        Some(alice.version),
        "the page built on it stays"
    );

    // A plain insert replaces the entry, and the page built on the old one goes with it.
    let replaced = cache.insert(rendered(), markup("<ul>news</ul>"), &Deps::default(), KEEP);
    assert_ne!(replaced.version, first.version);
    cache.maintain();
    assert!(cache.peek(&page("alice")).is_none());
    assert_eq!(cache.graph_check().dangling, 0);
}
