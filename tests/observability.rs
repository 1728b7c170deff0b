//! Seeing inside (issue #11): `/metrics` counts exactly what happened, `Server-Timing`
//! names every fragment with its source, and backends receive the request id and a W3C
//! `traceparent`. Real backends on 127.0.0.1:0; the HTTP surface driven by `oneshot`.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use tessera_channels::{app, runtime, AppState};
use tessera_descriptors::Portal;
use tessera_test_support::{PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A page of two fragments: `quotes` (cached for a minute) and `news` (never cached,
/// a short timeout, a breaker that opens after 2 failures in 3 calls, a fallback).
fn portal(quotes: &Scripted, news: &Scripted, settings: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!("[portal]\nname = \"T\"\nhome = \"home\"\n{settings}"),
    );
    dir.file(
        "config/services/quotes.xml",
        &format!(r#"<service id="quotes" base-url="{}"/>"#, quotes.url()),
    );
    dir.file(
        "config/services/news.xml",
        &format!(
            r#"<service id="news" base-url="{}" timeout="200ms"><breaker window="3" min-calls="3" failure-rate="60%" open-for="1h"/><retry attempts="0"/></service>"#,
            news.url()
        ),
    );
    dir.fragment_xml(
        "quotes",
        r#"<fragment id="quotes" service="quotes" path="/quotes"><lifecycle ttl="60s"/><template>fragments/v.html</template></fragment>"#,
    );
    dir.fragment_xml(
        "news",
        r#"<fragment id="news" service="news" path="/news"><template>fragments/v.html</template><fallback>No news.</fallback></fragment>"#,
    );
    dir.template("fragments/v.html", "<b>{{ model.v }}</b>");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/><fragment ref="news"/></region></page>"#,
    );
    dir
}

async fn node(dir: &PortalDir) -> (AppState, CancellationToken) {
    let portal = Portal::load(&dir.config_dir(), &dir.templates_dir())
        .unwrap_or_else(|d| panic!("portal must load:\n{d}"));
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal, store, &cancel)
        .await
        .expect("node starts");
    (state, cancel)
}

async fn get(state: &AppState, path: &str, headers: &[(&str, &str)]) -> http::Response<String> {
    let mut req = Request::builder().uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app(state.clone(), None)
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 22).await.expect("body");
    http::Response::from_parts(parts, String::from_utf8_lossy(&bytes).into_owned())
}

