//! `memory-100k` (issue #9 Memory): with 100,000 distinct users' homepages cached, the
//! node's resident memory stays within the configured cache size plus a fixed overhead.
//!
//! The portal is S1's (eight fragments, two of them per user, single sign-on by a
//! trusted header). The users live in a SQLite file (on `/dev/shm` where there is one,
//! so that creating 100,000 of them does not wait for a disk). The node runs in a
//! process of its own ([`ChildNode`]: this binary with `--serve-child`), so that its
//! resident memory (`/proc/<pid>/status`) is the node's alone; the backends and the
//! harness's client stay in the harness's process.
//!
//! Two arms, one process each, one after the other:
//! - the default cache size (256 MiB), which 100,000 users' pages far exceed: the cache
//!   evicts, and memory must stay at its size plus the overhead;
//! - a cache large enough to keep every user's page: all 100,000 homepages cached at
//!   once (no eviction; a sample of users asked again gets their page whole from the
//!   page cache), and memory must stay at what the cache weighs plus the overhead —
//!   which is what makes the configured size a true bound.
//!
//! Every user's page is requested once (32 at a time) and must come back whole (every
//! slot with content); then the cache's figures are read from the admin API and the
//! process's `VmRSS`/`VmHWM`. The services have a 5 s timeout and the default breaker
//! (`PortalSpec::steady_services`): the hair-trigger breaker of the other scenarios
//! would turn one slow moment of a long warm-up into fallbacks for every later page.

use std::path::Path;
use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::cached::checked;
use super::cached_users::{create_users, login, sso, warm_users, SSO_SECRET};
use crate::child::{mib, ChildNode, Memory};
use crate::context::{ms, MemoryRun};
use crate::page::{start_backends, Backend};
use crate::portal::{self, PortalSpec, FRAGMENTS, LONG_LIFECYCLE};
use crate::probe::{Fetched, Probe};
use crate::{BenchError, Context, ScenarioId};

/// Fragments per user out of the eight (as in S1).
const PER_USER_FRAGMENTS: usize = 2;

/// Pages requested at once while warming.
const WARM_CONCURRENCY: usize = 32;

/// Users asked again after warming (spread over the whole range).
const SAMPLE: usize = 1_000;

/// What the target allows on top of the cache: the node at rest (binary, runtime and
/// worker stacks, templates, the store's connection pool and SQLite page caches, HTTP
/// buffers — measured at start) plus the allocator's slack and the per-entry structures
/// the cache's weigher approximates (moka's bookkeeping, the dependency graph).
/// docs/benchmarks.md gives the measured split.
pub const FIXED_OVERHEAD: u64 = 128 << 20;

/// The arms: label and `[cache] max-bytes`.
const ARMS: [(&str, u64); 2] = [
    ("cache 256 MiB (default; evicts)", 256 << 20),
    ("cache 12 GiB (keeps every page)", 12 << 30),
];

pub(super) async fn run(ctx: &mut Context, probe: &Probe) -> Result<(), BenchError> {
    let id = ScenarioId::Memory100k;
    let users = ctx.options.memory_users;
    let shm = Path::new("/dev/shm");
    let folder = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .map_err(|e| BenchError::Setup(format!("a folder for the users' database: {e}")))?;
    let store_url = format!("sqlite://{}", folder.path().join("users.db").display());
    let started = Instant::now();
    {
        let store = tessera_store::open(&store_url)
            .await
            .map_err(|e| BenchError::Setup(format!("store {store_url}: {e}")))?;
        create_users(&store, users).await?;
    }
    ctx.note(format!(
        "{id}: {users} users created in {} (SQLite file in {})",
        ms(started.elapsed()),
        folder.path().display()
    ));
    let backends = start_backends(&[Backend::FAST; FRAGMENTS]).await?;
    let urls: Vec<String> = backends.iter().map(|b| b.url()).collect();

    for (label, max_bytes) in ARMS {
        let spec = PortalSpec {
            lifecycle: Some(LONG_LIFECYCLE),
            per_user_fragments: PER_USER_FRAGMENTS,
            sso_secret: Some(SSO_SECRET),
            cache_max_bytes: Some(max_bytes),
            steady_services: true,
        };
        let dir = portal::write_with(&urls, &spec);
        eprintln!("  {label}: starting the node process");
        let node = ChildNode::start(dir.root(), &store_url).await?;
        let run = arm(ctx, probe, &node, label, users).await;
        node.stop().await;
        let run = run?;
        judge(ctx, id, &run);
        ctx.memory.push(run);
    }
    Ok(())
}

