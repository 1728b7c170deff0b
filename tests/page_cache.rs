//! The page cache's fast path (issue #4's cache-hit page path): a page is served whole
//! from the cache — none of its fragments produced — only while everything it was built
//! from is still current. Each test serves a page whole, changes one thing the page
//! depends on (an object, a fragment's ttl, a source's validators, the user, the access
//! tokens, the profile, the portal version), and proves by backend calls, render counts
//! and the page's content that the next request assembles it again. Time moves under
//! tokio's paused clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use tessera_channels::{app, runtime, AppState};
use tessera_descriptors::Portal;
use tessera_engine::{Engine, PageOutput, PortalRequest};
use tessera_fragments::cache::{Mode, Targets};
use tessera_fragments::{FragmentState, Profile, Viewer};
use tessera_service_access::ServiceAccess;
use tessera_test_support::{Gate, PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

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

/// One page `home` with a `quotes` fragment over `backend`; `inner` goes inside the
/// fragment element.
fn quotes_portal(backend: &Scripted, inner: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.service("quotes", &backend.url());
    dir.fragment_xml(
        "quotes",
        &format!(
            r#"<fragment id="quotes" service="quotes" path="/quotes">
                 <template>fragments/q.html</template>
                 {inner}
               </fragment>"#
        ),
    );
    dir.template("fragments/q.html", "<b>{{ model.v }}</b>");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="quotes"/></region></page>"#,
    );
    dir
}

async fn serve(engine: &Engine, request: &PortalRequest) -> PageOutput {
    engine.serve_page(request).await.expect("page")
}

async fn home(engine: &Engine) -> PageOutput {
    serve(engine, &PortalRequest::home()).await
}

/// Served whole from the page cache: nothing produced.
fn whole(out: &PageOutput) -> bool {
    !out.fragments_produced
}

fn layout_renders(engine: &Engine) -> u64 {
    engine
        .fragments()
        .renderer()
        .render_count("layouts/base.html")
}

fn signed_in(id: &str, tokens: &[&str]) -> PortalRequest {
    PortalRequest {
        viewer: Viewer {
            id: id.into(),
            name: id.to_uppercase(),
            anonymous: false,
        },
        tokens: tokens
            .iter()
            .map(|t| (*t).to_owned())
            .collect::<BTreeSet<_>>()
            .into(),
        ..PortalRequest::home()
    }
}

