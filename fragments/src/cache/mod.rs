//! The fragment cache: every stage of every fragment chain (source, model, rendered,
//! page), bounded in bytes, with the object dependency graph that says what each entry
//! depends on.
//!
//! - Lookups are one moka `get` (no lock on the graph): the hot path of a cached page.
//! - Inserts add the entry's node and edges to the graph, then the entry to moka.
//! - Removals of any cause (size, expiry, replacement, invalidation) leave the graph and
//!   take their dependents with them, so a derived entry never outlives what it was
//!   derived from and the graph never outgrows the cache.
//!
//! Layout: `key` (stage keys), `entry` (values and their small mutable state), `weigh`
//! (what an entry costs in memory: the weigher behind `max-bytes`), `graph`
//! (the ODG), this module (the cache and invalidation).

pub mod entry;
pub mod graph;
pub mod key;
pub mod weigh;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::sync::Cache;
use serde::Serialize;
use tessera_service_access::sharded::ShardedCounter;
use tokio::time::Instant;

pub use entry::{Entry, PageValue, SourceData, StageValue};
pub use graph::{Deps, Graph, Node};
pub use key::{ChannelKey, KeyHasher, StageKey};

/// What to invalidate: entries reachable from any of these nodes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub objects: Vec<String>,
    #[serde(default)]
    pub fragments: Vec<String>,
    #[serde(default)]
    pub pages: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub templates: Vec<String>,
}

impl Targets {
    pub fn nodes(&self) -> Vec<Node> {
        let mut out = Vec::new();
        out.extend(self.objects.iter().map(|o| Node::Object(o.as_str().into())));
        out.extend(
            self.fragments
                .iter()
                .map(|o| Node::Fragment(o.as_str().into())),
        );
        out.extend(self.pages.iter().map(|o| Node::Page(o.as_str().into())));
        out.extend(self.users.iter().map(|o| Node::User(o.as_str().into())));
        out.extend(
            self.templates
                .iter()
                .map(|o| Node::Template(o.as_str().into())),
        );
        out
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
            && self.fragments.is_empty()
            && self.pages.is_empty()
            && self.users.is_empty()
            && self.templates.is_empty()
    }
}

/// How to invalidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Remove the entries (sources whose fragments say `on-invalidate="refresh"` are
    /// refreshed in the background instead).
    #[default]
    Hard,
    /// Mark them stale: no longer fresh, still usable under stale-if-error.
    Soft,
    /// Keep serving them while every affected source is fetched again.
    Refresh,
}

/// What an invalidation affects (or would affect, for a dry run).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Impact {
    /// Cached entries affected.
    pub entries: usize,
    pub by_stage: BTreeMap<&'static str, usize>,
    /// Affected entries per fragment (model and rendered stages).
    pub fragments: BTreeMap<String, usize>,
    /// Affected assembled pages per page id.
    pub pages: BTreeMap<String, usize>,
    /// Distinct users with affected per-user entries.
    pub users: usize,
    /// Sources being fetched again in the background.
    pub refreshing: usize,
}

#[derive(Debug, Default)]
pub struct CacheStats {
    /// Counted on every cache hit, from every core: kept per thread
    /// (`tessera_service_access::sharded`).
    pub hits: ShardedCounter,
    pub misses: AtomicU64,
    pub inserts: AtomicU64,
    pub evictions: AtomicU64,
    pub invalidations: AtomicU64,
    pub invalidated_entries: AtomicU64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CacheSnapshot {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub graph_nodes: usize,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    pub inserts: u64,
    pub evictions: u64,
    pub invalidations: u64,
    pub invalidated_entries: u64,
}

/// [`FragmentCache::still_cached`] looks the entry up once in this many calls (per
/// thread).
pub const TOUCH_EVERY: u32 = 64;

thread_local! {
    /// Calls of [`FragmentCache::still_cached`] on this thread.
    static TOUCHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

struct Retain;

impl moka::Expiry<StageKey, Arc<Entry>> for Retain {
    fn expire_after_create(
        &self,
        _: &StageKey,
        v: &Arc<Entry>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.retain_for)
    }
    fn expire_after_update(
        &self,
        _: &StageKey,
        v: &Arc<Entry>,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.retain_for)
    }
}

pub struct FragmentCache {
    /// Keyed with foldhash's quality hasher, seeded per process: keys hold request
    /// values (parameters, user ids), so the seed matters; SipHash, the default, cost
    /// more than the rest of the lookup.
    entries: Cache<StageKey, Arc<Entry>, foldhash::quality::RandomState>,
    graph: Mutex<Graph>,
    /// Versions moka removed (any cause), queued by its listener: the listener must not
    /// take the graph lock while moka may be called under it.
    removed: Arc<Mutex<Vec<u64>>>,
    next_version: AtomicU64,
    /// Moved on by every [`FragmentCache::clear`], once moka has been told to drop
    /// everything: an entry found under an earlier epoch may be one the clear dropped,
    /// whose removal moka reports only when its maintenance gets to it.
    epoch: AtomicU64,
    base: Instant,
    max_bytes: u64,
    pub stats: Arc<CacheStats>,
}

