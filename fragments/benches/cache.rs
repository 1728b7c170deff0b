//! Criterion microbenchmarks of the fragment cache's hot paths (issue #4, issue #9):
//!
//! - `invalidate/cache_size/N`: hard-invalidating one object with 10 dependents in a
//!   cache of N entries (10,000 / 100,000 / 1,000,000). The time must not grow with N.
//! - `invalidate/dependents/D`: the same with D dependents (1 / 10 / 100 / 1000) in a
//!   cache of 100,000 entries. The time should grow with D.
//! - `lookup/hit`: `FragmentCache::get` of a present key in a cache of 100,000.
//! - `key/rendered`: deriving a rendered stage key (parameter hash, key construction)
//!   and hashing it the way a hash map does.
//! - `fan_in/N`: inserting one more user's page, then invalidating it, when N users' pages
//!   already depend on the same shared entries (a page node, a layout template, a shared
//!   fragment's rendered entry) — what warming and evicting per-user pages costs. It
//!   must not grow with N.
//!
//! Each big cache is built once per size; each iteration re-inserts the dependents in
//! `iter_batched`'s setup (not timed) and times only the invalidation.
//!
//! Run: `cargo bench -p tessera-fragments` (about two minutes, most of it building the
//! 1,000,000-entry cache; its memory use is not measured).

use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use tessera_fragments::cache::{
    ChannelKey, Deps, FragmentCache, KeyHasher, Mode, Node, StageKey, StageValue, Targets,
};

/// Kept for the whole run: nothing expires while measuring.
const KEEP: Duration = Duration::from_secs(3600);

/// Objects the filler entries depend on, so the graph has object nodes with many
/// edges, as a real portal's would (`news`, `quotes`, …).
const FILLER_OBJECTS: usize = 1000;

/// The object invalidated by the benchmarks; only the dependents depend on it.
const TARGET: &str = "bench-target";

/// A cache holding `n` unrelated source entries, each depending on one of
/// [`FILLER_OBJECTS`] objects.
fn filled(n: usize) -> FragmentCache {
    // Bounded far above what the entries weigh: no eviction during the benchmark.
    let cache = FragmentCache::new(1 << 40);
    let value = StageValue::Markup(Arc::from("<p>cached</p>"));
    let service: Arc<str> = Arc::from("svc");
    let objects: Vec<Arc<str>> = (0..FILLER_OBJECTS)
        .map(|i| Arc::from(format!("obj:{i}").as_str()))
        .collect();
    for i in 0..n {
        let key = StageKey::Source {
            service: service.clone(),
            path: Arc::from(format!("/filler/{i}").as_str()),
            user: None,
        };
        let deps = Deps {
            objects: vec![objects[i % FILLER_OBJECTS].clone()],
            ..Deps::default()
        };
        cache.insert(key, value.clone(), &deps, KEEP);
    }
    cache.maintain();
    cache
}

/// Inserts `d` entries depending on [`TARGET`] (the same keys every time).
fn add_dependents(cache: &FragmentCache, d: usize) {
    let value = StageValue::Markup(Arc::from("<p>dependent</p>"));
    let deps = Deps {
        objects: vec![Arc::from(TARGET)],
        ..Deps::default()
    };
    for j in 0..d {
        let key = StageKey::Source {
            service: Arc::from("svc"),
            path: Arc::from(format!("/dependent/{j}").as_str()),
            user: None,
        };
        cache.insert(key, value.clone(), &deps, KEEP);
    }
}

fn targets() -> Targets {
    Targets {
        objects: vec![TARGET.to_owned()],
        ..Targets::default()
    }
}

/// Times hard invalidations of [`TARGET`] with `d` dependents in `cache`.
fn bench_invalidation(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    cache: &FragmentCache,
    d: usize,
) {
    let targets = targets();
    // The setup really does what the benchmark claims: d entries affected, all gone.
    add_dependents(cache, d);
    let (impact, _) = cache.invalidate(&targets, Mode::Hard, false, |_| false);
    assert_eq!(impact.entries, d, "every dependent is invalidated");
    assert_eq!(cache.dependents(&Node::Object(TARGET.into())).len(), 0);
    group.bench_function(id, |b| {
        b.iter_batched(
            || add_dependents(cache, d),
            |()| cache.invalidate(&targets, Mode::Hard, false, |_| false),
            // One setup per invalidation: a batch of setups first would leave every
            // invalidation but the first with nothing to do.
            BatchSize::PerIteration,
        );
    });
}