#[tokio::test]
async fn an_object_invalidation_makes_the_next_request_assemble_the_page_again() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "one"}"#));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="1h"/><depends-on object="q"/>"#);
    let engine = Engine::new(portal(&dir));

    let first = home(&engine).await;
    assert!(!whole(&first) && !first.page_cached);
    assert!(first.html.contains("<b>one</b>"), "{}", first.html);
    let second = home(&engine).await;
    assert!(whole(&second), "the second request is served whole");
    assert!(second.slots.is_empty());
    assert_eq!(
        (&*second.html, &second.etag),
        (&*first.html, &first.etag),
        "the same page, the same page-stage ETag"
    );
    assert_eq!((backend.calls(), layout_renders(&engine)), (1, 1));

    // An unrelated object leaves the page alone.
    let other = Targets {
        objects: vec!["other".into()],
        ..Default::default()
    };
    assert_eq!(engine.invalidate(&other, Mode::Hard, false).entries, 0);
    assert!(whole(&home(&engine).await));

    backend.respond(Reply::json(r#"{"v": "two"}"#));
    let q = Targets {
        objects: vec!["q".into()],
        ..Default::default()
    };
    let impact = engine.invalidate(&q, Mode::Hard, false);
    assert_eq!(
        impact.by_stage.get("page"),
        Some(&1),
        "the page goes with its parts: {impact:?}"
    );
    let third = home(&engine).await;
    assert!(!whole(&third), "assembled again after the invalidation");
    assert!(third.html.contains("<b>two</b>"), "{}", third.html);
    assert_ne!(third.etag, first.etag);
    assert_eq!((backend.calls(), layout_renders(&engine)), (2, 2));
    let fourth = home(&engine).await;
    assert!(whole(&fourth));
    assert_eq!(&*fourth.html, &*third.html);
}

#[tokio::test]
async fn a_fragment_ttl_expiry_ends_whole_pages_under_paused_time() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "early"}"#));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="60s"/>"#);
    let engine = Engine::new(portal(&dir));
    home(&engine).await;
    advance(Duration::from_secs(59)).await;
    assert!(whole(&home(&engine).await), "fresh for 60 s");
    assert_eq!(backend.calls(), 1);

    backend.respond(Reply::json(r#"{"v": "late"}"#));
    advance(Duration::from_secs(2)).await;
    let out = home(&engine).await;
    assert!(
        !whole(&out),
        "past the fragment's ttl the page is assembled again"
    );
    assert!(out.html.contains("<b>late</b>"), "{}", out.html);
    assert_eq!(backend.calls(), 2);
    assert!(
        whole(&home(&engine).await),
        "and whole again for the next ttl"
    );
    assert_eq!(backend.calls(), 2);
}

#[tokio::test]
async fn stale_while_revalidate_is_never_whole_and_the_refresh_replaces_the_page() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "first"}"#));
    let dir = quotes_portal(
        &backend,
        r#"<lifecycle ttl="60s" stale-while-revalidate="30s"/>"#,
    );
    let engine = Engine::new(portal(&dir));
    home(&engine).await;
    assert!(whole(&home(&engine).await));

    let gate = Gate::new();
    backend.respond(Reply::json(r#"{"v": "second"}"#).gate(gate.clone()));
    advance(Duration::from_secs(61)).await;
    for _ in 0..3 {
        let out = home(&engine).await;
        assert!(
            !whole(&out),
            "within stale-while-revalidate: produced, not whole"
        );
        assert!(out.html.contains("<b>first</b>"), "{}", out.html);
        assert_eq!(
            out.slots[0].result.origin,
            tessera_fragments::Origin::Stale,
            "served stale while the refresh runs"
        );
    }
    backend.wait_for_calls(2).await;
    gate.open();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !home(&engine).await.html.contains("<b>second</b>") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the refreshed source replaces the page");
    let out = home(&engine).await;
    assert!(whole(&out) && out.html.contains("<b>second</b>"));
    assert_eq!(backend.calls(), 2, "one background refresh");
}

#[tokio::test]
async fn a_304_renews_the_whole_page_without_rendering_it_again() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "etagged"}"#).header("etag", "\"v1\""));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="5s"/>"#);
    let engine = Engine::new(portal(&dir));
    let first = home(&engine).await;
    assert!(whole(&home(&engine).await));

    advance(Duration::from_secs(6)).await;
    backend.respond(Reply::status(304).header("etag", "\"v1\""));
    let revalidated = home(&engine).await;
    assert!(!whole(&revalidated), "the source had to be asked");
    assert!(revalidated.page_cached, "unchanged parts: the cached page");
    assert_eq!(revalidated.etag, first.etag);
    assert_eq!(backend.calls(), 2);
    let renewed = home(&engine).await;
    assert!(whole(&renewed), "fresh again for another ttl: whole again");
    assert_eq!(renewed.etag, first.etag);
    assert_eq!((backend.calls(), layout_renders(&engine)), (2, 1));
}

#[tokio::test]
async fn soft_invalidation_stops_whole_pages_until_the_parts_are_fetched_again() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "old"}"#));
    let dir = quotes_portal(
        &backend,
        r#"<lifecycle ttl="1h" stale-if-error="1h"/><depends-on object="q"/>"#,
    );
    let engine = Engine::new(portal(&dir));
    home(&engine).await;
    assert!(whole(&home(&engine).await));
    let q = Targets {
        objects: vec!["q".into()],
        ..Default::default()
    };
    let impact = engine.invalidate(&q, Mode::Soft, false);
    assert_eq!(impact.by_stage.get("page"), Some(&1), "{impact:?}");

    backend.respond(Reply::json(r#"{"v": "new"}"#));
    let out = home(&engine).await;
    assert!(!whole(&out), "a soft-invalidated page is not served whole");
    assert!(out.html.contains("<b>new</b>"), "{}", out.html);
    assert_eq!(backend.calls(), 2, "the backend was asked first");
    let again = home(&engine).await;
    assert!(whole(&again) && again.html.contains("<b>new</b>"));
}

#[tokio::test]
async fn a_fragment_without_a_backend_is_whole_until_its_own_ttl() {
    let dir = PortalDir::new();
    dir.fragment_xml(
        "banner",
        r#"<fragment id="banner"><template>fragments/banner.html</template><lifecycle ttl="10s"/></fragment>"#,
    );
    dir.template("fragments/banner.html", "<p>banner</p>");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="banner"/></region></page>"#,
    );
    let engine = Engine::new(portal(&dir));
    let renders = || {
        engine
            .fragments()
            .renderer()
            .render_count("fragments/banner.html")
    };
    home(&engine).await;
    advance(Duration::from_secs(9)).await;
    assert!(whole(&home(&engine).await));
    assert_eq!(renders(), 1);
    advance(Duration::from_secs(2)).await;
    let out = home(&engine).await;
    assert!(!whole(&out), "past its ttl the banner is rendered again");
    assert_eq!(renders(), 2);
}

