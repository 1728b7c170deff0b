//! A catalog of hostile inputs and faults (issue #10), one test each, with the expected
//! answer. Descriptor-level cases (malformed, oversized, DOCTYPE, entities, bad policy)
//! are pinned in descriptors/tests/cases/.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use http::{header, Request, StatusCode};
use proptest::prelude::*;
use tessera_channels::{app, runtime, AppState};
use tessera_descriptors::{build, Kind, Portal, Sources};
use tessera_engine::{Engine, PortalRequest};
use tessera_fragments::{Profile, Status};
use tessera_test_support::{PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

fn load(dir: &PortalDir) -> Portal {
    Portal::load(&dir.config_dir(), &dir.templates_dir()).unwrap_or_else(|d| panic!("{d}"))
}

/// One fragment `f` over `backend` with the given service attributes and fragment XML body.
fn one(backend: &Scripted, service_attrs: &str, fragment_inner: &str, path: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/services/b.xml",
        &format!(
            r#"<service id="b" base-url="{}" {service_attrs}><retry attempts="0"/></service>"#,
            backend.url()
        ),
    );
    dir.fragment_xml("f", &format!(r#"<fragment id="f" service="b" path="{path}">{fragment_inner}<template>fragments/f.html</template></fragment>"#));
    dir.template("fragments/f.html", "<b>{{ model.v }}</b>");
    dir.page_xml("home", r#"<page id="home" layout="layouts/base.html" timeout="10s"><region name="main"><fragment ref="f"/></region></page>"#);
    dir
}

async fn result(engine: &Engine, request: &PortalRequest) -> tessera_fragments::FragmentResult {
    engine.render_page(request).await.expect("page").slots[0]
        .result
        .clone()
}

#[tokio::test]
async fn path_injection_in_parameters_is_encoded() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": 1}"#));
    let dir = one(
        &backend,
        "",
        r#"<param name="s" type="string" default="SMI"/>"#,
        "/q/{param.s}?x=1",
    );
    let engine = Engine::new(load(&dir));
    for hostile in [
        "../../admin",
        "%2e%2e/%2e%2e",
        "a?x=evil&y=1",
        "a\r\nHost: evil",
        "#frag",
        "..",
    ] {
        let mut request = PortalRequest::home();
        request.profile = Profile::new(BTreeMap::from([(
            "fragment.f.s".to_owned(),
            hostile.to_owned(),
        )]));
        result(&engine, &request).await;
    }
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.path_and_query.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/q/..%2F..%2Fadmin?x=1",
            "/q/%252e%252e%2F%252e%252e?x=1",
            "/q/a%3Fx%3Devil%26y%3D1?x=1",
            "/q/a%0D%0AHost%3A%20evil?x=1",
            "/q/%23frag?x=1",
            "/q/%252E%252E?x=1",
        ]
    );
}

#[tokio::test]
async fn a_trickling_backend_fails_at_the_read_timeout() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "#).trickle("1", Duration::from_secs(1)));
    let dir = one(&backend, r#"timeout="30s" read-timeout="200ms""#, "", "/d");
    let engine = Engine::new(load(&dir));
    let started = std::time::Instant::now();
    let r = result(&engine, &PortalRequest::home()).await;
    assert_eq!(r.status, Status::Timeout);
    assert_eq!(
        r.message.as_deref(),
        Some("b: no answer within 200ms"),
        "no byte within the read timeout"
    );
    // Counting, not timing the test: it ended long before the 30 s total timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_100_mb_body_is_refused_at_the_cap() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(vec![b' '; 100 << 20]));
    let dir = one(&backend, "", "", "/d");
    let engine = Engine::new(load(&dir));
    let r = result(&engine, &PortalRequest::home()).await;
    assert_eq!(r.status, Status::Error);
    assert_eq!(
        r.message.as_deref(),
        Some("b: the backend's answer is larger than the 1048576-byte limit")
    );
    // Without a Content-Length too: cut while reading.
    backend.respond(
        Reply::json(vec![b' '; 256 << 10])
            .trickle(vec![b' '; 256 << 10], Duration::from_millis(1))
            .trickle_times(400),
    );
    let r = result(&engine, &PortalRequest::home()).await;
    assert_eq!(
        r.message.as_deref(),
        Some("b: the backend's answer is larger than the 1048576-byte limit")
    );
}

