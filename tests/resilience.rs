//! Service access shielding the portal (issue #3), against real backends on
//! 127.0.0.1:0. Limits and leaks are proven by counting calls and in-flight requests.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{json, Value};
use tessera_channels::{app, runtime, AppState, NodeState};
use tessera_descriptors::Portal;
use tessera_engine::PortalRequest;
use tessera_fragments::Status;
use tessera_service_access::{BackendRequest, CallError, Scope, ServiceAccess};
use tessera_test_support::{PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token";

fn load(dir: &PortalDir) -> Portal {
    Portal::load(&dir.config_dir(), &dir.templates_dir())
        .unwrap_or_else(|d| panic!("portal must load:\n{d}"))
}

/// A one-fragment portal over `backend`, with the given `<service>` attributes/children.
fn portal_over(backend: &Scripted, service_attrs: &str, service_children: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!("[portal]\nname = \"T\"\nhome = \"home\"\n[admin]\ntoken = \"{TOKEN}\"\n"),
    );
    dir.file(
        "config/services/quotes.xml",
        &format!(
            r#"<service id="quotes" base-url="{}" {service_attrs}>{service_children}</service>"#,
            backend.url()
        ),
    );
    dir.fragment_xml(
        "quotes",
        r#"<fragment id="quotes" service="quotes" path="/quotes"><template>fragments/q.html</template><fallback>Quotes are resting.</fallback></fragment>"#,
    );
    dir.template("fragments/q.html", "<b>{{ model.v }}</b>");
    dir.page_xml("home", r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/></region></page>"#);
    dir
}

async fn node(dir: &PortalDir, store_url: &str) -> (AppState, CancellationToken) {
    let store = tessera_store::open(store_url).await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(load(dir), store, &cancel)
        .await
        .expect("node starts");
    (state, cancel)
}

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
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

async fn page_status(state: &AppState) -> (Status, Option<Status>, String) {
    let out = state
        .engine()
        .render_page(&PortalRequest::home())
        .await
        .expect("page");
    let r = &out.slots[0].result;
    (r.status, r.cause, r.message.clone().unwrap_or_default())
}

fn get_request() -> BackendRequest {
    BackendRequest {
        path_and_query: "/quotes".into(),
        headers: Vec::new(),
    }
}

#[tokio::test]
async fn a_hanging_backend_never_holds_more_than_its_bulkhead() {
    let backend = Scripted::start().await;
    backend.respond(Reply::hang());
    let dir = portal_over(
        &backend,
        r#"timeout="30s" max-concurrent="4" queue="2""#,
        "",
    );
    let services = Arc::new(ServiceAccess::new(&load(&dir)));

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let s = services.clone();
        calls.spawn(async move { s.call("quotes", &get_request()).await });
    }
    // 4 in flight, 2 queued, 14 rejected at once — while the backend still hangs.
    let mut rejected = 0;
    while rejected < 14 {
        let next = tokio::time::timeout(Duration::from_secs(10), calls.join_next())
            .await
            .expect("rejections come at once, without waiting for the backend");
        match next.expect("a call").expect("task") {
            Err(CallError::Overloaded(o)) => {
                assert_eq!(o.scope, Scope::Bulkhead);
                rejected += 1;
            }
            other => panic!("only rejections can finish while the backend hangs: {other:?}"),
        }
    }
    backend.wait_for_in_flight(4).await;
    assert_eq!(backend.peak_in_flight(), 4);
    let quotes = services.service("quotes").expect("service");
    assert_eq!(quotes.in_flight(), 4);
    assert_eq!(quotes.stats().snapshot().bulkhead_rejections, 14);
    calls.abort_all();
}

