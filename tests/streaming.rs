//! Incremental page delivery (issue #6). Ordering is proven by events (a backend held
//! by a gate), never by wall-clock time.

use std::io::Read;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tessera_channels::{app, AppState};
use tessera_descriptors::Portal;
use tessera_engine::Engine;
use tessera_test_support::{Gate, PortalDir, Reply, Scripted};
use tower::ServiceExt;

/// Three fragments: `fast` (cached after the first request), `slow` (held by `gate`),
/// `plain` (no backend).
fn portal(fast: &Scripted, slow: &Scripted, delivery: &str, primary: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.service("fast", &fast.url());
    dir.service("slow", &slow.url());
    dir.fragment_xml(
        "fast",
        r#"<fragment id="fast" service="fast" path="/d"><lifecycle ttl="1h"/><asset css="/static/shared.css"/><template>fragments/v.html</template></fragment>"#,
    );
    dir.fragment_xml(
        "slow",
        r#"<fragment id="slow" service="slow" path="/d"><asset css="/static/shared.css"/><asset js="/static/slow.js"/><template>fragments/v.html</template></fragment>"#,
    );
    dir.fragment_xml(
        "plain",
        r#"<fragment id="plain"><template>fragments/plain.html</template></fragment>"#,
    );
    dir.template("fragments/v.html", "<b>{{ model.v }}</b>");
    dir.template("fragments/plain.html", "<i>static</i>");
    dir.template(
        "layouts/page.html",
        "<html><head>{% for c in assets.css %}<link href=\"{{ c }}\">{% endfor %}{% for j in assets.js %}<script src=\"{{ j }}\"></script>{% endfor %}</head><body><h1>Head</h1>{% for f in fragments|items %}<div class=\"slot\" id=\"s-{{ f[0] }}\">{{ f[1].html }}</div>{% endfor %}</body></html>",
    );
    dir.page_xml(
        "home",
        &format!(
            r#"<page id="home" layout="layouts/page.html" timeout="5s" delivery="{delivery}"><region name="main"><fragment ref="fast"/><fragment ref="slow"{primary}/><fragment ref="plain"/></region></page>"#
        ),
    );
    dir
}

async fn state(dir: &PortalDir) -> AppState {
    let portal =
        Portal::load(&dir.config_dir(), &dir.templates_dir()).unwrap_or_else(|d| panic!("{d}"));
    AppState::new(
        Engine::new(portal),
        tessera_store::open("sqlite::memory:").await.expect("store"),
    )
}