impl std::fmt::Debug for FragmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentCache")
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl FragmentCache {
    pub fn new(max_bytes: u64) -> Self {
        let removed: Arc<Mutex<Vec<u64>>> = Arc::default();
        let stats: Arc<CacheStats> = Arc::default();
        let queue = removed.clone();
        let counted = stats.clone();
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &StageKey, v: &Arc<Entry>| v.weight)
            .expire_after(Retain)
            // This listener must never panic: moka stops calling it for good after a
            // panic, and then neither the graph nor whoever holds an entry
            // (`Entry::is_removed`, the guests' memo) would hear of removals.
            .eviction_listener(move |_k, v: Arc<Entry>, cause| {
                v.mark_removed();
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    counted.evictions.fetch_add(1, Ordering::Relaxed);
                }
                if let Ok(mut q) = queue.lock() {
                    q.push(v.version);
                }
            })
            .build_with_hasher(foldhash::quality::RandomState::default());
        Self {
            entries,
            graph: Mutex::new(Graph::default()),
            removed,
            next_version: AtomicU64::new(1),
            epoch: AtomicU64::new(0),
            base: Instant::now(),
            max_bytes,
            stats,
        }
    }

    /// Milliseconds on the cache's clock (tokio time).
    pub fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// `at` in milliseconds on the cache's clock (as [`FragmentCache::now_ms`] would
    /// have read it then).
    pub fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_millis() as u64
    }

    /// See the field: read it before a lookup whose answer is kept for
    /// [`FragmentCache::still_cached`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether `entry`, found under `key` by a lookup made in `epoch`, is still what a
    /// lookup would answer at `now_ms`, without making one: not let go by the cache (its
    /// removal listener marks every entry it drops, by any cause), not past its expiry,
    /// no [`FragmentCache::clear`] since. Counts a hit when it is, as the lookup would
    /// have. One call in [`TOUCH_EVERY`] on each thread makes the lookup all the same,
    /// so that an entry answered this way still counts as used in the cache's eviction
    /// policy (its recency and frequency).
    pub fn still_cached(&self, key: &StageKey, entry: &Entry, epoch: u64, now_ms: u64) -> bool {
        if entry.is_removed() || now_ms >= entry.expires_ms() || self.epoch() != epoch {
            return false;
        }
        let touch = TOUCHES.with(|n| {
            let next = n.get().wrapping_add(1);
            n.set(next);
            next % TOUCH_EVERY == 0
        });
        // The lookup's answer is the same entry: moka returns no entry it has let go.
        let found = |e: Arc<Entry>| e.version == entry.version;
        if touch && !self.entries.get(key).is_some_and(found) {
            return false;
        }
        self.stats.hits.inc();
        true
    }

    pub fn get(&self, key: &StageKey) -> Option<Arc<Entry>> {
        let found = self.entries.get(key);
        if found.is_some() {
            self.stats.hits.inc();
        } else {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Looks without counting a hit or miss (for internal checks).
    pub fn peek(&self, key: &StageKey) -> Option<Arc<Entry>> {
        self.entries.get(key)
    }

    /// A new entry for `key`, with the next version.
    fn new_entry(&self, key: &StageKey, value: StageValue, retain_for: Duration) -> Arc<Entry> {
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        Arc::new(Entry::new(
            version,
            value,
            self.now_ms(),
            retain_for,
            key.weight(),
        ))
    }

    /// Stores a value with its dependencies and returns the entry. When a dependency has
    /// already left the cache the value is returned but not stored.
    pub fn insert(
        &self,
        key: StageKey,
        value: StageValue,
        deps: &Deps,
        retain_for: Duration,
    ) -> Arc<Entry> {
        let entry = self.new_entry(&key, value, retain_for);
        let version = entry.version;
        let added = self
            .graph
            .lock()
            .map(|mut g| g.add_entry(version, key.clone(), deps))
            .unwrap_or(false);
        if added {
            self.entries.insert(key.clone(), entry.clone());
            self.stats.inserts.fetch_add(1, Ordering::Relaxed);
            // An invalidation may have removed the node between the two steps: then the
            // entry must not stay where no invalidation can reach it.
            let still = self
                .graph
                .lock()
                .map(|g| g.contains_entry(version))
                .unwrap_or(false);
            if !still {
                self.remove_if_current(&key, version);
            }
        }
        self.process_removals();
        entry
    }

    /// Like [`FragmentCache::insert`], except that an entry already cached under `key`
    /// wins and is returned. For stages whose key fixes their content (a model of one
    /// source version; a rendered fragment of one source version, template, parameters
    /// and viewer): a concurrent request that missed the same key produced the same value,
    /// and replacing its entry would take everything built on it meanwhile — other
    /// users' pages assembled in the same burst — with it.
    ///
    /// The look and the store happen under the graph lock, so two requests storing the
    /// same key cannot both find it absent. (moka is called under that lock; its eviction
    /// listener only queues versions, see [`FragmentCache::process_removals`].)
    pub fn insert_or_keep(
        &self,
        key: StageKey,
        value: StageValue,
        deps: &Deps,
        retain_for: Duration,
    ) -> Arc<Entry> {
        let Ok(mut graph) = self.graph.lock() else {
            return self.insert(key, value, deps, retain_for);
        };
        if let Some(existing) = self.entries.get(&key) {
            return existing;
        }
        let entry = self.new_entry(&key, value, retain_for);
        let version = entry.version;
        // Under the lock no invalidation can come between the graph and the cache.
        if graph.add_entry(version, key.clone(), deps) {
            self.entries.insert(key, entry.clone());
            self.stats.inserts.fetch_add(1, Ordering::Relaxed);
        }
        drop(graph);
        self.process_removals();
        entry
    }

    /// An entry that is not stored (a response not worth keeping): it gets a version
    /// like any other, so a page built from it is told apart, but no graph node.
    pub fn transient(&self, value: StageValue) -> Arc<Entry> {
        let version = self.next_version.fetch_add(1, Ordering::Relaxed);
        Arc::new(Entry::new(version, value, self.now_ms(), Duration::ZERO, 0))
    }

    /// Adds object keys to a stored entry.
    pub fn add_objects(&self, version: u64, objects: &[Arc<str>]) {
        if let Ok(mut g) = self.graph.lock() {
            g.add_objects(version, objects);
        }
    }

    fn remove_if_current(&self, key: &StageKey, version: u64) {
        if self.entries.get(key).is_some_and(|e| e.version == version) {
            self.entries.invalidate(key);
        }
    }

    /// Takes entries moka removed out of the graph, with their dependents.
    pub fn process_removals(&self) {
        loop {
            let versions: Vec<u64> = match self.removed.lock() {
                Ok(mut q) if !q.is_empty() => std::mem::take(&mut *q),
                _ => return,
            };
            let gone = match self.graph.lock() {
                Ok(mut g) => g.remove_entries(&versions),
                Err(_) => return,
            };
            for (v, key) in gone {
                if !versions.contains(&v) {
                    self.remove_if_current(&key, v);
                }
            }
        }
    }

    /// Invalidates everything reachable from `targets`. `refresh_source` says, for a
    /// source entry, whether its fragments want it refreshed rather than evicted; the
    /// returned sources are for the caller to fetch again.
    pub fn invalidate(
        &self,
        targets: &Targets,
        mode: Mode,
        dry_run: bool,
        refresh_source: impl Fn(&Entry) -> bool,
    ) -> (Impact, Vec<Arc<Entry>>) {
        self.process_removals();
        let affected = match self.graph.lock() {
            Ok(g) => g.reachable(&targets.nodes()),
            Err(_) => Vec::new(),
        };
        let mut impact = Impact {
            entries: affected.len(),
            ..Impact::default()
        };
        let mut users = std::collections::BTreeSet::new();
        for (_, key) in &affected {
            *impact.by_stage.entry(key.stage()).or_default() += 1;
            if let Some(f) = key.fragment() {
                *impact.fragments.entry(f.to_owned()).or_default() += 1;
            }
            if let Some(p) = key.page() {
                *impact.pages.entry(p.to_owned()).or_default() += 1;
            }
            if let Some(u) = key.user() {
                users.insert(u.to_owned());
            }
        }
        impact.users = users.len();
        let current = |key: &StageKey, v: u64| self.entries.get(key).filter(|e| e.version == v);
        let refresh: Vec<Arc<Entry>> = affected
            .iter()
            .filter_map(|(v, key)| current(key, *v))
            .filter(|e| {
                e.source().is_some()
                    && (mode == Mode::Refresh || (mode == Mode::Hard && refresh_source(e)))
            })
            .collect();
        impact.refreshing = refresh.len();
        if dry_run {
            return (impact, Vec::new());
        }
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        self.stats
            .invalidated_entries
            .fetch_add(affected.len() as u64, Ordering::Relaxed);
        match mode {
            Mode::Soft => {
                for (v, key) in &affected {
                    if let Some(e) = current(key, *v) {
                        e.mark_stale();
                    }
                }
            }
            Mode::Refresh => {}
            Mode::Hard => {
                // Sources kept for refresh keep their dependents too: they are served
                // until the refreshed version replaces them.
                let kept: std::collections::HashSet<u64> =
                    refresh.iter().map(|e| e.version).collect();
                let keep_subtree: std::collections::HashSet<u64> = match self.graph.lock() {
                    Ok(g) => g
                        .reachable(&kept.iter().map(|v| Node::Entry(*v)).collect::<Vec<_>>())
                        .into_iter()
                        .map(|(v, _)| v)
                        .collect(),
                    Err(_) => Default::default(),
                };
                let evict: Vec<(u64, StageKey)> = affected
                    .into_iter()
                    .filter(|(v, _)| !keep_subtree.contains(v))
                    .collect();
                let versions: Vec<u64> = evict.iter().map(|(v, _)| *v).collect();
                let gone = match self.graph.lock() {
                    Ok(mut g) => g.remove_entries(&versions),
                    Err(_) => Vec::new(),
                };
                for (v, key) in gone {
                    self.remove_if_current(&key, v);
                }
                self.process_removals();
            }
        }
        (impact, refresh)
    }

    /// Drops every entry, and so the whole graph: for a node that cannot tell which
    /// entries are still fresh (it may have missed invalidations sent by other nodes).
    /// Counted as one invalidation. Returns how many entries were dropped.
    pub fn clear(&self) -> usize {
        self.process_removals();
        let gone = match self.graph.lock() {
            Ok(mut g) => {
                let all: Vec<u64> = g.versions().collect();
                g.remove_entries(&all).len()
            }
            Err(_) => 0,
        };
        // An entry inserted meanwhile either is discarded here (and leaves the graph
        // through the removal queue) or was added to the graph after it was emptied.
        self.entries.invalidate_all();
        // After `invalidate_all`: whoever reads the new epoch looks up after it, and a
        // lookup made before it read the old one.
        self.epoch.fetch_add(1, Ordering::Release);
        self.maintain();
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        self.stats
            .invalidated_entries
            .fetch_add(gone as u64, Ordering::Relaxed);
        gone
    }

    /// Which pages and fragments have cached entries reachable from `node`.
    pub fn dependents(&self, node: &Node) -> Vec<(u64, StageKey)> {
        self.process_removals();
        self.graph
            .lock()
            .map(|g| g.reachable(std::slice::from_ref(node)))
            .unwrap_or_default()
    }

    /// Per fragment, the object keys its cached entries depend on now
    /// ([`Graph::objects_by_fragment`]).
    pub fn objects_by_fragment(&self) -> BTreeMap<String, std::collections::BTreeSet<String>> {
        self.process_removals();
        self.graph
            .lock()
            .map(|g| g.objects_by_fragment())
            .unwrap_or_default()
    }

    /// Runs moka's pending maintenance (evictions, expiry) and the graph clean-up.
    pub fn maintain(&self) {
        self.entries.run_pending_tasks();
        self.process_removals();
    }

    /// The figures operators read — `/metrics`, the console, `/admin/api/cache` — one
    /// accessor for all three so they cannot disagree. Moka counts entries and bytes
    /// lazily: its pending maintenance runs first, so the figures are those of now.
    pub fn settled_snapshot(&self) -> CacheSnapshot {
        self.maintain();
        self.snapshot()
    }

    pub fn snapshot(&self) -> CacheSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (hits, misses) = (self.stats.hits.get(), get(&self.stats.misses));
        CacheSnapshot {
            entries: self.entries.entry_count(),
            bytes: self.entries.weighted_size(),
            max_bytes: self.max_bytes,
            graph_nodes: self.graph.lock().map(|g| g.node_count()).unwrap_or(0),
            hits,
            misses,
            hit_ratio: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            inserts: get(&self.stats.inserts),
            evictions: get(&self.stats.evictions),
            invalidations: get(&self.stats.invalidations),
            invalidated_entries: get(&self.stats.invalidated_entries),
        }
    }

    /// For tests and checks: graph node counts and whether every graph entry is cached.
    pub fn graph_check(&self) -> GraphCheck {
        self.maintain();
        let g = match self.graph.lock() {
            Ok(g) => g,
            Err(_) => return GraphCheck::default(),
        };
        let mut missing = 0;
        for v in g.versions() {
            let cached = g
                .reachable(&[Node::Entry(v)])
                .first()
                .and_then(|(_, k)| self.entries.get(k))
                .is_some_and(|e| e.version == v);
            if !cached {
                missing += 1;
            }
        }
        GraphCheck {
            nodes: g.node_count(),
            entries: g.entry_count(),
            dangling: g.dangling_count(),
            entries_not_cached: missing,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphCheck {
    pub nodes: usize,
    pub entries: usize,
    pub dangling: usize,
    pub entries_not_cached: usize,
}
