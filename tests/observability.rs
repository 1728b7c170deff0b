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

/// A streamed page's response read off a real socket: the head, the body (chunked,
/// un-gzipped when it was gzipped) and the trailer fields after the last chunk.
struct RawResponse {
    head: String,
    body: String,
    trailers: Vec<(String, String)>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes a chunked body and its trailer section (RFC 9112 §7.1).
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, Vec<(String, String)>) {
    fn line<'a>(raw: &mut &'a [u8]) -> &'a str {
        let at = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a CRLF-terminated line");
        let l = std::str::from_utf8(&raw[..at]).expect("ascii line");
        *raw = &raw[at + 2..];
        l
    }
    let mut body = Vec::new();
    loop {
        let size = line(&mut raw);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16)
            .expect("a chunk size");
        if size == 0 {
            break;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
    let mut trailers = Vec::new();
    loop {
        let l = line(&mut raw);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("a trailer field");
        trailers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    (body, trailers)
}

/// Sends a GET and returns once the response's head has arrived, with the rest of the
/// response to read.
async fn start_get(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (String, Vec<u8>, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            return (head, buf[at + 4..].to_vec(), tcp);
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .expect("the head within the deadline")
            .expect("read");
        assert!(n > 0, "the connection closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads the rest of a response started by [`start_get`].
async fn finish(head: String, mut rest: Vec<u8>, mut tcp: tokio::net::TcpStream) -> RawResponse {
    use std::io::Read;
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest))
        .await
        .expect("the end within the deadline")
        .expect("read");
    let mut r = RawResponse {
        head,
        body: String::new(),
        trailers: Vec::new(),
    };
    let (body, trailers) = dechunk(&rest);
    r.trailers = trailers;
    r.body = if r.header("content-encoding") == Some("gzip") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut out)
            .expect("gzip");
        out
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    r
}

/// Entries of a `Server-Timing` value by metric name (name → the rest).
fn timing_entries(v: &str) -> Vec<(String, String)> {
    v.split(", ")
        .map(|e| match e.split_once(';') {
            Some((name, rest)) => (name.to_owned(), rest.to_owned()),
            None => (e.to_owned(), String::new()),
        })
        .collect()
}

/// Three fragments: `fast` (cached after the first request), `slow` (held by a gate)
/// and `plain` (no backend), streamed.
fn streamed_portal(fast: &Scripted, slow: &Scripted, settings: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!("[portal]\nname = \"T\"\nhome = \"home\"\n{settings}"),
    );
    dir.service("fast", &fast.url());
    dir.service("slow", &slow.url());
    dir.fragment_xml(
        "fast",
        r#"<fragment id="fast" service="fast" path="/d"><lifecycle ttl="1h"/><template>fragments/v.html</template></fragment>"#,
    );
    dir.fragment_xml(
        "slow",
        r#"<fragment id="slow" service="slow" path="/d"><template>fragments/v.html</template></fragment>"#,
    );
    dir.fragment_xml(
        "plain",
        r#"<fragment id="plain"><template>fragments/plain.html</template></fragment>"#,
    );
    dir.template("fragments/v.html", "<b>{{ model.v }}</b>");
    dir.template("fragments/plain.html", "<i>static</i>");
    dir.template(
        "layouts/page.html",
        "<html><body>{% for f in fragments|items %}<div id=\"s-{{ f[0] }}\">{{ f[1].html }}</div>{% endfor %}</body></html>",
    );
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/page.html" timeout="10s" delivery="in-order"><region name="main"><fragment ref="fast"/><fragment ref="slow"/><fragment ref="plain"/></region></page>"#,
    );
    dir
}

/// Serves `state` on 127.0.0.1:0 through the real server (hyper), as `tessera serve`
/// does.
async fn listen(state: &AppState) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = app(state.clone(), None);
    tokio::spawn(async move {
        let _ = tessera_channels::server::serve(listener, app, std::future::pending()).await;
    });
    addr
}