#[tokio::test]
async fn backend_cookies_and_hop_by_hop_headers_never_reach_users() {
    let backend = Scripted::start().await;
    backend.respond(
        Reply::json(r#"{"v": "x"}"#)
            .header("set-cookie", "tracking=1; Path=/")
            .header("x-internal", "secret"),
    );
    let dir = one(&backend, "", "", "/d");
    let state = AppState::new(
        Engine::new(load(&dir)),
        tessera_store::open("sqlite::memory:").await.expect("store"),
    );
    let res = app(state, None)
        .oneshot(Request::get("/").body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key(header::SET_COOKIE));
    assert!(!res.headers().contains_key("x-internal"));
}

#[tokio::test]
async fn redirects_are_followed_only_where_allowed() {
    let target = Scripted::start().await;
    target.respond(Reply::json(r#"{"v": "moved here"}"#));
    let backend = Scripted::start().await;
    backend.respond(Reply::status(302).header("location", &format!("{}/d", target.url())));
    let dir = one(&backend, "", "", "/d");
    let r = result(&Engine::new(load(&dir)), &PortalRequest::home()).await;
    assert_eq!(
        r.message.as_deref(),
        Some("b: the backend answered HTTP 302")
    );
    assert_eq!(target.calls(), 0, "not followed by default");
    let dir = one(&backend, r#"follow-redirects="true""#, "", "/d");
    let r = result(&Engine::new(load(&dir)), &PortalRequest::home()).await;
    assert_eq!(r.html, "<b>moved here</b>");
    // With an allow-list that admits the backend but not the redirect target's name.
    backend.respond(Reply::status(302).header("location", "http://evil.example/d"));
    let dir = one(&backend, r#"follow-redirects="true""#, "", "/d");
    dir.file(
        "config/tessera.toml",
        "[portal]\nhome = \"home\"\n[security]\nbackend-hosts = [\"127.0.0.0/8\"]\n",
    );
    let r = result(&Engine::new(load(&dir)), &PortalRequest::home()).await;
    assert_eq!(
        r.message.as_deref(),
        Some("b: the backend answered HTTP 302"),
        "a redirect off the allow-list stops"
    );
}

#[tokio::test]
async fn the_allow_list_refuses_other_backend_hosts_at_load() {
    let backend = Scripted::start().await;
    let dir = one(&backend, "", "", "/d");
    dir.file(
        "config/tessera.toml",
        "[portal]\nhome = \"home\"\n[security]\nbackend-hosts = [\"*.internal\", \"10.0.0.0/8\"]\n",
    );
    let err = Portal::load(&dir.config_dir(), &dir.templates_dir()).expect_err("refused");
    assert!(err.to_string().contains("service \"b\" points at host \"127.0.0.1\", which security.backend-hosts in tessera.toml does not allow"), "{err}");
}

#[tokio::test]
async fn a_template_that_loops_forever_runs_out_of_fuel() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": 1}"#));
    let dir = one(&backend, "", "", "/d");
    dir.template(
        "fragments/f.html",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    );
    let r = result(&Engine::new(load(&dir)), &PortalRequest::home()).await;
    assert_eq!(r.status, Status::Error);
    assert!(
        r.message.as_deref().is_some_and(|m| m.contains("fuel")),
        "{:?}",
        r.message
    );
}

async fn node(dir: &PortalDir) -> (AppState, CancellationToken) {
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    (
        runtime::start(load(dir), store, &cancel)
            .await
            .expect("node"),
        cancel,
    )
}

#[tokio::test]
async fn oversized_request_bodies_get_413() {
    let backend = Scripted::start().await;
    let dir = one(&backend, "", "", "/d");
    let (state, _c) = node(&dir).await;
    let big = "x".repeat(200 * 1024);
    let res = app(state, None)
        .oneshot(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("login={big}")))
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn too_many_requests_get_429_with_retry_after() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": 1}"#));
    let dir = one(&backend, "", "", "/d");
    dir.file(
        "config/tessera.toml",
        "[portal]\nhome = \"home\"\n[limits]\nrequests-per-second = 1\nrequest-burst = 3\n",
    );
    let (state, _c) = node(&dir).await;
    let router = app(state, None);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = router
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).expect("req"))
            .await
            .expect("infallible");
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                res.headers()[header::RETRY_AFTER]
                    .to_str()
                    .expect("ascii")
                    .parse::<u64>()
                    .expect("seconds")
                    >= 1
            );
        }
    }
    assert_eq!(&statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn admin_calls_by_normal_users_get_403_and_by_guests_401() {
    let backend = Scripted::start().await;
    let dir = one(&backend, "", "", "/d");
    dir.file("config/tessera.toml", "[portal]\nhome = \"home\"\n[admin]\ntoken = \"a-long-admin-token-123\"\n[access.roles]\nclient = [\"accounts.read\"]\noperator = [\"portal.operate\"]\n");
    let (state, _c) = node(&dir).await;
    for (login, roles) in [
        ("nora", vec!["client".to_owned()]),
        ("otto", vec!["operator".to_owned()]),
    ] {
        state
            .store
            .create_user(&tessera_store::NewUser {
                login: login.into(),
                display_name: login.into(),
                password_hash: tessera_channels::auth::password::hash("pw".into())
                    .await
                    .expect("hash"),
                roles,
                segment: None,
                extra_tokens: Vec::new(),
                attributes: BTreeMap::new(),
                created_at: std::time::SystemTime::now(),
            })
            .await
            .expect("user");
    }
    let session_of = |login: &'static str| {
        let state = state.clone();
        async move {
            let user = state
                .store
                .user_by_login(login)
                .await
                .expect("db")
                .expect("user");
            let id = tessera_channels::auth::cookies::random_token();
            let now = std::time::SystemTime::now();
            state
                .store
                .create_session(&tessera_store::NewSession {
                    id: id.clone(),
                    user_id: user.id,
                    created_at: now,
                    expires_at: now + Duration::from_secs(3600),
                    idle_expires_at: now + Duration::from_secs(3600),
                    csrf_token: "t".repeat(64),
                })
                .await
                .expect("session");
            id
        }
    };
    let call = |cookie: Option<String>| {
        let mut r = Request::get("/admin/api/services");
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, format!("tessera_session={c}"));
        }
        app(state.clone(), None).oneshot(r.body(Body::empty()).expect("req"))
    };
    assert_eq!(
        call(None).await.expect("ok").status(),
        StatusCode::UNAUTHORIZED
    );
    let browser = app(state.clone(), None)
        .oneshot(
            Request::get("/admin/api/services")
                .header(header::ACCEPT, "text/html,application/xhtml+xml")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("ok");
    assert_eq!(
        browser.status(),
        StatusCode::SEE_OTHER,
        "a browser without a session is sent to sign in"
    );
    assert_eq!(
        browser.headers()[header::LOCATION],
        "/login?next=/admin/api/services"
    );
    assert_eq!(
        call(Some(session_of("nora").await))
            .await
            .expect("ok")
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(Some(session_of("otto").await))
            .await
            .expect("ok")
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_in_flight_complete_when_shutdown_begins() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "finished"}"#).delay(Duration::from_millis(300)));
    let dir = one(&backend, "", "", "/d");
    let state = AppState::new(
        Engine::new(load(&dir)),
        tessera_store::open("sqlite::memory:").await.expect("store"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_channels::server::serve_with_grace(
        listener,
        app(state, None),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(10),
    ));
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    backend.wait_for_calls(1).await;
    let _ = stop.send(());
    let mut response = String::new();
    conn.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("<b>finished</b>"));
    server.await.expect("task").expect("served");
}