#[tokio::test]
async fn no_work_leaks_after_a_burst_times_out() {
    let backend = Scripted::start().await;
    backend.respond(Reply::hang());
    let dir = portal_over(&backend, r#"timeout="200ms" max-concurrent="50""#, "");
    let services = Arc::new(ServiceAccess::new(&load(&dir)));
    let burst: Vec<_> = (0..30)
        .map(|_| {
            let s = services.clone();
            tokio::spawn(async move { s.call("quotes", &get_request()).await })
        })
        .collect();
    for b in burst {
        let r = b.await.expect("task");
        assert!(matches!(r, Err(CallError::Timeout(_))), "{r:?}");
    }
    assert_eq!(
        services.in_flight(),
        0,
        "no slot is held after the timeouts"
    );
    tokio::time::timeout(Duration::from_secs(5), backend.wait_for_idle())
        .await
        .expect("every backend connection is closed once the portal gives up");
    assert_eq!(backend.calls(), 30);
}

#[tokio::test]
async fn an_open_breaker_stops_calls_and_the_page_gets_its_fallback_at_once() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"error": "down"}"#).with_status(500));
    let dir = portal_over(
        &backend,
        r#"timeout="1s""#,
        r#"<breaker window="10" min-calls="5" failure-rate="50%" open-for="1h"/><retry attempts="0"/>"#,
    );
    let (state, _cancel) = node(&dir, "sqlite::memory:").await;
    for _ in 0..5 {
        let (status, cause, _) = page_status(&state).await;
        assert_eq!((status, cause), (Status::Fallback, Some(Status::Error)));
    }
    assert_eq!(backend.calls(), 5);
    for _ in 0..20 {
        let (status, cause, message) = page_status(&state).await;
        assert_eq!(
            (status, cause),
            (Status::Fallback, Some(Status::Unavailable))
        );
        assert!(
            message.starts_with("quotes: circuit breaker open"),
            "{message}"
        );
    }
    assert_eq!(backend.calls(), 5, "an open breaker calls nobody");
    let (_, view) = call(
        &state,
        "GET",
        "/admin/api/services/quotes",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(view["state"], "open");
    assert_eq!(view["stats"]["short_circuits"], 20);
    assert_eq!(view["transitions"][0]["to"], "open");

    // Reset by an operator: closed again, calls resume.
    backend.respond(Reply::json(r#"{"v": "back"}"#));
    let (code, view) = call(
        &state,
        "POST",
        "/admin/api/services/quotes/reset",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (code, view["state"].as_str()),
        (StatusCode::OK, Some("closed"))
    );
    assert_eq!(page_status(&state).await.0, Status::Ok);
    assert_eq!(backend.calls(), 6);
}

#[tokio::test]
async fn a_disabled_service_gets_zero_calls_and_the_toggle_survives_a_restart() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "live"}"#));
    let dir = portal_over(&backend, r#"timeout="1s""#, "");
    let db = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/state.db", db.path().display());

    let (state, cancel) = node(&dir, &url).await;
    assert_eq!(page_status(&state).await.0, Status::Ok);
    let (code, view) = call(
        &state,
        "POST",
        "/admin/api/services/quotes/disable",
        Some(TOKEN),
        Some(json!({"reason": "quotes feed corrupt"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(view["state"], "disabled");
    assert_eq!(view["toggle"]["reason"], "quotes feed corrupt");
    backend.reset_counters();
    for _ in 0..10 {
        let (status, cause, message) = page_status(&state).await;
        assert_eq!((status, cause), (Status::Fallback, Some(Status::Disabled)));
        assert_eq!(
            message,
            "quotes: disabled by an operator: quotes feed corrupt"
        );
    }
    assert_eq!(
        backend.calls(),
        0,
        "a disabled service is not called at all"
    );
    cancel.cancel();
    drop(state);

    // A new node on the same store starts disabled.
    let (state, _cancel) = node(&dir, &url).await;
    assert_eq!(page_status(&state).await.1, Some(Status::Disabled));
    assert_eq!(backend.calls(), 0);
    let audit = state.store.audit(10, None).await.expect("audit");
    assert_eq!(audit[0].entry.action, "service.disable");
    assert_eq!(
        audit[0].entry.reason.as_deref(),
        Some("quotes feed corrupt")
    );

    let (code, view) = call(
        &state,
        "POST",
        "/admin/api/services/quotes/enable",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (code, view["state"].as_str()),
        (StatusCode::OK, Some("closed"))
    );
    assert_eq!(page_status(&state).await.0, Status::Ok);
    assert_eq!(backend.calls(), 1);
    drop(state);
    let (state, _cancel) = node(&dir, &url).await;
    assert_eq!(
        page_status(&state).await.0,
        Status::Ok,
        "enabling survives a restart too"
    );
}

#[tokio::test]
async fn forced_closed_calls_through_an_open_breaker() {
    let backend = Scripted::start().await;
    backend.respond(Reply::status(503));
    let dir = portal_over(
        &backend,
        "",
        r#"<breaker min-calls="2" window="2" open-for="1h"/><retry attempts="0"/>"#,
    );
    let (state, _cancel) = node(&dir, "sqlite::memory:").await;
    page_status(&state).await;
    page_status(&state).await;
    assert_eq!(page_status(&state).await.1, Some(Status::Unavailable));
    assert_eq!(backend.calls(), 2);
    let (code, view) = call(
        &state,
        "POST",
        "/admin/api/services/quotes/force-closed",
        Some(TOKEN),
        Some(json!({"reason": "vendor says fixed"})),
    )
    .await;
    assert_eq!(
        (code, view["state"].as_str()),
        (StatusCode::OK, Some("forced_closed"))
    );
    backend.respond(Reply::json(r#"{"v": "ok"}"#));
    assert_eq!(page_status(&state).await.0, Status::Ok);
    assert_eq!(backend.calls(), 3);
}

#[tokio::test]
async fn admin_api_answers_bad_calls_precisely() {
    let backend = Scripted::start().await;
    let dir = portal_over(&backend, "", "");
    let (state, _cancel) = node(&dir, "sqlite::memory:").await;

    let (code, body) = call(&state, "GET", "/admin/api/services", None, None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["error"],
        "an admin token is required (Authorization: Bearer …)"
    );
    let (code, _) = call(&state, "GET", "/admin/api/services", Some("wrong"), None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let (code, body) = call(
        &state,
        "POST",
        "/admin/api/services/nope/disable",
        Some(TOKEN),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no service \"nope\""))
    );
    for body in [None, Some(json!({})), Some(json!({"reason": "   "}))] {
        let (code, err) = call(
            &state,
            "POST",
            "/admin/api/services/quotes/disable",
            Some(TOKEN),
            body,
        )
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(
            err["error"],
            "disabling a service needs a reason: {\"reason\": \"…\"}"
        );
    }
    let (_, view) = call(
        &state,
        "GET",
        "/admin/api/services/quotes",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(view["state"], "closed", "a rejected call changes nothing");

    let (code, list) = call(&state, "GET", "/admin/api/services", Some(TOKEN), None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let unconfigured = AppState::from(NodeState {
        admin_token: None,
        ..NodeState::clone(&state)
    });
    let (code, _) = call(
        &unconfigured,
        "GET",
        "/admin/api/services",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn retries_stay_within_attempts_and_budget() {
    let backend = Scripted::start().await;
    backend.respond(Reply::status(503));
    // A 50% budget with no reserve: one retry per two calls at most.
    let dir = portal_over(
        &backend,
        "",
        r#"<retry attempts="1" budget="50%" min-per-second="0"/>"#,
    );
    let services = ServiceAccess::new(&load(&dir));
    let mut backend_calls = Vec::new();
    for _ in 0..6 {
        let r = services.call("quotes", &get_request()).await;
        assert!(
            matches!(r, Err(CallError::Status(ref s)) if s.status == 503),
            "{r:?}"
        );
        backend_calls.push(backend.calls());
    }
    // Calls 2, 4 and 6 earn a retry; 1, 3 and 5 do not.
    assert_eq!(backend_calls, [1, 3, 4, 6, 7, 9]);
    assert_eq!(
        services
            .service("quotes")
            .expect("svc")
            .stats()
            .snapshot()
            .retries,
        3
    );
}

/// A backend that answers 503 to its first request and 200 afterwards.
async fn flaky_once() -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().route(
        "/quotes",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    (StatusCode::SERVICE_UNAVAILABLE, String::new())
                } else {
                    (StatusCode::OK, r#"{"v": "second try"}"#.to_owned())
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, hits)
}

#[tokio::test]
async fn a_transient_503_is_cured_by_one_retry_and_a_500_is_never_retried() {
    let (url, hits) = flaky_once().await;
    let dir = PortalDir::new();
    dir.file(
        "config/services/quotes.xml",
        &format!(r#"<service id="quotes" base-url="{url}" format="text"><retry attempts="1" budget="100%" min-per-second="0"/></service>"#),
    );
    let services = ServiceAccess::new(&load_services_only(&dir));
    let r = services
        .call("quotes", &get_request())
        .await
        .expect("the retry succeeds");
    assert_eq!(&r.body[..], br#"{"v": "second try"}"#);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);

    let backend = Scripted::start().await;
    backend.respond(Reply::status(500));
    let dir = portal_over(
        &backend,
        "",
        r#"<retry attempts="1" budget="100%" min-per-second="0"/>"#,
    );
    let services = ServiceAccess::new(&load(&dir));
    let r = services.call("quotes", &get_request()).await;
    assert!(
        matches!(r, Err(CallError::Status(ref s)) if s.status == 500),
        "{r:?}"
    );
    assert_eq!(
        backend.calls(),
        1,
        "a 500 is not retried: the same request gets the same answer"
    );
}

/// A portal whose only content is the services (a page is still required to load).
fn load_services_only(dir: &PortalDir) -> Portal {
    dir.fragment_xml(
        "hello",
        r#"<fragment id="hello"><template>fragments/hello.html</template></fragment>"#,
    );
    dir.template("fragments/hello.html", "hi");
    dir.page_xml("home", r#"<page id="home" layout="layouts/base.html"><region name="main"><fragment ref="hello"/></region></page>"#);
    load(dir)
}

#[tokio::test]
async fn the_global_cap_bounds_calls_across_services() {
    let backend = Scripted::start().await;
    backend.respond(Reply::hang());
    let dir = portal_over(&backend, r#"timeout="30s""#, "");
    dir.file(
        "config/tessera.toml",
        "[portal]\nhome = \"home\"\n[limits]\nmax-in-flight-backend-calls = 3\n",
    );
    let services = Arc::new(ServiceAccess::new(&load(&dir)));
    let held: Vec<_> = (0..3)
        .map(|_| {
            let s = services.clone();
            tokio::spawn(async move { s.call("quotes", &get_request()).await })
        })
        .collect();
    backend.wait_for_in_flight(3).await;
    let r = services.call("quotes", &get_request()).await;
    assert!(
        matches!(r, Err(CallError::Overloaded(ref o)) if o.scope == Scope::Global),
        "{r:?}"
    );
    for h in held {
        h.abort();
    }
}

#[tokio::test]
async fn health_probes_watch_a_disabled_service() {
    let backend = Scripted::start().await;
    backend.route("/health", Reply::text("ok"));
    let dir = portal_over(&backend, "", r#"<health path="/health" every="20ms"/>"#);
    let (state, cancel) = node(&dir, "sqlite::memory:").await;
    let (code, _) = call(
        &state,
        "POST",
        "/admin/api/services/quotes/disable",
        Some(TOKEN),
        Some(json!({"reason": "maintenance"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), backend.wait_for_calls(1))
        .await
        .expect("the probe asks the health path while the service is disabled");
    let mut view = Value::Null;
    for _ in 0..500 {
        view = call(
            &state,
            "GET",
            "/admin/api/services/quotes",
            Some(TOKEN),
            None,
        )
        .await
        .1;
        if view["health"]["healthy"] == json!(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(view["health"]["healthy"], true);
    assert_eq!(
        view["state"], "disabled",
        "a healthy probe never lifts an operator's disable"
    );
    assert_eq!(backend.calls_to("/quotes"), 0);
    cancel.cancel();
}

#[tokio::test]
async fn liveness_and_readiness_endpoints() {
    let backend = Scripted::start().await;
    let dir = portal_over(&backend, "", "");
    let (state, _cancel) = node(&dir, "sqlite::memory:").await;
    let get = |path: &'static str| {
        let state = state.clone();
        async move {
            let res = app(state, None)
                .oneshot(Request::get(path).body(Body::empty()).expect("req"))
                .await
                .expect("infallible");
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .expect("body");
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(get("/healthz").await, (StatusCode::OK, "ok".to_owned()));
    let (status, body) = get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    state.store.close().await;
    let (status, body) = get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("\"ready\":false") && body.contains("unreachable"),
        "{body}"
    );
    assert_eq!(
        get("/healthz").await.0,
        StatusCode::OK,
        "alive even when not ready"
    );
}
