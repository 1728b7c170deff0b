//! Fragment chains, lifecycle caching and ODG invalidation (issue #4), end to end with
//! real backends. Time-dependent behaviour moves tokio's clock (pause, advance, resume)
//! instead of sleeping; sharing and coalescing are proven by counting backend calls.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{json, Value};
use tessera_channels::{app, runtime, AppState};
use tessera_descriptors::{ParamValue, Portal};
use tessera_engine::{Engine, PortalRequest};
use tessera_fragments::{Origin, Params, Status, Viewer};
use tessera_test_support::{Gate, PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "cache-test-token";

/// Moves tokio's clock forward without sleeping; real I/O keeps working afterwards.
async fn advance(d: Duration) {
    tokio::time::pause();
    tokio::time::advance(d).await;
    tokio::time::resume();
}

fn portal(dir: &PortalDir) -> Portal {
    Portal::load(&dir.config_dir(), &dir.templates_dir())
        .unwrap_or_else(|d| panic!("portal must load:\n{d}"))
}

/// One page `home` with a `quotes` fragment over `backend`; `lifecycle` goes inside the
/// fragment, `extra` after the template.
fn one_fragment(backend: &Scripted, lifecycle: &str, extra: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!("[portal]\nhome = \"home\"\n[admin]\ntoken = \"{TOKEN}\"\n"),
    );
    dir.file(
        "config/services/quotes.xml",
        &format!(
            r#"<service id="quotes" base-url="{}" timeout="2s"><retry attempts="0"/></service>"#,
            backend.url()
        ),
    );
    dir.fragment_xml(
        "quotes",
        &format!(
            r#"<fragment id="quotes" service="quotes" path="/quotes?s={{param.symbols}}">
                 <param name="symbols" type="list" default="SMI"/>
                 {lifecycle}
                 <template>fragments/q.html</template>
                 {extra}
               </fragment>"#
        ),
    );
    dir.template("fragments/q.html", "<b>{{ model.v }}</b>");
    dir.page_xml("home", r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/></region></page>"#);
    dir
}

async fn home(engine: &Engine) -> tessera_engine::PageOutput {
    engine
        .render_page(&PortalRequest::home())
        .await
        .expect("page")
}

fn slot(out: &tessera_engine::PageOutput) -> &tessera_fragments::FragmentResult {
    &out.slots[0].result
}

#[tokio::test]
async fn a_hundred_concurrent_misses_make_one_backend_call() {
    let backend = Scripted::start().await;
    let gate = Gate::new();
    // Not cacheable at all: without coalescing every request would call the backend.
    backend.respond(Reply::json(r#"{"v": "one"}"#).gate(gate.clone()));
    let dir = one_fragment(&backend, "", "");
    let engine = Arc::new(Engine::new(portal(&dir)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let e = engine.clone();
        tasks.spawn(async move { home(&e).await });
    }
    let inflight = engine.fragments().inflight().clone();
    tokio::time::timeout(Duration::from_secs(10), async {
        while inflight.waiters() < 100 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all hundred requests join the one fetch");
    backend.wait_for_calls(1).await;
    assert_eq!(backend.calls(), 1);
    gate.open();
    while let Some(out) = tasks.join_next().await {
        let out = out.expect("task");
        assert_eq!(slot(&out).status, Status::Ok);
        assert_eq!(slot(&out).html, "<b>one</b>");
    }
    assert_eq!(backend.calls(), 1);
    assert!(inflight.is_empty());
}

#[tokio::test]
async fn requests_that_joined_one_uncached_fetch_share_its_rendering_but_never_across_users() {
    let backend = Scripted::start().await;
    let gate = Gate::new();
    // Not stored: without sharing, every request that joined the fetch would parse the
    // body and render the template itself.
    backend.respond(Reply::json(r#"{"v": "one"}"#).gate(gate.clone()));
    let dir = one_fragment(&backend, "", "");
    // The same backend response, rendered by a template that reads the user.
    dir.fragment_xml(
        "greeting",
        r#"<fragment id="greeting" service="quotes" path="/quotes?s=SMI"><template>fragments/greeting.html</template></fragment>"#,
    );
    dir.template(
        "fragments/greeting.html",
        "{{ model.v }} for {{ user.name }}",
    );
    let engine = Arc::new(Engine::new(portal(&dir)));
    let renderer = engine.fragments().renderer().clone();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let e = engine.clone();
        tasks.spawn(async move {
            let f = e.fragments();
            let defs = &e.portal().fragments;
            let who = viewer(["alice", "bob", "carol"][i % 3]);
            let id = if i % 2 == 0 { "quotes" } else { "greeting" };
            (
                who.name.clone(),
                f.produce(&defs[id], params("SMI"), &who).await,
            )
        });
    }
    let inflight = engine.fragments().inflight().clone();
    tokio::time::timeout(Duration::from_secs(10), async {
        while inflight.waiters() < 30 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all thirty requests join the one fetch");
    gate.open();
    while let Some(joined) = tasks.join_next().await {
        let (name, r) = joined.expect("task");
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.version, None, "nothing of it is stored");
        match r.id.as_str() {
            "quotes" => assert_eq!(r.html, "<b>one</b>"),
            _ => assert_eq!(r.html, format!("one for {name}")),
        }
    }
    assert_eq!(backend.calls(), 1);
    assert_eq!(
        renderer.render_count("fragments/q.html"),
        1,
        "fifteen requests, one rendering"
    );
    assert_eq!(
        renderer.render_count("fragments/greeting.html"),
        3,
        "one rendering per user, each served to that user only"
    );
    assert_eq!(engine.fragments().cache().settled_snapshot().entries, 0);

    // A later request is not a joiner: it fetches, and renders, again.
    let again = home(&engine).await;
    assert_eq!(slot(&again).html, "<b>one</b>");
    assert_eq!(backend.calls(), 2);
    assert_eq!(renderer.render_count("fragments/q.html"), 2);
}

#[tokio::test]
async fn fresh_then_stale_while_revalidate_with_one_background_refresh() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "first"}"#));
    let dir = one_fragment(
        &backend,
        r#"<lifecycle ttl="60s" stale-while-revalidate="30s"/>"#,
        "",
    );
    let engine = Engine::new(portal(&dir));

    assert_eq!(slot(&home(&engine).await).origin, Origin::Backend);
    advance(Duration::from_secs(59)).await;
    let out = home(&engine).await;
    assert_eq!(
        (slot(&out).origin, slot(&out).html.as_str()),
        (Origin::Cache, "<b>first</b>")
    );
    assert_eq!(backend.calls(), 1, "fresh: no backend call");

    // Past the ttl, within stale-while-revalidate: served at once, refreshed behind.
    let gate = Gate::new();
    backend.respond(Reply::json(r#"{"v": "second"}"#).gate(gate.clone()));
    advance(Duration::from_secs(2)).await;
    for _ in 0..5 {
        let out = home(&engine).await;
        assert_eq!(slot(&out).status, Status::Ok);
        assert_eq!(
            (slot(&out).origin, slot(&out).html.as_str()),
            (Origin::Stale, "<b>first</b>")
        );
    }
    backend.wait_for_calls(2).await;
    assert_eq!(
        backend.calls(),
        2,
        "one background refresh for five stale uses"
    );
    gate.open();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let out = home(&engine).await;
            if slot(&out).html == "<b>second</b>" {
                assert_eq!(slot(&out).origin, Origin::Cache);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the refreshed content replaces the stale one");
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn stale_if_error_when_the_backend_fails_or_is_disabled_then_expiry() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "good"}"#));
    let dir = one_fragment(
        &backend,
        r#"<lifecycle ttl="10s" stale-if-error="5m"/>"#,
        "<fallback>No quotes.</fallback>",
    );
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal(&dir), store, &cancel)
        .await
        .expect("node");
    let engine = &state.engine();
    assert_eq!(slot(&home(engine).await).status, Status::Ok);

    advance(Duration::from_secs(11)).await;
    backend.respond(Reply::status(500));
    let out = home(engine).await;
    assert_eq!(slot(&out).status, Status::Stale);
    assert_eq!(slot(&out).html, "<b>good</b>");
    assert_eq!(
        slot(&out).message.as_deref(),
        Some("showing content from 11 s ago: quotes: the backend answered HTTP 500")
    );
    assert_eq!(backend.calls(), 2);

    // Disabled by an operator: not called, the last good content still shows.
    engine
        .services()
        .service("quotes")
        .expect("svc")
        .set_toggle(tessera_service_access::service::disabled(
            "feed broken",
            "test",
        ));
    let out = home(engine).await;
    assert_eq!(slot(&out).status, Status::Stale);
    assert_eq!(
        slot(&out).message.as_deref(),
        Some("showing content from 11 s ago: quotes: disabled by an operator: feed broken")
    );
    assert_eq!(backend.calls(), 2);

    // Past ttl + stale-if-error: nothing usable is left, the fallback shows.
    advance(Duration::from_secs(300)).await;
    let out = home(engine).await;
    assert_eq!(
        (slot(&out).status, slot(&out).cause),
        (Status::Fallback, Some(Status::Disabled))
    );
    assert_eq!(slot(&out).html, "No quotes.");
    cancel.cancel();
}

#[tokio::test]
async fn a_304_keeps_the_derived_stages_without_rendering_again() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "etagged"}"#).header("etag", "\"v1\""));
    let dir = one_fragment(&backend, r#"<lifecycle ttl="5s"/>"#, "");
    let engine = Engine::new(portal(&dir));
    let renderer = engine.fragments().renderer().clone();
    let first = home(&engine).await;
    assert_eq!(renderer.render_count("fragments/q.html"), 1);
    let version = slot(&first).version.expect("cached");

    advance(Duration::from_secs(6)).await;
    backend.respond(Reply::status(304).header("etag", "\"v1\""));
    let second = home(&engine).await;
    assert_eq!(slot(&second).origin, Origin::Revalidated);
    assert_eq!(slot(&second).html, "<b>etagged</b>");
    assert_eq!(
        slot(&second).version,
        Some(version),
        "the same rendered entry"
    );
    assert_eq!(
        renderer.render_count("fragments/q.html"),
        1,
        "not rendered again"
    );
    assert!(second.page_cached, "the assembled page is kept too");
    let sent = backend.requests();
    assert_eq!(
        sent[1]
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    // Fresh again for another ttl.
    let third = home(&engine).await;
    assert_eq!(slot(&third).origin, Origin::Cache);
    assert_eq!(backend.calls(), 2);
}

fn params(symbols: &str) -> Params {
    Params::from([(
        "symbols".to_owned(),
        ParamValue::List(symbols.split(',').map(str::to_owned).collect()),
    )])
}

fn viewer(id: &str) -> Viewer {
    Viewer {
        id: id.into(),
        name: id.to_uppercase(),
        anonymous: false,
    }
}

#[tokio::test]
async fn users_with_equal_selections_share_entries_and_per_user_fragments_never_cross() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "shared"}"#));
    let dir = one_fragment(&backend, r#"<lifecycle ttl="60s"/>"#, "");
    dir.file(
        "config/services/profile.xml",
        &format!(r#"<service id="profile" base-url="{}"/>"#, backend.url()),
    );
    dir.fragment_xml(
        "mine",
        r#"<fragment id="mine" service="profile" path="/profile/{user.id}"><lifecycle ttl="60s"/><template>fragments/mine.html</template></fragment>"#,
    );
    dir.template("fragments/mine.html", "{{ model.v }} for {{ model.who }}");
    dir.fragment_xml(
        "hello",
        r#"<fragment id="hello"><template>fragments/hello.html</template></fragment>"#,
    );
    dir.template("fragments/hello.html", "Hello {{ user.name }}");
    dir.fragment_xml(
        "static",
        r#"<fragment id="static"><template>fragments/static.html</template></fragment>"#,
    );
    dir.template("fragments/static.html", "Call us");
    backend.route(
        "/profile/alice",
        Reply::json(r#"{"v": "balance 100", "who": "alice"}"#),
    );
    backend.route(
        "/profile/bob",
        Reply::json(r#"{"v": "balance 7", "who": "bob"}"#),
    );
    let engine = Engine::new(portal(&dir));
    let f = engine.fragments();
    let defs = &engine.portal().fragments;
    let (alice, bob) = (viewer("alice"), viewer("bob"));

    let a = f.produce(&defs["quotes"], params("SMI,DAX"), &alice).await;
    let b = f.produce(&defs["quotes"], params("SMI,DAX"), &bob).await;
    assert_eq!(
        backend.calls_to("/quotes"),
        1,
        "equal selections: one backend call"
    );
    assert_eq!(a.version, b.version, "and one shared rendered entry");
    assert!(!a.per_user);
    let c = f.produce(&defs["quotes"], params("AAPL"), &bob).await;
    assert_eq!(
        backend.calls_to("/quotes"),
        2,
        "another selection: its own entry"
    );
    assert_ne!(c.version, a.version);

    let ma = f.produce(&defs["mine"], Params::new(), &alice).await;
    let mb = f.produce(&defs["mine"], Params::new(), &bob).await;
    assert_eq!(
        (ma.html.as_str(), mb.html.as_str()),
        ("balance 100 for alice", "balance 7 for bob")
    );
    assert!(ma.per_user && mb.per_user);
    let ma2 = f.produce(&defs["mine"], Params::new(), &alice).await;
    assert_eq!((ma2.origin, ma2.version), (Origin::Cache, ma.version));

    let ha = f.produce(&defs["hello"], Params::new(), &alice).await;
    let hb = f.produce(&defs["hello"], Params::new(), &bob).await;
    assert_eq!(
        (ha.html.as_str(), hb.html.as_str()),
        ("Hello ALICE", "Hello BOB")
    );
    assert_ne!(ha.version, hb.version);
    let sa = f.produce(&defs["static"], Params::new(), &alice).await;
    let sb = f.produce(&defs["static"], Params::new(), &bob).await;
    assert!(!sa.per_user);
    assert_eq!(
        sa.version, sb.version,
        "a template that does not read the user is shared"
    );
}

async fn admin(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let res = app(state.clone(), None)
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn invalidation_by_object_with_impact_preview() {
    let backend = Scripted::start().await;
    backend
        .respond(Reply::json(r#"{"v": "v1"}"#).header("surrogate-key", "quotes:smi market-data"));
    let dir = one_fragment(
        &backend,
        r#"<lifecycle ttl="1h"/>"#,
        r#"<depends-on object="quotes"/>"#,
    );
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal(&dir), store, &cancel)
        .await
        .expect("node");
    home(&state.engine()).await;
    home(&state.engine()).await;
    assert_eq!(backend.calls(), 1);

    let (code, graph) = admin(&state, "GET", "/admin/api/graph/quotes:smi", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(graph["fragments"], json!(["quotes"]));
    assert_eq!(graph["pages"], json!(["home"]));
    assert_eq!(graph["cached_entries"], 4, "source, model, rendered, page");

    let (code, preview) = admin(
        &state,
        "POST",
        "/admin/api/invalidate",
        Some(json!({"objects": ["quotes:smi"], "dry_run": true})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(preview["affected"]["entries"], 4);
    assert_eq!(preview["affected"]["fragments"]["quotes"], 2);
    assert_eq!(preview["affected"]["pages"]["home"], 1);
    assert_eq!(preview["pages"], json!(["home"]));
    home(&state.engine()).await;
    assert_eq!(backend.calls(), 1, "a dry run removes nothing");

    backend.respond(Reply::json(r#"{"v": "v2"}"#));
    let (_, done) = admin(
        &state,
        "POST",
        "/admin/api/invalidate",
        Some(json!({"objects": ["quotes:smi"]})),
    )
    .await;
    assert_eq!(done["affected"]["entries"], 4);
    let out = home(&state.engine()).await;
    assert_eq!(
        (slot(&out).html.as_str(), backend.calls()),
        ("<b>v2</b>", 2)
    );

    // By the descriptor's object key too; an unknown key affects nothing.
    let (_, by_desc) = admin(
        &state,
        "POST",
        "/admin/api/invalidate",
        Some(json!({"objects": ["quotes"], "mode": "hard"})),
    )
    .await;
    assert_eq!(by_desc["affected"]["entries"], 4);
    let (code, none) = admin(
        &state,
        "POST",
        "/admin/api/invalidate",
        Some(json!({"objects": ["nothing:here"]})),
    )
    .await;
    assert_eq!(
        (code, none["affected"]["entries"].as_u64()),
        (StatusCode::OK, Some(0))
    );

    for (body, message) in [
        (json!({}), "nothing to invalidate: give at least one of objects, fragments, pages, users, templates"),
        (json!({"objects": "news"}), "malformed invalidation request"),
        (json!({"objects": ["x"], "mode": "nuke"}), "malformed invalidation request"),
        (json!({"objects": ["x"], "colour": 1}), "malformed invalidation request"),
    ] {
        let (code, err) = admin(&state, "POST", "/admin/api/invalidate", Some(body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(err["error"].as_str().is_some_and(|e| e.starts_with(message)), "{err}");
    }
    let audit = state.store.audit(10, None).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.entry.action == "cache.invalidate")
            .count(),
        3,
        "dry runs are not audited"
    );
    cancel.cancel();
}

#[tokio::test]
async fn soft_invalidation_serves_stale_only_on_error_and_template_invalidation_rerenders() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "old"}"#));
    let dir = one_fragment(
        &backend,
        r#"<lifecycle ttl="1h" stale-if-error="1h"/>"#,
        r#"<depends-on object="q"/>"#,
    );
    let engine = Engine::new(portal(&dir));
    home(&engine).await;
    let soft = tessera_fragments::cache::Targets {
        objects: vec!["q".into()],
        ..Default::default()
    };
    engine.invalidate(&soft, tessera_fragments::cache::Mode::Soft, false);
    backend.respond(Reply::status(503));
    let out = home(&engine).await;
    assert_eq!(
        (slot(&out).status, slot(&out).html.as_str()),
        (Status::Stale, "<b>old</b>")
    );
    assert_eq!(
        backend.calls(),
        2,
        "soft-invalidated: the backend is asked first"
    );

    backend.respond(Reply::json(r#"{"v": "new"}"#));
    let out = home(&engine).await;
    assert_eq!(slot(&out).html, "<b>new</b>");
    let renders = engine
        .fragments()
        .renderer()
        .render_count("fragments/q.html");
    let by_template = tessera_fragments::cache::Targets {
        templates: vec!["fragments/q.html".into()],
        ..Default::default()
    };
    let impact = engine.invalidate(&by_template, tessera_fragments::cache::Mode::Hard, false);
    assert_eq!(impact.by_stage.get("rendered"), Some(&1));
    assert_eq!(
        impact.by_stage.get("source"),
        None,
        "a template change leaves the data alone"
    );
    home(&engine).await;
    assert_eq!(
        engine
            .fragments()
            .renderer()
            .render_count("fragments/q.html"),
        renders + 1
    );
    assert_eq!(backend.calls(), 3);
}

#[tokio::test]
async fn on_invalidate_refresh_keeps_serving_while_fetching_again() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "before"}"#));
    let dir = one_fragment(
        &backend,
        r#"<lifecycle ttl="1h" on-invalidate="refresh"/>"#,
        r#"<depends-on object="q"/>"#,
    );
    let engine = Engine::new(portal(&dir));
    home(&engine).await;
    let gate = Gate::new();
    backend.respond(Reply::json(r#"{"v": "after"}"#).gate(gate.clone()));
    let impact = engine.invalidate(
        &tessera_fragments::cache::Targets {
            objects: vec!["q".into()],
            ..Default::default()
        },
        tessera_fragments::cache::Mode::Hard,
        false,
    );
    assert_eq!(impact.refreshing, 1);
    backend.wait_for_calls(2).await;
    assert_eq!(
        slot(&home(&engine).await).html,
        "<b>before</b>",
        "served while the refresh runs"
    );
    gate.open();
    tokio::time::timeout(Duration::from_secs(5), async {
        while slot(&home(&engine).await).html != "<b>after</b>" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the refreshed entry replaces the old one");
}

#[tokio::test]
async fn the_cache_stays_within_its_byte_budget() {
    let backend = Scripted::start().await;
    let big = format!(r#"{{"v": "{}"}}"#, "x".repeat(4000));
    backend.respond(Reply::json(big));
    let dir = one_fragment(&backend, r#"<lifecycle ttl="1h"/>"#, "");
    dir.file(
        "config/tessera.toml",
        "[portal]\nhome = \"home\"\n[cache]\nmax-bytes = 100000\n",
    );
    let engine = Engine::new(portal(&dir));
    let f = engine.fragments();
    for i in 0..200 {
        f.produce(
            &engine.portal().fragments["quotes"],
            params(&format!("S{i}")),
            &Viewer::anonymous(),
        )
        .await;
    }
    let cache = f.cache();
    cache.maintain();
    let snap = cache.snapshot();
    assert!(snap.bytes <= 100_000, "{snap:?}");
    assert!(snap.evictions > 0);
    let check = cache.graph_check();
    assert_eq!((check.dangling, check.entries_not_cached), (0, 0));
}

#[tokio::test]
async fn pages_carry_etags_and_answer_304() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "x"}"#));
    let dir = one_fragment(&backend, r#"<lifecycle ttl="1h" max-age="30s"/>"#, "");
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let state = AppState::new(Engine::new(portal(&dir)), store);
    let get = |etag: Option<String>| {
        let state = state.clone();
        async move {
            let mut req = Request::get("/");
            if let Some(e) = etag {
                req = req.header("if-none-match", e);
            }
            app(state, None)
                .oneshot(req.body(Body::empty()).expect("req"))
                .await
                .expect("infallible")
        }
    };
    let first = get(None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().expect("ascii").to_owned();
    assert_eq!(first.headers()["cache-control"], "public, max-age=30");
    let again = get(Some(etag.clone())).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"].to_str().expect("ascii"), etag);
    let other = get(Some("\"p0\"".into())).await;
    assert_eq!(other.status(), StatusCode::OK);
}
