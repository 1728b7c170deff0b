//! Criterion microbenchmarks of the whole request path in this process, without a
//! socket: a request handed to the node's router and the response's body read, as hyper
//! would. The load harness's `cached8` compares the same two things over loopback with
//! wrk, where the kernel, wrk and the noise of a shared machine are in every number;
//! here only the router's own work is.
//!
//! - `request/static-stack`: the cached page's bytes and headers as a static route
//!   behind Tessera's whole HTTP stack (`tessera_channels::finish`: rate limit, request
//!   ids and trace context, response counting, compression, body limit).
//! - `request/cached-page`: a guest's `GET /` of the benchmark page (eight ~3 KB
//!   fragments under a one-hour lifecycle) through the node's app, served whole from the
//!   page cache — from the guests' memo (`channels::guest`) after the first hit.
//!
//! Their difference is what the cache-hit page path costs on top of the stack (the
//! memo's check of the cached entry, the page's headers and metrics).
//!
//! Run: `cargo bench -p tessera-bench --bench request_path` (about a minute).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, StatusCode};
use tessera_bench::node::{memory_store, Routers};
use tessera_bench::page::{Backend, BenchPage};
use tessera_bench::portal::{PortalSpec, FRAGMENTS, LONG_LIFECYCLE};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The `tessera` binary's allocator (ADR 0010).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page's size bound when reading a body.
const BODY_LIMIT: usize = 1 << 20;

fn get_root() -> Request<Body> {
    let mut req = Request::get("/").body(Body::empty()).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

/// One request through `router`, body read to the end; panics on anything but 200.
async fn call(router: &Router) -> (http::response::Parts, bytes::Bytes) {
    let res = router
        .clone()
        .oneshot(get_root())
        .await
        .expect("infallible");
    let (parts, body) = res.into_parts();
    assert_eq!(parts.status, StatusCode::OK);
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.expect("body");
    (parts, body)
}

/// `requests` requests through `router`, split between `tasks` tasks running at once;
/// the wall time they took together.
async fn requests_in_tasks(router: &Router, requests: u64, tasks: u64) -> Duration {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            // The first tasks take the remainder, one each.
            let n = requests / tasks + u64::from(t < requests % tasks);
            let router = router.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    std::hint::black_box(call(&router).await);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
    started.elapsed()
}

fn request_path(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let (page, routers) = rt.block_on(async {
        let spec = PortalSpec {
            lifecycle: Some(LONG_LIFECYCLE),
            ..PortalSpec::default()
        };
        let store = memory_store().await.expect("store");
        let page = BenchPage::start_with(&[Backend::FAST; FRAGMENTS], &spec, store)
            .await
            .expect("benchmark page");
        let routers = Routers::start(page.portal()).await.expect("routers");
        // Warm every stage; the later fetches are page-cache hits.
        for _ in 0..10 {
            call(&routers.app).await;
        }
        let (parts, body) = call(&routers.app).await;
        let mut headers = http::HeaderMap::new();
        for name in ["content-type", "cache-control", "etag", "vary"] {
            if let Some(v) = parts.headers.get(name) {
                headers.insert(name, v.clone());
            }
        }
        (page, routers.with_static(body, headers))
    });
    let calls_after_warming = page.backend_calls();
    let static_stack = routers.static_stack.clone().expect("static route");
    let mut group = c.benchmark_group("request");
    group.measurement_time(Duration::from_secs(5));
    // Each router alone in one task, then in two tasks at once on the runtime's workers
    // (one per core here): what shared state (counters, locks, the cache's bookkeeping)
    // costs when the requests of two cores meet. Time per request: wall time over all
    // requests.
    for (suffix, tasks) in [("", 1), ("/2-tasks", 2)] {
        for (name, router) in [
            ("static-stack", &static_stack),
            ("cached-page", &routers.app),
        ] {
            group.bench_function(format!("{name}{suffix}"), |b| {
                b.iter_custom(|iters| rt.block_on(requests_in_tasks(router, iters, tasks)))
            });
        }
    }
    group.finish();
    assert_eq!(
        page.backend_calls(),
        calls_after_warming,
        "the measured pages were not all served from the caches"
    );
    // And whole, from the page cache, not assembled again from cached fragments.
    let (parts, _) = rt.block_on(call(&routers.app));
    let timing = parts
        .headers
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        timing.starts_with("page-cache;desc=\"hit\""),
        "the page was not served whole from the page cache: Server-Timing {timing:?}"
    );
}

criterion_group!(benches, request_path);
criterion_main!(benches);
