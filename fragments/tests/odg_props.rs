//! Property tests of the object dependency graph over random portals: objects, sources,
//! per-user and shared rendered entries, pages.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tessera_fragments::cache::{
    ChannelKey, Deps, FragmentCache, Mode, StageKey, StageValue, Targets,
};

#[derive(Debug, Clone)]
struct World {
    /// Per fragment: the objects its source depends on, and whether it is per user.
    fragments: Vec<(BTreeSet<u8>, bool)>,
    users: u8,
    /// Per page: its fragments.
    pages: Vec<BTreeSet<u8>>,
    /// The object to invalidate.
    target: u8,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(
            (prop::collection::btree_set(0u8..6, 0..3), any::<bool>()),
            1..8,
        ),
        1u8..4,
        prop::collection::vec(prop::collection::btree_set(0u8..8, 1..5), 1..4),
        0u8..6,
    )
        .prop_map(|(fragments, users, pages, target)| {
            let n = fragments.len() as u8;
            let pages = pages
                .into_iter()
                .map(|p| p.into_iter().map(|f| f % n).collect())
                .collect();
            World {
                fragments,
                users,
                pages,
                target,
            }
        })
}

fn markup(s: &str) -> StageValue {
    StageValue::Markup(Arc::from(s))
}

/// Builds the cache for a world; returns every entry's key with the objects it depends
/// on (the ground truth the graph must agree with).
fn build(w: &World, cache: &FragmentCache) -> Vec<(StageKey, u64, BTreeSet<u8>)> {
    let keep = Duration::from_secs(3600);
    let mut all = Vec::new();
    let mut rendered: HashMap<(u8, Option<u8>), (u64, BTreeSet<u8>)> = HashMap::new();
    for (fi, (objects, per_user)) in w.fragments.iter().enumerate() {
        let fi = fi as u8;
        let viewers: Vec<Option<u8>> = if *per_user {
            (0..w.users).map(Some).collect()
        } else {
            vec![None]
        };
        for u in viewers {
            let user: Option<Arc<str>> = u.map(|u| Arc::from(format!("u{u}").as_str()));
            let key = StageKey::Source {
                service: "s".into(),
                path: format!("/f{fi}/{u:?}").into(),
                user: user.clone(),
            };
            let deps = Deps {
                objects: objects
                    .iter()
                    .map(|o| Arc::from(format!("o{o}").as_str()))
                    .collect(),
                fragment: Some(format!("f{fi}").into()),
                user: user.clone(),
                ..Deps::default()
            };
            let source = cache.insert(key.clone(), markup("data"), &deps, keep);
            all.push((key, source.version, objects.clone()));
            let rkey = StageKey::Rendered {
                fragment: format!("f{fi}").into(),
                definition: 1,
                source_version: source.version,
                template_version: 1,
                channel: ChannelKey::Html,
                params: 0,
                children: 0,
                profile: 0,
                user: user.clone(),
            };
            let rdeps = Deps {
                entries: vec![source.version],
                fragment: Some(format!("f{fi}").into()),
                user,
                templates: vec!["t".into()],
                ..Deps::default()
            };
            let r = cache.insert(rkey.clone(), markup("<p>"), &rdeps, keep);
            all.push((rkey, r.version, objects.clone()));
            rendered.insert((fi, u), (r.version, objects.clone()));
        }
    }
    for (pi, page) in w.pages.iter().enumerate() {
        for u in 0..w.users {
            let mut deps = Deps {
                page: Some(format!("p{pi}").into()),
                ..Deps::default()
            };
            let mut objects = BTreeSet::new();
            for f in page {
                let (v, o) = rendered
                    .get(&(*f, Some(u)))
                    .or_else(|| rendered.get(&(*f, None)))
                    .expect("rendered exists");
                deps.entries.push(*v);
                objects.extend(o.iter().copied());
            }
            let key = StageKey::Page {
                page: format!("p{pi}").into(),
                definition: 1,
                layout_version: 1,
                channel: ChannelKey::Html,
                slots: u64::from(u),
                profile: 0,
                user: Some(format!("u{u}").into()),
            };
            let e = cache.insert(key.clone(), markup("<html>"), &deps, keep);
            all.push((key, e.version, objects));
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn invalidating_an_object_removes_exactly_its_dependents(w in world()) {
        let cache = FragmentCache::new(1 << 30);
        let all = build(&w, &cache);
        // Held as a memo of a lookup holds them (`FragmentCache::still_cached`).
        let held: Vec<_> = all.iter().map(|(key, _, _)| cache.peek(key).expect("cached")).collect();
        let targets = Targets { objects: vec![format!("o{}", w.target)], ..Targets::default() };
        let (impact, _) = cache.invalidate(&targets, Mode::Hard, false, |_| false);
        let mut expected_gone = 0;
        for ((key, version, objects), entry) in all.iter().zip(&held) {
            let cached = cache.peek(key).is_some_and(|e| e.version == *version);
            prop_assert_eq!(
                cache.still_cached(key, entry, 0, cache.now_ms()),
                cached,
                "{:?}: a held entry answers for the cache exactly while it is cached",
                key
            );
            if objects.contains(&w.target) {
                expected_gone += 1;
                prop_assert!(!cached, "{key:?} depends on o{} but is still cached", w.target);
            } else {
                prop_assert!(cached, "{key:?} does not depend on o{} but was removed", w.target);
            }
        }
        prop_assert_eq!(impact.entries, expected_gone);
        let check = cache.graph_check();
        prop_assert_eq!(check.dangling, 0);
        prop_assert_eq!(check.entries_not_cached, 0);
        prop_assert_eq!(check.entries, all.len() - expected_gone);
    }

    #[test]
    fn soft_invalidation_marks_without_removing(w in world()) {
        let cache = FragmentCache::new(1 << 30);
        let all = build(&w, &cache);
        let targets = Targets { objects: vec![format!("o{}", w.target)], ..Targets::default() };
        cache.invalidate(&targets, Mode::Soft, false, |_| false);
        for (key, version, objects) in &all {
            let e = cache.peek(key).expect("soft invalidation keeps every entry");
            prop_assert_eq!(e.version, *version);
            prop_assert_eq!(e.is_stale(), objects.contains(&w.target));
        }
    }

    #[test]
    fn a_dry_run_changes_nothing(w in world()) {
        let cache = FragmentCache::new(1 << 30);
        let all = build(&w, &cache);
        let targets = Targets { objects: vec![format!("o{}", w.target)], ..Targets::default() };
        let (dry, _) = cache.invalidate(&targets, Mode::Hard, true, |_| false);
        for (key, version, _) in &all {
            prop_assert!(cache.peek(key).is_some_and(|e| e.version == *version && !e.is_stale()));
        }
        let (real, _) = cache.invalidate(&targets, Mode::Hard, false, |_| false);
        prop_assert_eq!(dry, real);
    }

    #[test]
    fn under_memory_pressure_the_graph_never_holds_evicted_entries(w in world()) {
        // Room for a handful of entries only: most inserts evict something.
        let cache = FragmentCache::new(4 * 1024);
        let _ = build(&w, &cache);
        let _ = build(&w, &cache);
        let check = cache.graph_check();
        prop_assert_eq!(check.entries_not_cached, 0);
        prop_assert_eq!(check.dangling, 0);
        prop_assert!(cache.snapshot().bytes <= 4 * 1024);
    }
}

#[test]
fn invalidation_time_scales_with_dependents_not_cache_size() {
    // Counting, not timing: the walk visits the object, its 10 dependents and nothing else.
    let cache = FragmentCache::new(1 << 34);
    let keep = Duration::from_secs(3600);
    for i in 0..20_000u32 {
        let key = StageKey::Source {
            service: "s".into(),
            path: format!("/other/{i}").into(),
            user: None,
        };
        cache.insert(
            key,
            markup("x"),
            &Deps {
                objects: vec![format!("other:{i}").into()],
                ..Deps::default()
            },
            keep,
        );
    }
    for i in 0..10u32 {
        let key = StageKey::Source {
            service: "s".into(),
            path: format!("/news/{i}").into(),
            user: None,
        };
        cache.insert(
            key,
            markup("x"),
            &Deps {
                objects: vec!["news".into()],
                ..Deps::default()
            },
            keep,
        );
    }
    let reached = cache.dependents(&tessera_fragments::cache::Node::Object("news".into()));
    assert_eq!(reached.len(), 10);
    let (impact, _) = cache.invalidate(
        &Targets {
            objects: vec!["news".into()],
            ..Targets::default()
        },
        Mode::Hard,
        false,
        |_| false,
    );
    assert_eq!(impact.entries, 10);
    assert_eq!(cache.graph_check().entries, 20_000);
}