fn sources_with(kind: Kind, text: String) -> Sources {
    let mut s = Sources::default();
    s.add_file(kind, "hostile.xml", text);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..2048), kind in 0usize..4) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = build(&sources_with(Kind::ALL[kind], text));
    }

    #[test]
    fn well_formed_but_wrong_documents_give_errors_not_panics(
        root in prop::sample::select(vec!["service", "fragment", "page", "lifecycle", "region", "x"]),
        attrs in prop::collection::vec(("[a-z-]{1,12}", "[ -~]{0,20}"), 0..6),
        child in prop::sample::select(vec!["param", "breaker", "region", "template", "fallback", "include", "asset", "access", "lifecycle", "retry", "health", "zzz"]),
        child_attrs in prop::collection::vec(("[a-z-]{1,12}", "[ -~]{0,20}"), 0..4),
        kind in 0usize..4,
    ) {
        let esc = |v: &str| v.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
        let a: String = attrs.iter().enumerate().map(|(i, (k, v))| format!(" {k}{i}=\"{}\"", esc(v))).collect();
        let c: String = child_attrs.iter().enumerate().map(|(i, (k, v))| format!(" {k}{i}=\"{}\"", esc(v))).collect();
        let doc = format!("<{root} id=\"x\"{a}><{child}{c}/></{root}>");
        let result = build(&sources_with(Kind::ALL[kind], doc));
        prop_assert!(result.is_err(), "a portal without a home page never loads");
    }

    #[test]
    fn path_templating_never_leaks_separators(value in "\\PC{0,40}") {
        let t = tessera_descriptors::PathTemplate::parse("/q/{param.s}?a={param.s}&u={user.id}").expect("valid");
        let out = t.render(|_| vec![value.clone()], &value);
        let (path, query) = out.split_once('?').expect("the literal query stays");
        prop_assert!(path.starts_with("/q/") && path.matches('/').count() == 2, "{out}");
        prop_assert_eq!(query.matches('&').count(), 1, "{}", out);
        prop_assert!(!out.contains(['\r', '\n', ' ', '#']), "{}", out);
        prop_assert!(!path.contains("/../") && !path.ends_with("/.."), "{}", out);
    }
}