#[tokio::test]
async fn streamed_pages_time_every_fragment_in_a_header_and_a_trailer() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v":"quick"}"#));
    let gate = tessera_test_support::Gate::new();
    slow.respond(Reply::json(r#"{"v":"late"}"#).gate(gate.clone()));
    let dir = streamed_portal(&fast, &slow, "");
    let (state, cancel) = node(&dir).await;
    let addr = listen(&state).await;
    // Warm the fast fragment's cache.
    gate.open();
    assert_eq!(get(&state, "/?delivery=buffered", &[]).await.status(), 200);
    gate.close();

    for mode in ["in-order", "out-of-order"] {
        let path = format!("/?delivery={mode}");
        // A client that takes trailers (Firefox says `TE: trailers`), gzip or not.
        for encoding in ["identity", "gzip"] {
            let calls = slow.calls();
            let (head, rest, tcp) = start_get(
                addr,
                &path,
                &[("TE", "trailers"), ("Accept-Encoding", encoding)],
            )
            .await;
            // The head left while the slow backend was held: it cannot know `slow`.
            let early = RawResponse {
                head: head.clone(),
                body: String::new(),
                trailers: Vec::new(),
            };
            let timing = early.header("server-timing").expect("a header").to_owned();
            let entries = timing_entries(&timing);
            let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
            assert_eq!(
                names,
                ["frag-fast", "frag-plain", "head"],
                "{mode}: {timing}"
            );
            // Both were cached by the first request (the plain one's rendered stage).
            for (_, rest) in &entries[..2] {
                assert!(rest.starts_with("dur="), "{timing}");
                assert!(rest.ends_with(r#";desc="cache""#), "{timing}");
            }
            assert!(entries[2].1.starts_with("dur="), "{timing}");
            assert_eq!(early.header("trailer"), Some("server-timing"), "{head}");
            slow.wait_for_calls(calls + 1).await;
            gate.open();
            let res = finish(head, rest, tcp).await;
            gate.close();
            assert!(
                res.body.contains("<b>late</b>"),
                "{mode} {encoding}: {}",
                res.body
            );
            let trailer = res.trailer("server-timing").unwrap_or_else(|| {
                panic!(
                    "{mode} {encoding}: a Server-Timing trailer: {:?}",
                    res.trailers
                )
            });
            let entries = timing_entries(trailer);
            let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
            assert_eq!(names, ["frag-slow", "page"], "{mode} {encoding}: {trailer}");
            assert!(entries[0].1.starts_with("dur="), "{trailer}");
            assert!(entries[0].1.ends_with(r#";desc="backend""#), "{trailer}");
            assert!(entries[1].1.starts_with("dur="), "{trailer}");
        }

        // A client that does not (Chromium): one header names every fragment, the
        // ones still to come as pending; no trailer.
        let calls = slow.calls();
        let (head, rest, tcp) = start_get(addr, &path, &[]).await;
        slow.wait_for_calls(calls + 1).await;
        gate.open();
        let res = finish(head, rest, tcp).await;
        gate.close();
        let timing = res.header("server-timing").expect("a header");
        let entries = timing_entries(timing);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            ["frag-fast", "frag-slow", "frag-plain", "head"],
            "{mode}: {timing}"
        );
        assert_eq!(entries[1].1, r#"desc="pending""#, "{timing}");
        assert_eq!(res.header("trailer"), None);
        assert!(res.trailers.is_empty(), "{:?}", res.trailers);
        assert!(res.body.contains("<b>late</b>"));
    }
    cancel.cancel();

    // Switched off: no header, no trailer, whatever the client takes.
    let dir = streamed_portal(&fast, &slow, "[observability]\nserver-timing = false\n");
    let (state, cancel) = node(&dir).await;
    let addr = listen(&state).await;
    gate.open();
    let (head, rest, tcp) = start_get(addr, "/", &[("TE", "trailers")]).await;
    let res = finish(head, rest, tcp).await;
    assert!(res.head.starts_with("HTTP/1.1 200"), "{}", res.head);
    assert_eq!(res.header("server-timing"), None);
    assert_eq!(res.header("trailer"), None);
    assert!(res.trailers.is_empty(), "{:?}", res.trailers);
    cancel.cancel();
}
