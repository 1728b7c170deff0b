//! The spine end to end: descriptors on disk → engine → HTTP, against real backends on
//! 127.0.0.1:0. Concurrency is proven by counting, never by wall-clock time.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use tessera_channels::{app, AppState};
use tessera_descriptors::Portal;
use tessera_engine::{Engine, PortalRequest};
use tessera_fragments::Status;
use tessera_test_support::{Gate, PortalDir, Reply, Scripted};
use tower::ServiceExt;

fn engine(dir: &PortalDir) -> Engine {
    let portal = Portal::load(&dir.config_dir(), &dir.templates_dir())
        .unwrap_or_else(|d| panic!("test portal must load:\n{d}"));
    Engine::new(portal)
}

async fn get(engine: Engine, path: &str) -> (StatusCode, String) {
    let store = tessera_store::open("sqlite::memory:")
        .await
        .expect("in-memory store");
    let state = AppState::new(engine, store);
    let router = app(state, None);
    let res = router
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A fragment over a JSON backend, rendered as `<b>{{ model.v }}</b>`.
fn json_fragment(dir: &PortalDir, id: &str, backend: &Scripted) {
    dir.service(id, &backend.url());
    dir.fragment_xml(
        id,
        &format!(
            r#"<fragment id="{id}" service="{id}" path="/data" title="{id} title">
                 <template>fragments/value.html</template>
               </fragment>"#
        ),
    );
}

fn page(dir: &PortalDir, ids: &[&str], timeout: &str) {
    let slots: String = ids
        .iter()
        .map(|i| format!(r#"<fragment ref="{i}"/>"#))
        .collect();
    dir.page_xml(
        "home",
        &format!(r#"<page id="home" layout="layouts/base.html" timeout="{timeout}"><region name="main">{slots}</region></page>"#),
    );
}

fn value_template(dir: &PortalDir) {
    dir.template("fragments/value.html", "<b>{{ model.v }}</b>");
}

#[tokio::test]
async fn eight_fragments_from_eight_backends_are_fetched_concurrently() {
    let dir = PortalDir::new();
    value_template(&dir);
    // Every backend holds its answer until all eight requests are in flight at once: a
    // portal that fetched one after another would never open the gate.
    let gate = Gate::new();
    let mut backends = Vec::new();
    let mut ids = Vec::new();
    for i in 0..8 {
        let b = Scripted::start().await;
        b.respond(Reply::json(format!(r#"{{"v": "value-{i}"}}"#)).gate(gate.clone()));
        let id = format!("f{i}");
        json_fragment(&dir, &id, &b);
        ids.push(id);
        backends.push(b);
    }
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    page(&dir, &id_refs, "10s");
    let engine = engine(&dir);

    let request = tokio::spawn(get(engine, "/"));
    let all_in_flight = async {
        for b in &backends {
            b.wait_for_in_flight(1).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all_in_flight)
        .await
        .expect("all eight backend requests must be in flight at the same time");
    let in_flight: usize = backends.iter().map(Scripted::in_flight).sum();
    assert_eq!(in_flight, 8);
    gate.open();

    let (status, body) = request.await.expect("request task");
    assert_eq!(status, StatusCode::OK);
    for (i, backend) in backends.iter().enumerate() {
        assert!(
            body.contains(&format!("<b>value-{i}</b>")),
            "fragment {i} missing in {body}"
        );
        assert_eq!(backend.calls(), 1);
        assert_eq!(backend.peak_in_flight(), 1);
    }
}

#[tokio::test]
async fn a_hanging_backend_times_out_while_the_others_render() {
    let dir = PortalDir::new();
    value_template(&dir);
    let fast = Scripted::start().await;
    fast.respond(Reply::json(r#"{"v": "fresh"}"#));
    let hung = Scripted::start().await;
    hung.respond(Reply::hang());
    json_fragment(&dir, "fast", &fast);
    dir.service("hung", &hung.url()); // overwritten below with a short timeout
    dir.file(
        "config/services/hung.xml",
        &format!(
            r#"<service id="hung" base-url="{}" timeout="200ms"/>"#,
            hung.url()
        ),
    );
    dir.fragment_xml(
        "hung",
        r#"<fragment id="hung" service="hung" path="/data"><template>fragments/value.html</template></fragment>"#,
    );
    page(&dir, &["fast", "hung"], "5s");
    let engine = engine(&dir);

    let out = engine
        .render_page(&PortalRequest::home())
        .await
        .expect("page");
    let by_id = |id: &str| {
        &out.slots
            .iter()
            .find(|s| s.result.id == id)
            .expect("slot")
            .result
    };
    assert_eq!(by_id("fast").status, Status::Ok);
    assert_eq!(by_id("fast").html, "<b>fresh</b>");
    assert_eq!(by_id("hung").status, Status::Timeout);
    assert_eq!(
        by_id("hung").message.as_deref(),
        Some("hung: no answer within 200ms")
    );
    assert!(out.html.contains(r#"data-status="timeout""#));
    assert!(out.html.contains("<b>fresh</b>"));
    // The timed-out exchange was dropped, closing its connection.
    tokio::time::timeout(Duration::from_secs(5), hung.wait_for_idle())
        .await
        .expect("the hung request is released once the portal gives up");
}

#[tokio::test]
async fn the_page_deadline_bounds_every_fragment() {
    let dir = PortalDir::new();
    value_template(&dir);
    let slow = Scripted::start().await;
    slow.respond(Reply::hang());
    json_fragment(&dir, "slow", &slow); // service timeout 1s
    dir.fragment_xml(
        "slow",
        r#"<fragment id="slow" service="slow" path="/data"><template>fragments/value.html</template><fallback>Slow is resting.</fallback></fragment>"#,
    );
    page(&dir, &["slow"], "100ms");
    let out = engine(&dir)
        .render_page(&PortalRequest::home())
        .await
        .expect("page");
    let r = &out.slots[0].result;
    assert_eq!(r.status, Status::Fallback);
    assert_eq!(r.cause, Some(Status::Timeout));
    assert_eq!(r.html, "Slow is resting.");
    assert_eq!(
        r.message.as_deref(),
        Some("not ready within the page deadline of 100ms")
    );
}

#[tokio::test]
async fn garbage_from_a_backend_is_an_error_result_and_the_page_is_served() {
    let dir = PortalDir::new();
    value_template(&dir);
    let cases: [(&str, Reply, &str); 4] = [
        (
            "badjson",
            Reply::json(r#"{"v": "#),
            "badjson: invalid JSON from the backend: EOF while parsing a value at line 1 column 6",
        ),
        (
            "wrongtype",
            Reply::html("<h1>Maintenance</h1>"),
            "wrongtype: expected JSON but the backend sent text/html",
        ),
        (
            "fails",
            Reply::json(r#"{"error": "boom"}"#).with_status(500),
            "fails: the backend answered HTTP 500",
        ),
        (
            "notutf8",
            Reply::json(vec![b'"', 0xff, b'"']),
            "notutf8: the backend's answer is not valid UTF-8 (at byte 1)",
        ),
    ];
    let mut backends = Vec::new();
    for (id, reply, _) in &cases {
        let b = Scripted::start().await;
        b.respond(reply.clone());
        json_fragment(&dir, id, &b);
        backends.push(b);
    }
    let good = Scripted::start().await;
    good.respond(Reply::json(r#"{"v": "fine"}"#));
    json_fragment(&dir, "good", &good);
    page(
        &dir,
        &["badjson", "wrongtype", "fails", "notutf8", "good"],
        "5s",
    );
    let engine = engine(&dir);

    let out = engine
        .render_page(&PortalRequest::home())
        .await
        .expect("page");
    for (id, _, message) in &cases {
        let r = &out
            .slots
            .iter()
            .find(|s| s.result.id == *id)
            .expect("slot")
            .result;
        assert_eq!(r.status, Status::Error, "{id}");
        assert_eq!(r.message.as_deref(), Some(*message), "{id}");
    }
    let (status, body) = get(engine, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<b>fine</b>"));
    assert_eq!(body.matches(r#"data-status="error""#).count(), 4);
}

#[tokio::test]
async fn xml_html_and_backendless_fragments() {
    let dir = PortalDir::new();
    let markets = Scripted::start().await;
    markets.respond(Reply::xml(
        r#"<summary as-of="09:30"><index symbol="SMI" last="11820.5"/><index symbol="DAX" last="18500"/></summary>"#,
    ));
    let research = Scripted::start().await;
    research.respond(Reply::html(
        r#"<ul class="research"><li>Outlook 2027</li></ul>"#,
    ));
    dir.file(
        "config/services/markets.xml",
        &format!(
            r#"<service id="markets" base-url="{}" format="xml"/>"#,
            markets.url()
        ),
    );
    dir.file(
        "config/services/research.xml",
        &format!(
            r#"<service id="research" base-url="{}" format="html"/>"#,
            research.url()
        ),
    );
    dir.fragment_xml(
        "markets",
        r#"<fragment id="markets" service="markets" path="/summary" select="index"><template>fragments/markets.html</template></fragment>"#,
    );
    dir.fragment_xml(
        "research",
        r#"<fragment id="research" service="research" path="/teaser"/>"#,
    );
    dir.fragment_xml(
        "hello",
        r#"<fragment id="hello"><template>fragments/hello.html</template></fragment>"#,
    );
    dir.template(
        "fragments/markets.html",
        "{% for i in model %}[{{ i.symbol }} {{ i.last }}]{% endfor %}",
    );
    dir.template("fragments/hello.html", "Hello {{ user.name }}");
    page(&dir, &["markets", "research", "hello"], "5s");

    let (status, body) = get(engine(&dir), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("[SMI 11820.5][DAX 18500]"), "{body}");
    assert!(
        body.contains(r#"<ul class="research"><li>Outlook 2027</li></ul>"#),
        "{body}"
    );
    assert!(body.contains("Hello Guest"), "{body}");
}

#[tokio::test]
async fn backend_data_is_escaped_and_parameters_are_encoded() {
    let dir = PortalDir::new();
    let b = Scripted::start().await;
    b.respond(Reply::json(r#"{"v": "<script>alert(1)</script>"}"#));
    dir.service("q", &b.url());
    dir.fragment_xml(
        "q",
        r#"<fragment id="q" service="q" path="/quotes?symbols={param.symbols}&amp;n={param.n}">
             <param name="symbols" type="list" default="SMI,S&amp;P 500"/>
             <param name="n" type="int" default="3"/>
             <template>fragments/value.html</template>
           </fragment>"#,
    );
    value_template(&dir);
    page(&dir, &["q"], "5s");
    let (_, body) = get(engine(&dir), "/").await;
    assert!(
        body.contains("<b>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</b>"),
        "{body}"
    );
    assert_eq!(
        b.requests()[0].path_and_query,
        "/quotes?symbols=SMI,S%26P%20500&n=3"
    );
}

#[tokio::test]
async fn an_unknown_page_gets_the_portal_404_page() {
    let dir = PortalDir::new();
    dir.template(
        "errors/404.html",
        "<h1>Lost?</h1> nothing at {{ path }} — try {{ nav|length }} pages",
    );
    dir.fragment_xml(
        "hello",
        r#"<fragment id="hello"><template>fragments/hello.html</template></fragment>"#,
    );
    dir.template("fragments/hello.html", "hi");
    page(&dir, &["hello"], "1s");
    let (status, body) = get(engine(&dir), "/pages/nope%3Cx%3E").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        "<h1>Lost?</h1> nothing at &#x2f;pages&#x2f;nope%3Cx%3E — try 1 pages"
    );
    let (status, _) = get(engine(&dir), "/no/such/thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