async fn arm(
    ctx: &mut Context,
    probe: &Probe,
    node: &ChildNode,
    label: &str,
    users: usize,
) -> Result<MemoryRun, BenchError> {
    let url = node.url().to_owned();
    let fetch = |n: usize| {
        let (probe, url) = (probe.clone(), url.clone());
        async move { probe.page_as(&url, &sso(&login(n))).await }
    };
    checked(&fetch(1).await?)?;
    let at_start = node.memory()?;
    let started = Instant::now();
    // Every page must be whole (200, every slot with content): a page with a fallback
    // is not cached, and the scenario is about cached pages.
    let retried = warm_users(probe, &url, 1..=users, WARM_CONCURRENCY, label).await?;
    let warm = started.elapsed();
    if retried > 0 {
        ctx.note(format!(
            "{label}: {retried} warm-up pages came with a fallback (a backend call failed or timed out on the busy machine) and were asked again"
        ));
    }
    eprintln!("  {label}: {users} pages in {}", ms(warm));
    let cache = probe
        .cache_stats_at(&node.cache_url(), node.admin_token())
        .await?;
    let after = node.memory()?;
    let step = (users / SAMPLE).max(1);
    let sample: Vec<Fetched> = stream::iter((1..=users).step_by(step))
        .map(fetch)
        .buffer_unordered(WARM_CONCURRENCY)
        .try_collect()
        .await?;
    let sample_whole = sample.iter().filter(|f| whole(f)).count();
    ctx.note(format!(
        "{label}: {} entries weighing {} ({} evicted); RSS {} after the first page, {} after {users} users (peak {})",
        cache.entries,
        mib(cache.bytes),
        cache.evictions,
        mib(at_start.rss),
        mib(after.rss),
        mib(after.peak)
    ));
    Ok(MemoryRun {
        label: label.to_owned(),
        users,
        warm,
        cache,
        at_start,
        after,
        sample_whole,
        sample: sample.len(),
    })
}

/// Served whole from the page cache (the node says so in `Server-Timing`).
fn whole(page: &Fetched) -> bool {
    page.status == 200 && page.header("server-timing").starts_with("page-cache;")
}

fn judge(ctx: &mut Context, id: ScenarioId, run: &MemoryRun) {
    let Memory { peak, .. } = run.after;
    let limit = run.cache.max_bytes + FIXED_OVERHEAD;
    ctx.check(
        id,
        format!(
            "{}: peak RSS ≤ max-bytes + fixed overhead ({} + {})",
            run.label,
            mib(run.cache.max_bytes),
            mib(FIXED_OVERHEAD)
        ),
        format!("peak {} (limit {})", mib(peak), mib(limit)),
        peak <= limit,
    );
    let weighed = run.cache.bytes + FIXED_OVERHEAD;
    ctx.check(
        id,
        format!(
            "{}: peak RSS ≤ what the cache weighs + fixed overhead (the weigher does not undercount)",
            run.label
        ),
        format!(
            "peak {} vs {} + {} = {}",
            mib(peak),
            mib(run.cache.bytes),
            mib(FIXED_OVERHEAD),
            mib(weighed)
        ),
        peak <= weighed,
    );
    if run.cache.evictions == 0 {
        ctx.check(
            id,
            format!("{}: every user's homepage cached at once", run.label),
            format!(
                "0 evictions; {} of {} sampled users served whole from the page cache",
                run.sample_whole, run.sample
            ),
            run.sample_whole == run.sample,
        );
    }
}