#[tokio::test]
async fn pages_with_per_user_parts_are_keyed_by_user_and_invalidated_per_user() {
    let backend = Scripted::start().await;
    backend.route("/acct/alice", Reply::json(r#"{"v": "alice-balance"}"#));
    backend.route("/acct/bob", Reply::json(r#"{"v": "bob-balance"}"#));
    let dir = PortalDir::new();
    dir.service("bank", &backend.url());
    dir.fragment_xml(
        "acct",
        r#"<fragment id="acct" service="bank" path="/acct/{user.id}"><template>fragments/q.html</template><lifecycle ttl="1h"/></fragment>"#,
    );
    dir.fragment_xml(
        "hello",
        r#"<fragment id="hello"><template>fragments/hello.html</template></fragment>"#,
    );
    dir.template("fragments/q.html", "<b>{{ model.v }}</b>");
    dir.template("fragments/hello.html", "Hello {{ user.name }}");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="acct"/><fragment ref="hello"/></region></page>"#,
    );
    let engine = Engine::new(portal(&dir));
    let (alice, bob) = (
        signed_in("alice", &["public"]),
        signed_in("bob", &["public"]),
    );

    serve(&engine, &alice).await;
    let a = serve(&engine, &alice).await;
    assert!(whole(&a) && a.per_user);
    assert!(a.html.contains("alice-balance") && a.html.contains("Hello ALICE"));
    let b = serve(&engine, &bob).await;
    assert!(!whole(&b), "another user's page is never alice's");
    assert!(b.html.contains("bob-balance") && b.html.contains("Hello BOB"));
    assert!(!b.html.contains("alice"), "{}", b.html);
    assert!(whole(&serve(&engine, &bob).await));

    let impact = engine.invalidate(
        &Targets {
            users: vec!["alice".into()],
            ..Default::default()
        },
        Mode::Hard,
        false,
    );
    assert_eq!(impact.by_stage.get("page"), Some(&1), "{impact:?}");
    assert!(!whole(&serve(&engine, &alice).await), "alice's page goes");
    assert!(whole(&serve(&engine, &bob).await), "bob's stays");
    assert_eq!(backend.calls_to("/acct/alice"), 2);
    assert_eq!(backend.calls_to("/acct/bob"), 1);
}

/// The first burst of a cold cache: many users' first pages at once, all missing the
/// same shared fragment. Each request renders the shared fragment itself; the first entry
/// stored must stay, or every page built on it meanwhile would go when a later copy
/// replaced it — and those users' next requests would assemble their pages again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_burst_of_users_leaves_every_users_page_cached() {
    let backend = Scripted::start().await;
    let gate = Gate::new();
    backend.respond(Reply::json(r#"{"v": "shared"}"#).gate(gate.clone()));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="1h"/>"#);
    dir.fragment_xml(
        "hello",
        r#"<fragment id="hello"><template>fragments/hello.html</template></fragment>"#,
    );
    dir.template("fragments/hello.html", "Hello {{ user.name }}");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="quotes"/><fragment ref="hello"/></region></page>"#,
    );
    let engine = Arc::new(Engine::new(portal(&dir)));
    let users: Vec<PortalRequest> = (0..24)
        .map(|n| signed_in(&format!("user{n}"), &["public"]))
        .collect();
    let mut burst = tokio::task::JoinSet::new();
    for request in users.clone() {
        let engine = engine.clone();
        burst.spawn(async move { engine.serve_page(&request).await.expect("page") });
    }
    // Every request waits on the one coalesced fetch, then all go on at once.
    let inflight = engine.fragments().inflight().clone();
    tokio::time::timeout(Duration::from_secs(10), async {
        while inflight.waiters() < users.len() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the whole burst waits on the one fetch");
    gate.open();
    while let Some(out) = burst.join_next().await {
        assert!(out.expect("task").html.contains("<b>shared</b>"));
    }
    assert_eq!(backend.calls(), 1);
    for request in &users {
        let out = serve(&engine, request).await;
        assert!(
            whole(&out),
            "{}'s page was cached by the burst",
            request.viewer.id
        );
    }
}

#[tokio::test]
async fn access_tokens_and_the_profile_are_part_of_the_page_instance() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "gold-only"}"#));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="1h"/><access tokens="gold"/>"#);
    dir.fragment_xml(
        "theme",
        r#"<fragment id="theme"><template>fragments/theme.html</template></fragment>"#,
    );
    dir.template("fragments/theme.html", "theme={{ profile.theme }}");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="quotes"/><fragment ref="theme"/></region></page>"#,
    );
    let engine = Engine::new(portal(&dir));
    let with = |tokens: &[&str], theme: &str| PortalRequest {
        tokens: tokens
            .iter()
            .map(|t| (*t).to_owned())
            .collect::<BTreeSet<_>>()
            .into(),
        profile: Profile::new(BTreeMap::from([("theme".to_owned(), theme.to_owned())])),
        ..PortalRequest::home()
    };
    let gold = with(&["public", "gold"], "dark");
    serve(&engine, &gold).await;
    let out = serve(&engine, &gold).await;
    assert!(whole(&out) && out.html.contains("gold-only"));

    // The same anonymous viewer without the token: its own instance, the slot forbidden.
    let plain = with(&["public"], "dark");
    let out = serve(&engine, &plain).await;
    assert!(!whole(&out));
    assert!(!out.html.contains("gold-only"), "{}", out.html);
    assert!(
        out.html.contains(r#"data-status="forbidden""#),
        "{}",
        out.html
    );

    // Another profile: the fragment reading it shows that one.
    let light = with(&["public", "gold"], "light");
    let out = serve(&engine, &light).await;
    assert!(!whole(&out));
    assert!(out.html.contains("theme=light"), "{}", out.html);
    assert!(whole(&serve(&engine, &gold).await));
    assert!(serve(&engine, &gold).await.html.contains("theme=dark"));
    assert_eq!(backend.calls(), 1, "one source for every instance");
}

#[tokio::test]
async fn the_navigation_a_users_tokens_allow_is_part_of_the_page_instance() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "q"}"#));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="1h"/>"#);
    dir.template(
        "layouts/nav.html",
        "{% for p in nav %}[{{ p.title }}]{% endfor %}{% for f in regions.main %}{{ f.html }}{% endfor %}",
    );
    dir.page_xml(
        "home",
        r#"<page id="home" title="Home" layout="layouts/nav.html"><region name="main"><fragment ref="quotes"/></region></page>"#,
    );
    dir.page_xml(
        "vault",
        r#"<page id="vault" title="Vault" layout="layouts/nav.html"><access tokens="gold"/><region name="main"><fragment ref="quotes"/></region></page>"#,
    );
    let engine = Engine::new(portal(&dir));
    let gold = PortalRequest {
        tokens: BTreeSet::from(["public".to_owned(), "gold".to_owned()]).into(),
        ..PortalRequest::home()
    };
    serve(&engine, &gold).await;
    let out = serve(&engine, &gold).await;
    assert!(
        whole(&out) && out.html.starts_with("[Home][Vault]"),
        "{}",
        out.html
    );
    // Same viewer, same slots, fewer tokens: the vault is not in this navigation.
    let out = home(&engine).await;
    assert!(!whole(&out));
    assert!(out.html.starts_with("[Home]<b>q</b>"), "{}", out.html);
}

#[tokio::test]
async fn a_new_portal_version_never_serves_the_old_versions_pages() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "q"}"#));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="1h"/>"#);
    // The layout lists the navigation: a page added elsewhere changes this page.
    dir.template(
        "layouts/nav.html",
        "{% for p in nav %}[{{ p.title }}]{% endfor %}{% for f in regions.main %}{{ f.html }}{% endfor %}",
    );
    dir.page_xml(
        "home",
        r#"<page id="home" title="Home" layout="layouts/nav.html"><region name="main"><fragment ref="quotes"/></region></page>"#,
    );
    let v1 = portal(&dir);
    let state = FragmentState::new(v1.settings.cache.max_bytes);
    let services = Arc::new(ServiceAccess::new(&v1));
    let first = Engine::with_state(v1, services.clone(), state.clone());
    home(&first).await;
    let old = home(&first).await;
    assert!(
        whole(&old) && old.html.starts_with("[Home]<b>q</b>"),
        "{}",
        old.html
    );

    dir.page_xml(
        "other",
        r#"<page id="other" title="Other" layout="layouts/nav.html"><region name="main"><fragment ref="quotes"/></region></page>"#,
    );
    let second = Engine::with_state(portal(&dir), services, state);
    let new = home(&second).await;
    assert!(!whole(&new), "the new version assembles its own page");
    assert!(new.html.starts_with("[Home][Other]"), "{}", new.html);
    assert_eq!(backend.calls(), 1, "the fragment's stages are shared");
    assert!(
        whole(&home(&first).await),
        "the old version still has its own"
    );
}