/// A reply that starts at once and never finishes, so the call ends by its service's
/// timeout (not by waiting for a first byte).
fn slow_forever() -> Reply {
    Reply::json(r#"{"v":"#).trickle(" ", Duration::from_millis(20))
}

/// The value of one sample line (`name{labels} value`), exactly as exposed.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_report_exactly_what_happened() {
    let quotes = Scripted::start().await;
    quotes.respond(Reply::json(r#"{"v":"q"}"#));
    let news = Scripted::start().await;
    let dir = portal(&quotes, &news, "");
    let (state, cancel) = node(&dir).await;

    // 1. quotes: miss (backend); news: backend.
    news.respond(Reply::json(r#"{"v":"n"}"#));
    assert_eq!(get(&state, "/", &[]).await.status(), StatusCode::OK);
    // 2. quotes: hit; news: timeout (fallback). A body that never ends, a byte every
    // 20 ms: only the service's timeout can end it.
    news.respond(slow_forever());
    assert_eq!(get(&state, "/", &[]).await.status(), StatusCode::OK);
    // 3. quotes: hit; news: 500 (fallback) — 2 failures in 3 calls: the breaker opens.
    news.respond(Reply::status(500));
    assert_eq!(get(&state, "/", &[]).await.status(), StatusCode::OK);
    // 4. quotes: hit; news: short-circuited, not called (fallback).
    assert_eq!(get(&state, "/", &[]).await.status(), StatusCode::OK);
    assert_eq!(news.calls(), 3, "the open breaker calls nobody");
    assert_eq!(quotes.calls(), 1, "three cache hits");
    // 5. a page that does not exist: counted by status only.
    assert_eq!(
        get(&state, "/pages/nope", &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    let res = get(&state, "/metrics", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("application/openmetrics-text"));
    let m = res.body();
    let expected: &[(&str, f64)] = &[
        (
            r#"tessera_backend_calls_total{service="quotes",outcome="success"}"#,
            1.0,
        ),
        (
            r#"tessera_backend_calls_total{service="quotes",outcome="timeout"}"#,
            0.0,
        ),
        (
            r#"tessera_backend_calls_total{service="news",outcome="success"}"#,
            1.0,
        ),
        (
            r#"tessera_backend_calls_total{service="news",outcome="timeout"}"#,
            1.0,
        ),
        (
            r#"tessera_backend_calls_total{service="news",outcome="bad_status"}"#,
            1.0,
        ),
        (
            r#"tessera_backend_calls_total{service="news",outcome="short_circuited"}"#,
            1.0,
        ),
        (
            r#"tessera_backend_calls_total{service="news",outcome="disabled"}"#,
            0.0,
        ),
        (
            r#"tessera_backend_latency_seconds_count{service="news"}"#,
            3.0,
        ),
        (
            r#"tessera_backend_latency_seconds_count{service="quotes"}"#,
            1.0,
        ),
        (r#"tessera_breaker_state{service="news",state="open"}"#, 1.0),
        (
            r#"tessera_breaker_state{service="news",state="closed"}"#,
            0.0,
        ),
        (
            r#"tessera_breaker_state{service="quotes",state="closed"}"#,
            1.0,
        ),
        (r#"tessera_service_disabled{service="news"}"#, 0.0),
        (
            r#"tessera_fragment_results_total{fragment="quotes",status="ok",origin="backend"}"#,
            1.0,
        ),
        (
            r#"tessera_fragment_results_total{fragment="quotes",status="ok",origin="cache"}"#,
            3.0,
        ),
        (
            r#"tessera_fragment_results_total{fragment="news",status="ok",origin="backend"}"#,
            1.0,
        ),
        (
            r#"tessera_fragment_results_total{fragment="news",status="fallback",origin="fallback"}"#,
            3.0,
        ),
        (
            r#"tessera_fragment_render_seconds_count{fragment="quotes"}"#,
            4.0,
        ),
        (
            r#"tessera_page_requests_total{page="home",status="200"}"#,
            4.0,
        ),
        (r#"tessera_page_duration_seconds_count{page="home"}"#, 4.0),
        (r#"tessera_page_ttfb_seconds_count{page="home"}"#, 4.0),
        // The scrape itself is counted once it has answered.
        (r#"tessera_http_responses_total{status="200"}"#, 4.0),
        (r#"tessera_http_responses_total{status="404"}"#, 1.0),
        ("tessera_invalidations_total", 0.0),
    ];
    for (series, value) in expected {
        assert_eq!(sample(m, series), Some(*value), "{series} in\n{m}");
    }
    // The 404 has no page label: nothing but descriptor ids becomes a label.
    assert!(!m.contains("nope"), "{m}");
    // The cache figures are the cache's own (the source the console will read too).
    let c = state.engine().fragments().cache().snapshot();
    assert_eq!(sample(m, "tessera_cache_hits_total"), Some(c.hits as f64));
    assert_eq!(
        sample(m, "tessera_cache_misses_total"),
        Some(c.misses as f64)
    );
    assert_eq!(sample(m, "tessera_cache_entries"), Some(c.entries as f64));
    assert!(c.hits >= 3 && c.entries >= 1, "{c:?}");

    // An invalidation is counted with the entries it removed.
    let impact = state.engine().invalidate(
        &tessera_fragments::cache::Targets {
            fragments: vec!["quotes".into()],
            ..Default::default()
        },
        tessera_fragments::cache::Mode::Hard,
        false,
    );
    let m = get(&state, "/metrics", &[]).await.into_body();
    assert_eq!(sample(&m, "tessera_invalidations_total"), Some(1.0));
    assert_eq!(
        sample(&m, "tessera_invalidated_entries_total"),
        Some(impact.entries as f64)
    );
    assert!(impact.entries >= 1, "{impact:?}");
    assert_eq!(
        sample(&m, r#"tessera_http_responses_total{status="200"}"#),
        Some(5.0)
    );
    cancel.cancel();
}

#[tokio::test]
async fn server_timing_lists_every_fragment_with_its_source() {
    let quotes = Scripted::start().await;
    quotes.respond(Reply::json(r#"{"v":"q"}"#));
    let news = Scripted::start().await;
    news.respond(slow_forever());
    let dir = portal(&quotes, &news, "");
    let (state, cancel) = node(&dir).await;

    let first = get(&state, "/", &[]).await;
    let timing = first.headers()["server-timing"].to_str().expect("ascii");
    let entries: Vec<&str> = timing.split(", ").collect();
    assert_eq!(entries.len(), 3, "{timing}");
    assert!(entries[0].starts_with("frag-quotes;dur="), "{timing}");
    assert!(entries[0].ends_with(r#";desc="backend""#), "{timing}");
    assert!(entries[1].starts_with("frag-news;dur="), "{timing}");
    assert!(
        entries[1].ends_with(r#";desc="fallback (timeout)""#),
        "{timing}"
    );
    assert!(entries[2].starts_with("page;dur="), "{timing}");
    // The timed-out fragment took at least its service's timeout.
    let dur: f64 = entries[1]
        .split(";dur=")
        .nth(1)
        .and_then(|d| d.split(';').next())
        .and_then(|d| d.parse().ok())
        .expect("a duration");
    assert!(dur >= 200.0, "{timing}");

    let second = get(&state, "/", &[]).await;
    let timing = second.headers()["server-timing"].to_str().expect("ascii");
    assert!(timing.contains(r#"frag-quotes;dur="#), "{timing}");
    assert!(timing.contains(r#"desc="cache""#), "{timing}");
    cancel.cancel();

    // Switched off for public deployments.
    let dir = portal(&quotes, &news, "[observability]\nserver-timing = false\n");
    let (state, cancel) = node(&dir).await;
    let res = get(&state, "/", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("server-timing").is_none());
    cancel.cancel();
}

/// `^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`, spelled out.
fn valid_traceparent(v: &str) -> bool {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let p: Vec<&str> = v.split('-').collect();
    p.len() == 4 && p[0] == "00" && hex(p[1], 32) && hex(p[2], 16) && (p[3] == "00" || p[3] == "01")
}

#[tokio::test]
async fn backends_receive_the_request_id_and_a_traceparent() {
    let quotes = Scripted::start().await;
    quotes.respond(Reply::json(r#"{"v":"q"}"#));
    let news = Scripted::start().await;
    news.respond(Reply::json(r#"{"v":"n"}"#));
    let dir = portal(&quotes, &news, "");
    let (state, cancel) = node(&dir).await;

    // The caller's id and trace are continued.
    let res = get(
        &state,
        "/",
        &[
            ("x-request-id", "req-42"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "req-42");
    for backend in [&quotes, &news] {
        let seen = backend.requests();
        let h = &seen.last().expect("a call").headers;
        assert_eq!(h["x-request-id"], "req-42");
        let tp = h["traceparent"].to_str().expect("ascii");
        assert!(valid_traceparent(tp), "{tp}");
        assert!(
            tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "the caller's trace: {tp}"
        );
        assert!(!tp.contains("00f067aa0ba902b7"), "a span of our own: {tp}");
    }

    // Without (or with an unusable) id, one is made, echoed and passed on.
    let long = "x".repeat(129);
    let res = get(&state, "/", &[("x-request-id", &long)]).await;
    let id = res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(id, long);
    assert!(!id.is_empty() && id.len() <= 128);
    let seen = news.requests();
    let h = &seen.last().expect("a call").headers;
    assert_eq!(h["x-request-id"].to_str().expect("ascii"), id);
    let tp = h["traceparent"].to_str().expect("ascii");
    assert!(valid_traceparent(tp), "{tp}");
    assert!(
        !tp.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "a new trace: {tp}"
    );
    cancel.cancel();
}