fn invalidation_by_cache_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("invalidate/cache_size");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for n in [10_000, 100_000, 1_000_000] {
        let cache = filled(n);
        bench_invalidation(&mut group, BenchmarkId::from_parameter(n), &cache, 10);
        // The cache is dropped before the next size is built.
    }
    group.finish();
}

fn invalidation_by_dependents(c: &mut Criterion) {
    let mut group = c.benchmark_group("invalidate/dependents");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let cache = filled(100_000);
    for d in [1, 10, 100, 1000] {
        bench_invalidation(&mut group, BenchmarkId::from_parameter(d), &cache, d);
    }
    group.finish();
}

/// A rendered stage key as the fragment layer derives it: the parameter values hashed,
/// the key built from the fragment id and versions.
fn rendered_key(fragment: &str, source_version: u64, params: &[(&str, &str)]) -> StageKey {
    let mut h = KeyHasher::default();
    for (name, value) in params {
        h.bytes(name.as_bytes()).bytes(value.as_bytes());
    }
    StageKey::Rendered {
        fragment: Arc::from(fragment),
        definition: 1,
        source_version,
        template_version: 1,
        channel: ChannelKey::Html,
        params: h.finish(),
        children: 0,
        profile: 0,
        user: None,
    }
}

fn lookup_and_keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2));
    let cache = filled(100_000);
    let key = rendered_key("news", 42, &[("count", "10"), ("region", "ch")]);
    cache.insert(
        key.clone(),
        StageValue::Markup(Arc::from("<ul><li>cached</li></ul>")),
        &Deps::default(),
        KEEP,
    );
    assert!(cache.get(&key).is_some(), "the key is present");
    group.bench_function("lookup/hit", |b| {
        b.iter(|| cache.get(black_box(&key)));
    });
    let hasher = std::collections::hash_map::RandomState::new();
    group.bench_function("key/rendered", |b| {
        b.iter(|| {
            let key = rendered_key(
                black_box("news"),
                black_box(42),
                black_box(&[("count", "10"), ("region", "ch")]),
            );
            hasher.hash_one(&key)
        });
    });
    group.finish();
}

/// A per-user page key.
fn page_key(user: usize) -> StageKey {
    StageKey::Page {
        page: Arc::from("home"),
        definition: 1,
        layout_version: 1,
        channel: ChannelKey::Html,
        slots: 1,
        profile: 0,
        user: Some(Arc::from(format!("user{user}").as_str())),
    }
}

fn fan_in(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan_in");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2));
    let markup = StageValue::Markup(Arc::from("<html>page</html>"));
    for n in [1_000, 100_000] {
        let cache = FragmentCache::new(1 << 40);
        let shared = cache.insert(
            rendered_key("news", 1, &[]),
            StageValue::Markup(Arc::from("<ul>shared</ul>")),
            &Deps::default(),
            KEEP,
        );
        let deps = Deps {
            entries: vec![shared.version],
            page: Some(Arc::from("home")),
            templates: vec![Arc::from("layouts/home.html")],
            ..Deps::default()
        };
        for u in 0..n {
            cache.insert(page_key(u), markup.clone(), &deps, KEEP);
        }
        cache.maintain();
        let extra = page_key(n);
        let extra_deps = Deps {
            user: Some(Arc::from("extra")),
            ..deps.clone()
        };
        let extra_user = Targets {
            users: vec!["extra".to_owned()],
            ..Targets::default()
        };
        let pages = cache.dependents(&Node::Page(Arc::from("home"))).len();
        assert_eq!(pages, n, "{n} pages hang off the shared nodes");
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                cache.insert(extra.clone(), markup.clone(), &extra_deps, KEEP);
                // Out again (by its user), its edges to the shared nodes with it.
                let (impact, _) = cache.invalidate(&extra_user, Mode::Hard, false, |_| false);
                debug_assert_eq!(impact.entries, 1);
                impact
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    invalidation_by_cache_size,
    invalidation_by_dependents,
    lookup_and_keys,
    fan_in
);
criterion_main!(benches);