/// A node serving [`quotes_portal`] for an hour over HTTP, its backend answering `v`.
async fn quotes_node(v: &str) -> (Scripted, PortalDir, AppState, CancellationToken) {
    quotes_node_for(v, "1h").await
}

/// [`quotes_node`] with the fragment's ttl `ttl`.
async fn quotes_node_for(v: &str, ttl: &str) -> (Scripted, PortalDir, AppState, CancellationToken) {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(format!(r#"{{"v": "{v}"}}"#)));
    let dir = quotes_portal(&backend, &format!(r#"<lifecycle ttl="{ttl}"/>"#));
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal(&dir), store, &cancel)
        .await
        .expect("node");
    (backend, dir, state, cancel)
}

#[tokio::test]
async fn over_http_a_whole_page_keeps_its_etag_answers_304_and_says_so_in_server_timing() {
    let (backend, _dir, state, cancel) = quotes_node("http").await;
    let get = |etag: Option<String>| {
        let state = state.clone();
        async move {
            let mut req = Request::get("/");
            if let Some(e) = etag {
                req = req.header("if-none-match", e);
            }
            let res = app(state, None)
                .oneshot(req.body(Body::empty()).expect("request"))
                .await
                .expect("response");
            let status = res.status();
            let headers = res.headers().clone();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .expect("body");
            (status, headers, body)
        }
    };
    let (s1, h1, b1) = get(None).await;
    let (s2, h2, b2) = get(None).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(b1, b2);
    assert!(std::str::from_utf8(&b2)
        .expect("utf-8")
        .contains("<b>http</b>"));
    assert_eq!(h1["etag"], h2["etag"]);
    assert_eq!(h2["content-length"], b2.len().to_string().as_str());
    assert_eq!(h2["content-type"], "text/html; charset=utf-8");
    assert_eq!(h2["cache-control"], h1["cache-control"]);
    let first_timing = h1["server-timing"].to_str().expect("ascii");
    assert!(first_timing.starts_with("frag-quotes;"), "{first_timing}");
    let timing = h2["server-timing"].to_str().expect("ascii");
    assert!(
        timing.starts_with(r#"page-cache;desc="hit", page;dur="#),
        "{timing}"
    );
    let etag = h2["etag"].to_str().expect("ascii").to_owned();
    let (s3, _, b3) = get(Some(etag)).await;
    assert_eq!(s3, StatusCode::NOT_MODIFIED);
    assert!(b3.is_empty());
    assert_eq!(backend.calls(), 1);
    cancel.cancel();
}

#[tokio::test]
async fn a_whole_page_hit_is_answered_in_one_poll() {
    use futures::FutureExt;
    let (backend, _dir, state, cancel) = quotes_node("inline").await;
    let request = || Request::get("/").body(Body::empty()).expect("request");
    let first = app(state.clone(), None)
        .oneshot(request())
        .await
        .expect("response");
    assert_eq!(first.status(), StatusCode::OK);
    // Cached now: the whole answer, through every layer of the node's stack, is ready
    // the first time its future is polled — no task switch, no wait on a lock or a
    // channel, nothing scheduled.
    let hit = app(state, None)
        .oneshot(request())
        .now_or_never()
        .expect("a cache hit completes in its first poll")
        .expect("response");
    assert_eq!(hit.status(), StatusCode::OK);
    assert!(hit.headers()["server-timing"]
        .to_str()
        .expect("ascii")
        .starts_with(r#"page-cache;desc="hit""#));
    assert_eq!(backend.calls(), 1);
    cancel.cancel();
}

/// `GET path` through the node's app: status, `Server-Timing`, body.
async fn fetch(state: &AppState, path: &str) -> (StatusCode, String, String) {
    let res = app(state.clone(), None)
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = res.status();
    let timing = res
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, timing, String::from_utf8_lossy(&body).into_owned())
}

/// Guests' pages the node answered from the guests' memo so far.
fn memo_answers(state: &AppState) -> u64 {
    state.registry.metrics().guest_memo_answers()
}

/// A guest's `GET /`, with `If-None-Match` when given: status and headers.
async fn get_with(state: &AppState, if_none_match: Option<&str>) -> (StatusCode, http::HeaderMap) {
    let mut req = Request::get("/");
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let res = app(state.clone(), None)
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    (res.status(), res.headers().clone())
}

/// Answered whole from the page cache (by the memo or a lookup), per `Server-Timing`.
fn whole_hit(timing: &str) -> bool {
    timing.starts_with(r#"page-cache;desc="hit""#)
}

/// The page id the guests' memo would answer a guest's `GET /` with now, if any.
fn memo_of_home(state: &AppState) -> Option<String> {
    state.guests.serve(
        &state.engine(),
        None,
        tessera_engine::Channel::Html,
        tokio::time::Instant::now(),
        |p| p.page_id.clone(),
    )
}

/// A guest's `GET /` twice: assembled, then whole from the cache, which the memo keeps.
async fn home_kept_for_guests(state: &AppState, expect: &str) {
    let (_, first, body) = fetch(state, "/").await;
    assert!(!whole_hit(&first), "{first}");
    assert!(body.contains(expect), "{body}");
    let (_, second, body) = fetch(state, "/").await;
    assert!(whole_hit(&second), "{second}");
    assert!(body.contains(expect), "{body}");
    assert_eq!(memo_of_home(state).as_deref(), Some("home"));
}

#[tokio::test]
async fn guests_are_answered_from_the_memo_until_an_invalidation_changes_their_page() {
    let (backend, _dir, state, cancel) = quotes_node("one").await;
    // The page path answers the first two (assembled, then one lookup, whose page is
    // kept); the memo answers the rest.
    let (_, assembled) = get_with(&state, None).await;
    let (_, from_lookup) = get_with(&state, None).await;
    assert_eq!(memo_answers(&state), 0);
    assert_eq!(memo_of_home(&state).as_deref(), Some("home"));
    let hits = state.engine().fragments().cache().snapshot().hits;
    let (status, timing, body) = fetch(&state, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(whole_hit(&timing) && body.contains("<b>one</b>"), "{body}");
    assert_eq!(memo_answers(&state), 1, "answered from the memo");
    assert_eq!(
        state.engine().fragments().cache().snapshot().hits,
        hits + 1,
        "an answer from the memo counts as the cache hit it stands for"
    );
    // The memo's answer has the page path's head, and its 304.
    let (status, from_memo) = get_with(&state, None).await;
    assert_eq!((status, memo_answers(&state)), (StatusCode::OK, 2));
    for name in [
        "etag",
        "cache-control",
        "vary",
        "content-type",
        "content-length",
    ] {
        assert_eq!(from_memo.get(name), assembled.get(name), "{name}");
        assert_eq!(from_memo.get(name), from_lookup.get(name), "{name}");
    }
    let etag = from_memo["etag"].to_str().expect("ascii").to_owned();
    let (status, _) = get_with(&state, Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(memo_answers(&state), 3);
    assert_eq!(backend.calls(), 1);

    backend.respond(Reply::json(r#"{"v": "two"}"#));
    let targets = Targets {
        fragments: vec!["quotes".into()],
        ..Targets::default()
    };
    state.engine().invalidate(&targets, Mode::Hard, false);
    assert_eq!(memo_of_home(&state), None, "the page left the cache");
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(!whole_hit(&timing), "assembled again: {timing}");
    assert!(body.contains("<b>two</b>"), "{body}");
    assert_eq!(backend.calls(), 2);
    assert_eq!(memo_answers(&state), 3, "not from the memo");
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(whole_hit(&timing) && body.contains("<b>two</b>"), "{body}");
    assert_eq!(memo_of_home(&state).as_deref(), Some("home"));
    cancel.cancel();
}

#[tokio::test]
async fn a_soft_invalidation_a_clear_or_the_ttl_ends_the_guests_memo() {
    // Ten minutes: the page entry itself is kept for an hour, so the fragment's ttl is
    // what ends it below.
    let (backend, _dir, state, cancel) = quotes_node_for("one", "10m").await;
    let engine = state.engine();
    home_kept_for_guests(&state, "<b>one</b>").await;

    // Soft: the page is kept but stale; guests get it assembled from fresh parts.
    backend.respond(Reply::json(r#"{"v": "two"}"#));
    let quotes = Targets {
        fragments: vec!["quotes".into()],
        ..Targets::default()
    };
    engine.invalidate(&quotes, Mode::Soft, false);
    assert_eq!(
        memo_of_home(&state),
        None,
        "a stale page is not answered whole"
    );
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(!whole_hit(&timing) && body.contains("<b>two</b>"), "{body}");
    home_kept_for_guests_again(&state, "<b>two</b>").await;

    // A clear (a node that missed invalidations).
    backend.respond(Reply::json(r#"{"v": "three"}"#));
    engine.fragments().cache().clear();
    assert_eq!(memo_of_home(&state), None, "nothing survives a clear");
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(
        !whole_hit(&timing) && body.contains("<b>three</b>"),
        "{body}"
    );
    home_kept_for_guests_again(&state, "<b>three</b>").await;

    // The fragment's ttl runs out: its source is no longer fresh (the page entry is
    // still cached: the memo's check is the page's freshness, not its retention).
    backend.respond(Reply::json(r#"{"v": "four"}"#));
    advance(Duration::from_secs(601)).await;
    assert_eq!(memo_of_home(&state), None, "past the fragment's ttl");
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(
        !whole_hit(&timing) && body.contains("<b>four</b>"),
        "{body}"
    );
    assert_eq!(backend.calls(), 4);
    cancel.cancel();
}

/// After a request that assembled the page: the next guest's is whole and kept.
async fn home_kept_for_guests_again(state: &AppState, expect: &str) {
    let (_, timing, body) = fetch(state, "/").await;
    assert!(whole_hit(&timing) && body.contains(expect), "{body}");
    assert_eq!(memo_of_home(state).as_deref(), Some("home"));
}

#[tokio::test]
async fn a_new_portal_version_never_answers_guests_from_the_old_versions_memo() {
    use tessera_channels::registry::docs::{Base, DocKey, DocKind};
    use tessera_channels::registry::{Actor, Edit};
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "one"}"#));
    let dir = quotes_portal(&backend, r#"<lifecycle ttl="1h"/>"#);
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    let base = Base::read(&dir.config_dir(), &dir.templates_dir());
    let state = runtime::start_node(base, None, store, &cancel)
        .await
        .expect("node");
    home_kept_for_guests(&state, "<b>one</b>").await;

    let outcome = state
        .registry
        .change(
            vec![Edit::Put {
                key: DocKey::new(DocKind::Template, "fragments/unused.html"),
                text: "<i>{{ model.v }}</i>".into(),
            }],
            &Actor {
                name: "test".into(),
                address: None,
                reason: "a new template".into(),
            },
            false,
        )
        .await
        .expect("change");
    assert!(outcome.applied);
    // Nothing the home page is made of changed: the old version's page is still cached
    // and current, but it is the old version's.
    assert_eq!(memo_of_home(&state), None, "the memo is the old version's");
    let answers = memo_answers(&state);
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(
        !whole_hit(&timing),
        "the new version's page is new: {timing}"
    );
    assert!(body.contains("<b>one</b>"), "{body}");
    assert_eq!(memo_answers(&state), answers);
    let (_, timing, body) = fetch(&state, "/").await;
    assert!(whole_hit(&timing) && body.contains("<b>one</b>"), "{body}");
    assert_eq!(memo_of_home(&state).as_deref(), Some("home"));
    assert_eq!(
        backend.calls(),
        1,
        "the source stage is shared by both versions"
    );
    cancel.cancel();
}