async fn whole(state: &AppState, path: &str) -> (StatusCode, String) {
    let res = app(state.clone(), None)
        .oneshot(Request::get(path).body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_first_chunk_arrives_before_the_slow_backend_answers() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#));
    let gate = Gate::new();
    slow.respond(Reply::json(r#"{"v": "late"}"#).gate(gate.clone()));
    let dir = portal(&fast, &slow, "out-of-order", "");
    let s = state(&dir).await;
    // Warm the fast fragment's cache.
    gate.open();
    whole(&s, "/?delivery=buffered").await;
    gate.close();

    for mode in ["out-of-order", "in-order"] {
        let res = app(s.clone(), None)
            .oneshot(
                Request::get(format!("/?delivery={mode}"))
                    .body(Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a first chunk while the slow backend is held")
            .expect("frame")
            .expect("ok")
            .into_data()
            .expect("data");
        let first = String::from_utf8_lossy(&first).into_owned();
        assert!(first.contains("<h1>Head</h1>"), "{mode}: {first}");
        assert!(
            first.contains("<b>quick</b>"),
            "{mode}: the cached fragment is in the first flush: {first}"
        );
        assert!(!first.contains("late"), "{mode}");
        slow.wait_for_in_flight(1).await;
        assert_eq!(slow.in_flight(), 1, "the slow backend has not answered yet");
        gate.open();
        let rest = body.collect().await.expect("rest").to_bytes();
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.contains("<b>late</b>"), "{mode}: {rest}");
        assert!(rest.trim_end().ends_with("</html>"), "{mode}: {rest}");
        gate.close();
    }
}

/// Applies what the out-of-order script does: every late section's content replaces its
/// placeholder, the section and its script call go, and so does the script's definition.
fn apply_fills(html: &str) -> String {
    const OPEN: &str = "<section class=\"tessera-late\" id=\"tessera-fill-";
    let mut out = html.to_owned();
    while let Some(start) = out.find(OPEN) {
        let n: String = out[start + OPEN.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let end = out[start..]
            .find("</script>\n")
            .map(|e| start + e + "</script>\n".len())
            .expect("fill end");
        let section = out[start..end].to_owned();
        let open_content = "<div class=\"tessera-late__content\">";
        let content_start = section.find(open_content).expect("content") + open_content.len();
        let content_end = section.rfind("</div></section>").expect("content end");
        let content = section[content_start..content_end].to_owned();
        out.replace_range(start..end, "");
        let placeholder = format!("<div class=\"tessera-pending\" id=\"tessera-slot-{n}\" aria-busy=\"true\">Loading…</div>");
        assert!(out.contains(&placeholder), "placeholder {n}");
        out = out.replacen(&placeholder, &content, 1);
    }
    if let Some(start) = out.find("<script>function tesseraFill") {
        let end = out[start..]
            .find("</script>\n")
            .map(|e| start + e + "</script>\n".len())
            .expect("script end");
        out.replace_range(start..end, "");
    }
    out
}

#[tokio::test]
async fn both_modes_complete_to_the_buffered_page() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#));
    slow.respond(Reply::json(r#"{"v": "late"}"#).delay(Duration::from_millis(50)));
    let dir = portal(&fast, &slow, "buffered", "");
    let s = state(&dir).await;
    let (_, buffered) = whole(&s, "/").await;
    let (_, in_order) = whole(&s, "/?delivery=in-order").await;
    assert_eq!(
        in_order, buffered,
        "in order: byte for byte the buffered page"
    );
    let (_, ooo) = whole(&s, "/?delivery=out-of-order").await;
    assert!(
        ooo.contains("tessera-pending"),
        "the slow fragment came late: {ooo}"
    );
    assert_eq!(
        apply_fills(&ooo),
        buffered,
        "out of order, once filled: {ooo}"
    );
    assert_eq!(
        buffered.matches("shared.css").count(),
        1,
        "each asset once, however many fragments use it"
    );
    assert_eq!(buffered.matches("slow.js").count(), 1);
}

#[tokio::test]
async fn a_primary_fragment_decides_the_status() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#));
    slow.respond(Reply::status(500));
    let dir = portal(&fast, &slow, "out-of-order", r#" primary="true""#);
    let s = state(&dir).await;
    for mode in ["buffered", "in-order", "out-of-order"] {
        let (status, body) = whole(&s, &format!("/?delivery={mode}")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{mode}");
        assert!(
            body.contains("<b>quick</b>"),
            "{mode}: the page is still there"
        );
    }
    slow.respond(Reply::status(302).header("location", "/login"));
    for mode in ["buffered", "out-of-order"] {
        let res = app(s.clone(), None)
            .oneshot(
                Request::get(format!("/?delivery={mode}"))
                    .body(Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{mode}");
        assert_eq!(res.headers()["location"], "/login");
    }
    slow.respond(Reply::json(r#"{"v": "late"}"#));
    assert_eq!(whole(&s, "/?delivery=out-of-order").await.0, StatusCode::OK);
    // A non-primary failure leaves the status alone.
    let dir = portal(&fast, &slow, "out-of-order", "");
    slow.respond(Reply::status(500));
    assert_eq!(whole(&state(&dir).await, "/").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_page_deadline_ends_a_streamed_page() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#));
    slow.respond(Reply::hang());
    let dir = portal(&fast, &slow, "out-of-order", "");
    let xml = std::fs::read_to_string(dir.config_dir().join("pages/home.xml")).expect("page");
    dir.page_xml(
        "home",
        &xml.replace(r#"timeout="5s""#, r#"timeout="150ms""#),
    );
    let s = state(&dir).await;
    for mode in ["in-order", "out-of-order"] {
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(5),
            whole(&s, &format!("/?delivery={mode}")),
        )
        .await
        .expect("the response ends at the deadline");
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("not ready within the page deadline of 150ms"),
            "{mode}: {body}"
        );
        assert!(body.trim_end().ends_with("</html>"));
    }
}

#[tokio::test]
async fn a_gzip_stream_flushes_every_chunk() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#));
    let gate = Gate::new();
    slow.respond(Reply::json(r#"{"v": "late"}"#).gate(gate.clone()));
    let dir = portal(&fast, &slow, "out-of-order", "");
    let s = state(&dir).await;
    let res = app(s.clone(), None)
        .oneshot(
            Request::get("/")
                .header("accept-encoding", "gzip, br")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let mut body = res.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("a compressed first chunk while the slow backend is held")
        .expect("frame")
        .expect("ok")
        .into_data()
        .expect("data");
    // A sync-flushed gzip prefix decodes on its own.
    let mut decoded = Vec::new();
    let mut d = flate2::read::GzDecoder::new(&first[..]);
    let _ = d.read_to_end(&mut decoded);
    assert!(String::from_utf8_lossy(&decoded).contains("<h1>Head</h1>"));
    gate.open();
    let rest = body.collect().await.expect("rest").to_bytes();
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&all[..])
        .read_to_string(&mut text)
        .expect("a complete gzip stream");
    assert!(text.contains("<b>late</b>"));
}

#[tokio::test]
async fn json_streams_one_fragment_per_line() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#));
    let gate = Gate::new();
    slow.respond(Reply::json(r#"{"v": "late"}"#).gate(gate.clone()));
    let dir = portal(&fast, &slow, "buffered", "");
    let s = state(&dir).await;
    let res = app(s.clone(), None)
        .oneshot(
            Request::get("/api/v1/pages/home?stream=ndjson")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let mut body = res.into_body();
    let mut seen = String::new();
    while !(seen.contains("\"fast\"") && seen.contains("\"plain\"")) {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("lines before the slow one")
            .expect("frame")
            .expect("ok");
        seen.push_str(&String::from_utf8_lossy(&frame.into_data().expect("data")));
    }
    assert!(!seen.contains("late"));
    gate.open();
    let rest = body.collect().await.expect("rest").to_bytes();
    seen.push_str(&String::from_utf8_lossy(&rest));
    let lines: Vec<serde_json::Value> = seen
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["page"]["id"], "home");
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["fragment"]["model"]["v"], "late");
}

#[tokio::test]
async fn in_order_follows_the_document_whatever_order_the_layout_writes_slots_in() {
    let (fast, slow) = (Scripted::start().await, Scripted::start().await);
    fast.respond(Reply::json(r#"{"v": "quick"}"#).delay(Duration::from_millis(30)));
    slow.respond(Reply::json(r#"{"v": "late"}"#).delay(Duration::from_millis(60)));
    let dir = portal(&fast, &slow, "in-order", "");
    // Slots written last to first: the late slots' markers appear out of page order.
    dir.template(
        "layouts/page.html",
        "<html><body>{% for f in regions.main|reverse %}<div id=\"s-{{ f.id }}\">{{ f.html }}</div>{% endfor %}</body></html>",
    );
    let s = state(&dir).await;
    let (_, streamed) = whole(&s, "/").await;
    let (_, buffered) = whole(&s, "/?delivery=buffered").await;
    assert_eq!(streamed, buffered);
    assert!(
        streamed.contains("<b>quick</b>") && streamed.contains("<b>late</b>"),
        "{streamed}"
    );
}
