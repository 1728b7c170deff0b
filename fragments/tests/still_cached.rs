//! `FragmentCache::still_cached`: an entry held from an earlier lookup answers for the
//! cache, without a lookup, exactly while a lookup would still find it. Every way an
//! entry leaves — invalidation (and what depends on it), replacement, eviction for size,
//! expiry, `clear` — ends it.

use std::sync::Arc;
use std::time::Duration;

use tessera_fragments::cache::{
    Deps, Entry, FragmentCache, Mode, StageKey, StageValue, Targets, TOUCH_EVERY,
};

const KEEP: Duration = Duration::from_secs(3600);

fn key(i: usize) -> StageKey {
    StageKey::Source {
        service: "s".into(),
        path: format!("/item/{i}").into(),
        user: None,
    }
}

fn markup(s: &str) -> StageValue {
    StageValue::Markup(Arc::from(s))
}

fn on_object(o: &str) -> Deps {
    Deps {
        objects: vec![Arc::from(o)],
        ..Deps::default()
    }
}

/// What a lookup of `key` answers now: the same entry or not.
fn lookup_finds(cache: &FragmentCache, key: &StageKey, entry: &Entry) -> bool {
    cache.peek(key).is_some_and(|e| e.version == entry.version)
}

/// Looked up and held, with the epoch of the lookup.
fn held(cache: &FragmentCache, key: &StageKey) -> (Arc<Entry>, u64) {
    let epoch = cache.epoch();
    (cache.get(key).expect("cached"), epoch)
}

#[tokio::test]
async fn an_invalidated_entry_and_what_depends_on_it_are_no_longer_cached() {
    let cache = FragmentCache::new(1 << 30);
    let source = cache.insert(key(1), markup("a"), &on_object("q"), KEEP);
    cache.insert(
        key(2),
        markup("b"),
        &Deps {
            entries: vec![source.version],
            ..Deps::default()
        },
        KEEP,
    );
    cache.insert(key(3), markup("c"), &on_object("other"), KEEP);
    let (one, e1) = held(&cache, &key(1));
    let (two, e2) = held(&cache, &key(2));
    let (three, e3) = held(&cache, &key(3));
    let now = cache.now_ms();
    assert!(cache.still_cached(&key(1), &one, e1, now));
    assert!(cache.still_cached(&key(2), &two, e2, now));

    let targets = Targets {
        objects: vec!["q".into()],
        ..Targets::default()
    };
    cache.invalidate(&targets, Mode::Hard, false, |_| false);
    assert!(!cache.still_cached(&key(1), &one, e1, now));
    assert!(
        !cache.still_cached(&key(2), &two, e2, now),
        "the dependent too"
    );
    assert!(
        cache.still_cached(&key(3), &three, e3, now),
        "the unrelated stays"
    );
}

#[tokio::test]
async fn a_replaced_entry_is_no_longer_cached_and_its_successor_is() {
    let cache = FragmentCache::new(1 << 30);
    cache.insert(key(1), markup("old"), &Deps::default(), KEEP);
    let (old, epoch) = held(&cache, &key(1));
    cache.insert(key(1), markup("new"), &Deps::default(), KEEP);
    let now = cache.now_ms();
    assert!(!cache.still_cached(&key(1), &old, epoch, now));
    let (new, epoch) = held(&cache, &key(1));
    assert!(cache.still_cached(&key(1), &new, epoch, now));
}

#[tokio::test]
async fn an_entry_found_before_a_clear_is_not_taken_for_one_found_after() {
    let cache = FragmentCache::new(1 << 30);
    cache.insert(key(1), markup("a"), &Deps::default(), KEEP);
    let (one, epoch) = held(&cache, &key(1));
    let now = cache.now_ms();
    assert!(cache.still_cached(&key(1), &one, epoch, now));
    // The epoch alone decides here: the entry itself is live.
    assert!(!cache.still_cached(&key(1), &one, epoch.wrapping_sub(1), now));
    assert!(!cache.still_cached(&key(1), &one, epoch + 1, now));
}

#[tokio::test]
async fn a_clear_ends_every_held_entry() {
    let cache = FragmentCache::new(1 << 30);
    cache.insert(key(1), markup("a"), &Deps::default(), KEEP);
    let (one, epoch) = held(&cache, &key(1));
    cache.clear();
    assert!(!cache.still_cached(&key(1), &one, epoch, cache.now_ms()));
    // Stored again after the clear: current under the new epoch.
    cache.insert(key(1), markup("a"), &Deps::default(), KEEP);
    let (again, epoch) = held(&cache, &key(1));
    assert!(cache.still_cached(&key(1), &again, epoch, cache.now_ms()));
}

/// Under tokio's paused clock, which moka's own clock does not follow: this checks the
/// entry's retention as the cache's clock counts it (`Entry::expires_ms`, counted from
/// before moka's insert, so never after moka's own expiry on the same clock), not that
/// moka has dropped it.
#[tokio::test(start_paused = true)]
async fn an_entry_past_its_retention_is_no_longer_cached() {
    let cache = FragmentCache::new(1 << 30);
    cache.insert(
        key(1),
        markup("a"),
        &Deps::default(),
        Duration::from_secs(60),
    );
    let (one, epoch) = held(&cache, &key(1));
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(cache.still_cached(&key(1), &one, epoch, cache.now_ms()));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!cache.still_cached(&key(1), &one, epoch, cache.now_ms()));
}

#[tokio::test]
async fn entries_evicted_for_size_are_no_longer_cached_and_kept_ones_are() {
    // Room for a few dozen of these entries: most of the 2,000 are evicted.
    let cache = FragmentCache::new(64 * 1024);
    let body = "x".repeat(512);
    let mut all = Vec::new();
    for i in 0..2_000 {
        let e = cache.insert(key(i), markup(&body), &Deps::default(), KEEP);
        all.push((key(i), e));
    }
    cache.maintain();
    let now = cache.now_ms();
    let (mut kept, mut evicted) = (0, 0);
    for (k, e) in &all {
        let cached = lookup_finds(&cache, k, e);
        // Epoch 0: no clear happened.
        assert_eq!(
            cache.still_cached(k, e, 0, now),
            cached,
            "{k:?}: cached {cached}"
        );
        if cached {
            kept += 1;
        } else {
            evicted += 1;
        }
    }
    assert!(
        kept > 0 && evicted > 1_000,
        "kept {kept}, evicted {evicted}"
    );
}

#[tokio::test]
async fn each_answer_counts_a_hit_as_the_lookup_would() {
    let cache = FragmentCache::new(1 << 30);
    cache.insert(key(1), markup("a"), &Deps::default(), KEEP);
    let (one, epoch) = held(&cache, &key(1));
    let hits = || cache.stats.hits.get();
    let before = hits();
    let calls = 3 * u64::from(TOUCH_EVERY);
    for _ in 0..calls {
        assert!(cache.still_cached(&key(1), &one, epoch, cache.now_ms()));
    }
    assert_eq!(hits() - before, calls, "one hit per answer");
}
