//! Users, personalization, access control and channels (issue #5), through the real HTTP
//! surface: sign-in forms, cookies, CSRF tokens, the JSON and light channels.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use http::{header, Request, StatusCode};
use proptest::prelude::*;
use serde_json::Value;
use tessera_channels::{app, auth::password, runtime, AppState};
use tessera_descriptors::Portal;
use tessera_store::NewUser;
use tessera_test_support::{PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A portal with a shared quotes fragment (parameters), a per-user accounts fragment
/// (`{user.id}`, token `accounts.read`), a greeting reading the user, on a customizable
/// home page; a light variant of the quotes template.
fn bank(backend: &Scripted) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        r#"[portal]
home = "home"
[access]
anonymous = ["public"]
authenticated = ["public"]
[access.roles]
client = ["accounts.read"]
[auth]
max-login-failures = 3
"#,
    );
    dir.service("bank", &backend.url());
    dir.fragment_xml(
        "quotes",
        r#"<fragment id="quotes" service="bank" path="/quotes?s={param.symbols}" catalog="true">
             <param name="symbols" type="list" default="SMI" choices="SMI,DAX,NESN,AAPL"/>
             <lifecycle ttl="1h"/>
             <template>fragments/quotes.html</template>
           </fragment>"#,
    );
    dir.fragment_xml(
        "accounts",
        r#"<fragment id="accounts" service="bank" path="/accounts/{user.id}">
             <access tokens="accounts.read"/>
             <lifecycle ttl="1h"/>
             <template>fragments/accounts.html</template>
           </fragment>"#,
    );
    dir.fragment_xml(
        "greeting",
        r#"<fragment id="greeting"><template>fragments/greeting.html</template></fragment>"#,
    );
    dir.fragment_xml("weather", r#"<fragment id="weather" catalog="true"><template>fragments/weather.html</template></fragment>"#);
    dir.template(
        "fragments/quotes.html",
        "<q>{% for q in model.quotes %}[{{ q }}]{% endfor %}</q>",
    );
    dir.template(
        "light/fragments/quotes.html",
        "Q:{% for q in model.quotes %}{{ q }};{% endfor %}",
    );
    dir.template(
        "fragments/accounts.html",
        "<acct>{{ model.owner }}:{{ model.balance }}</acct>",
    );
    dir.template(
        "fragments/greeting.html",
        "<hello>Hello {{ user.name }}</hello>",
    );
    dir.template("fragments/weather.html", "<w>sunny</w>");
    dir.template(
        "layouts/base.html",
        "{% for name, slots in regions|items %}{% for f in slots %}<div id=\"slot-{{ f.id }}\" data-status=\"{{ f.status }}\">{{ f.html }}</div>{% endfor %}{% endfor %}",
    );
    dir.template(
        "light/layouts/base.html",
        "LIGHT{% for f in fragments|items %}|{{ f[1].html }}{% endfor %}",
    );
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html" customizable="true">
             <region name="top"><fragment ref="greeting"/></region>
             <region name="main"><fragment ref="quotes"/><fragment ref="accounts"/></region>
           </page>"#,
    );
    backend.respond(Reply::json(r#"{"quotes": ["SMI"]}"#));
    for who in ["alice", "bob", "carol", "dave", "erin"] {
        backend.route(
            &format!("/accounts/{who}"),
            Reply::json(format!(
                r#"{{"owner": "{who}", "balance": "{}"}}"#,
                who.len() * 1000
            )),
        );
    }
    for s in ["SMI", "DAX", "NESN", "AAPL", "SMI,DAX", "DAX,NESN"] {
        let list: Vec<String> = s.split(',').map(|x| format!("\"{x}\"")).collect();
        backend.route(
            &format!("/quotes-{s}"),
            Reply::json(format!(r#"{{"quotes": [{}]}}"#, list.join(","))),
        );
    }
    dir
}

struct Node {
    state: AppState,
    _cancel: CancellationToken,
}

async fn node(dir: &PortalDir, url: &str) -> Node {
    let portal =
        Portal::load(&dir.config_dir(), &dir.templates_dir()).unwrap_or_else(|d| panic!("{d}"));
    let store = tessera_store::open(url).await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal, store, &cancel).await.expect("node");
    Node {
        state,
        _cancel: cancel,
    }
}

async fn add_user(state: &AppState, login: &str, roles: &[&str]) {
    state
        .store
        .create_user(&NewUser {
            login: login.into(),
            display_name: login.to_uppercase(),
            password_hash: password::hash(format!("{login}-secret"))
                .await
                .expect("hash"),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            segment: None,
            extra_tokens: Vec::new(),
            attributes: BTreeMap::new(),
            created_at: std::time::SystemTime::now(),
        })
        .await
        .expect("user");
}

#[derive(Debug)]
struct Res {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

async fn send(state: &AppState, req: Request<Body>) -> Res {
    let res = app(state.clone(), None)
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .expect("body");
    Res {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn cookie_of(res: &Res, name: &str) -> Option<String> {
    res.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or_default().to_owned())
        })
}

/// Signs in through the form; returns the session cookie value.
async fn sign_in(state: &AppState, login: &str, password: &str) -> Result<String, Res> {
    let form = send(
        state,
        Request::get("/login").body(Body::empty()).expect("req"),
    )
    .await;
    let csrf = cookie_of(&form, "tessera_login_csrf").expect("login csrf cookie");
    let body = format!("login={login}&password={password}&csrf={csrf}");
    let res = send(
        state,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("tessera_login_csrf={csrf}"))
            .body(Body::from(body))
            .expect("req"),
    )
    .await;
    match cookie_of(&res, "tessera_session") {
        Some(s) if res.status == StatusCode::SEE_OTHER => Ok(s),
        _ => Err(res),
    }
}

fn get(path: &str, session: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(s) = session {
        r = r.header(header::COOKIE, format!("tessera_session={s}"));
    }
    r.body(Body::empty()).expect("req")
}

/// A form POST (`application/x-www-form-urlencoded`) to `path` in `session`.
fn form_post(path: &str, session: &str, body: String) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("tessera_session={session}"))
        .body(Body::from(body))
        .expect("req")
}

async fn csrf_of(state: &AppState, session: &str) -> String {
    let identity = tessera_channels::auth::identify(state, &{
        let mut h = http::HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("tessera_session={session}")
                .parse()
                .expect("cookie"),
        );
        h
    })
    .await;
    identity.csrf.expect("a session has a csrf token")
}

#[tokio::test]
async fn forbidden_fragments_cause_zero_backend_calls() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &[]).await; // signed in, but no client role
    let guest = send(&n.state, get("/", None)).await;
    assert!(
        guest
            .body
            .contains(r#"id="slot-accounts" data-status="forbidden""#),
        "{}",
        guest.body
    );
    let alice = sign_in(&n.state, "alice", "alice-secret")
        .await
        .expect("signs in");
    let page = send(&n.state, get("/", Some(&alice))).await;
    assert!(page.body.contains(r#"data-status="forbidden""#));
    assert_eq!(backend.calls_to("/accounts/alice"), 0);
    assert_eq!(backend.calls_to("/accounts/anonymous"), 0);
}

#[tokio::test]
async fn customization_persists_across_a_restart_and_shows_on_the_next_request() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let db = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/portal.db", db.path().display());
    let n = node(&dir, &url).await;
    add_user(&n.state, "alice", &["client"]).await;
    let session = sign_in(&n.state, "alice", "alice-secret")
        .await
        .expect("signs in");
    let csrf = csrf_of(&n.state, &session).await;
    let before = send(&n.state, get("/", Some(&session))).await;
    assert!(!before.body.contains("<w>sunny</w>"));

    let post = |body: String| form_post("/pages/home/customize", &session, body);
    let res = send(
        &n.state,
        post(format!(
            "csrf={csrf}&action=add&fragment=weather&region=main"
        )),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let res = send(
        &n.state,
        post(format!("csrf={csrf}&action=minimize&fragment=quotes")),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let res = send(
        &n.state,
        post(format!(
            "csrf={csrf}&action=params&fragment=quotes&param.symbols=DAX"
        )),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let after = send(&n.state, get("/", Some(&session))).await;
    assert!(
        after.body.contains("<w>sunny</w>"),
        "the next view shows the change: {}",
        after.body
    );
    assert!(after
        .body
        .contains(r#"id="slot-quotes" data-status="minimized""#));

    drop(n);
    let n = node(&dir, &url).await;
    let again = send(&n.state, get("/", Some(&session))).await;
    assert!(
        again.body.contains("<w>sunny</w>"),
        "the customization survived the restart"
    );
    assert!(again
        .body
        .contains(r#"id="slot-quotes" data-status="minimized""#));
    let res = send(
        &n.state,
        post(format!("csrf={csrf}&action=restore&fragment=quotes")),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let restored = send(&n.state, get("/", Some(&session))).await;
    assert!(
        restored.body.contains("<q>[DAX]</q>") || restored.body.contains("data-status=\"ok\""),
        "{}",
        restored.body
    );
    assert_eq!(
        backend
            .requests()
            .iter()
            .filter(|r| r.path_and_query == "/quotes?s=DAX")
            .count(),
        1,
        "the chosen parameter reaches the backend"
    );
}

#[tokio::test]
async fn bad_customizations_change_nothing() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "bob", &[]).await;
    let session = sign_in(&n.state, "bob", "bob-secret")
        .await
        .expect("signs in");
    let csrf = csrf_of(&n.state, &session).await;
    let post = |body: String, token_header: bool| {
        let mut r = Request::post("/pages/home/customize")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("tessera_session={session}"));
        if token_header {
            r = r.header("x-unused", "1");
        }
        r.body(Body::from(body)).expect("req")
    };
    for (body, reason) in [
        (
            format!("csrf={csrf}&action=add&fragment=accounts&region=main"),
            "fragment \"accounts\" is not available to you",
        ),
        (
            format!("csrf={csrf}&action=add&fragment=nothing&region=main"),
            "there is no fragment \"nothing\"",
        ),
        (
            format!("csrf={csrf}&action=add&fragment=weather&region=cellar"),
            "page \"home\" has no region \"cellar\"",
        ),
        (
            format!("csrf={csrf}&action=params&fragment=quotes&param.symbols=BTC"),
            "parameter \"symbols\" does not allow \"BTC\"",
        ),
        (
            format!("csrf={csrf}&action=explode&fragment=quotes"),
            "unknown action \"explode\"",
        ),
    ] {
        let res = send(&n.state, post(body, false)).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{reason}");
        assert!(
            res.body.contains(&reason.replace('"', "&quot;")) || res.body.contains(reason),
            "{reason}: {}",
            res.body
        );
    }
    let res = send(
        &n.state,
        post("action=add&fragment=weather&region=main".into(), true),
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::FORBIDDEN,
        "a POST without the CSRF token"
    );
    let res = send(
        &n.state,
        post(
            "csrf=forged&action=add&fragment=weather&region=main".into(),
            false,
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let user = n
        .state
        .store
        .user_by_login("bob")
        .await
        .expect("db")
        .expect("bob");
    assert!(
        n.state
            .store
            .customization(user.id, "home")
            .await
            .expect("db")
            .is_none(),
        "nothing saved"
    );
    assert!(n
        .state
        .store
        .profile_values(user.id)
        .await
        .expect("db")
        .is_empty());
}

#[tokio::test]
async fn sign_in_failures_reveal_nothing_and_are_throttled() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "carol", &[]).await;
    let wrong = sign_in(&n.state, "carol", "nope")
        .await
        .expect_err("refused");
    let unknown = sign_in(&n.state, "mallory", "nope")
        .await
        .expect_err("refused");
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.body.contains("Wrong login or password."));
    assert_eq!(
        wrong.body.replace("carol", "X"),
        unknown
            .body
            .replace("mallory", "X")
            .replace(&cookie_csrf(&unknown), &cookie_csrf(&wrong)),
        "no hint whether the user exists"
    );
    sign_in(&n.state, "carol", "nope")
        .await
        .expect_err("refused");
    sign_in(&n.state, "carol", "nope")
        .await
        .expect_err("refused");
    let throttled = sign_in(&n.state, "carol", "carol-secret")
        .await
        .expect_err("throttled even with the right password");
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.contains_key(header::RETRY_AFTER));
    assert!(throttled.body.contains("Too many failed attempts"));
}

fn cookie_csrf(res: &Res) -> String {
    cookie_of(res, "tessera_login_csrf").unwrap_or_default()
}

#[tokio::test]
async fn tampered_unknown_or_expired_cookies_are_anonymous() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "dave", &["client"]).await;
    let session = sign_in(&n.state, "dave", "dave-secret")
        .await
        .expect("signs in");
    let mut tampered = session.clone();
    tampered.replace_range(0..1, if session.starts_with('a') { "b" } else { "a" });
    for cookie in [
        tampered.as_str(),
        "not-hex",
        "",
        &"f".repeat(64),
        &"x".repeat(5000),
    ] {
        let res = send(&n.state, get("/", Some(cookie))).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.body.contains("Hello Guest"), "treated as anonymous");
    }
    let res = send(&n.state, get("/", Some(&session))).await;
    assert!(res.body.contains("Hello DAVE"));
    // Signing out ends the session for good.
    let csrf = csrf_of(&n.state, &session).await;
    let out = send(
        &n.state,
        form_post("/logout", &session, format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(send(&n.state, get("/", Some(&session)))
        .await
        .body
        .contains("Hello Guest"));
}

#[tokio::test]
async fn equal_selections_share_and_the_default_homepage_is_built_once() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    let users = ["alice", "bob", "carol", "dave", "erin"];
    let mut sessions = Vec::new();
    for u in users {
        add_user(&n.state, u, &["client"]).await;
        sessions.push(
            sign_in(&n.state, u, &format!("{u}-secret"))
                .await
                .expect("signs in"),
        );
    }
    for s in &sessions {
        send(&n.state, get("/", Some(s))).await;
    }
    for _ in 0..3 {
        send(&n.state, get("/", None)).await;
    }
    let renderer = n.state.engine().fragments().renderer().clone();
    assert_eq!(
        backend.calls_to("/quotes"),
        1,
        "one quotes call for every user with the default selection"
    );
    assert_eq!(
        renderer.render_count("fragments/quotes.html"),
        1,
        "rendered once for all of them"
    );
    assert_eq!(backend.calls_to("/accounts/alice"), 1);
    assert_eq!(
        renderer.render_count("fragments/greeting.html"),
        users.len() as u64 + 1,
        "the greeting reads the user: one per user, guests sharing one"
    );
    let anon = send(&n.state, get("/", None)).await;
    assert!(anon.body.contains("Hello Guest"));
}

#[tokio::test]
async fn the_guests_memo_answers_guests_only_and_each_channel_its_own_page() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &["client"]).await;
    let alice = sign_in(&n.state, "alice", "alice-secret")
        .await
        .expect("signs in");
    // Guests' home page, assembled and then answered whole (and kept in the memo).
    let guest = send(&n.state, get("/", None)).await;
    let kept = send(&n.state, get("/", None)).await;
    assert_eq!(kept.body, guest.body);
    assert!(kept.body.contains("Hello Guest") && !kept.body.contains("<acct>"));
    let memo = |channel| {
        n.state.guests.serve(
            &n.state.engine(),
            None,
            channel,
            tokio::time::Instant::now(),
            |p| p.page_id.clone(),
        )
    };
    assert_eq!(memo(tessera_engine::Channel::Html).as_deref(), Some("home"));
    assert_eq!(memo(tessera_engine::Channel::Light), None);

    // A signed-in user is never answered with the guests' page, before or after.
    for _ in 0..2 {
        let mine = send(&n.state, get("/", Some(&alice))).await;
        assert!(mine.body.contains("Hello ALICE"), "{}", mine.body);
        assert!(
            mine.body.contains("<acct>alice:5000</acct>"),
            "{}",
            mine.body
        );
        assert_ne!(mine.headers["etag"], kept.headers["etag"]);
    }
    // An unknown session cookie is a guest (after the store says so).
    let unknown = send(&n.state, get("/", Some(&"0".repeat(64)))).await;
    assert_eq!(unknown.body, guest.body);
    // The light channel has a page of its own.
    for _ in 0..2 {
        let light = send(&n.state, get("/light", None)).await;
        assert!(light.body.starts_with("LIGHT"), "{}", light.body);
    }
    assert_eq!(
        memo(tessera_engine::Channel::Light).as_deref(),
        Some("home")
    );
    let answers = || n.state.registry.metrics().guest_memo_answers();
    assert_eq!(answers(), 0, "signed-in users and the page path's answers");
    let again = send(&n.state, get("/", None)).await;
    assert_eq!(again.body, guest.body);
    assert_eq!(again.headers["etag"], kept.headers["etag"]);
    assert_eq!(answers(), 1, "this guest was answered from the memo");
}

#[tokio::test]
async fn etags_answer_304_and_cache_control_says_private_or_public() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    // A public page: no per-user fragment, no layout reading the user.
    dir.page_xml("markets", r#"<page id="markets" layout="layouts/base.html"><region name="main"><fragment ref="quotes"/></region></page>"#);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "erin", &["client"]).await;
    let public = send(&n.state, get("/pages/markets", None)).await;
    assert_eq!(public.headers["cache-control"], "public, max-age=0");
    let etag = public.headers["etag"].to_str().expect("ascii").to_owned();
    let again = send(
        &n.state,
        Request::get("/pages/markets")
            .header("if-none-match", &etag)
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    let session = sign_in(&n.state, "erin", "erin-secret")
        .await
        .expect("signs in");
    let mine = send(&n.state, get("/", Some(&session))).await;
    assert!(mine.headers["cache-control"]
        .to_str()
        .expect("ascii")
        .starts_with("private"));
    let etag = mine.headers["etag"].to_str().expect("ascii").to_owned();
    let req = Request::get("/")
        .header("if-none-match", &etag)
        .header(header::COOKIE, format!("tessera_session={session}"))
        .body(Body::empty())
        .expect("req");
    assert_eq!(send(&n.state, req).await.status, StatusCode::NOT_MODIFIED);
    // Another user's ETag does not match this user's page.
    let guest = send(
        &n.state,
        Request::get("/")
            .header("if-none-match", &etag)
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(guest.status, StatusCode::OK);
}

#[tokio::test]
async fn json_and_light_channels_carry_the_same_fragment_data() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &["client"]).await;
    let session = sign_in(&n.state, "alice", "alice-secret")
        .await
        .expect("signs in");
    let html = send(&n.state, get("/", Some(&session))).await;
    let json = send(&n.state, get("/api/v1/pages/home", Some(&session))).await;
    let light = send(&n.state, get("/light", Some(&session))).await;
    let page: Value = serde_json::from_str(&json.body).expect("json");
    let frag = |id: &str| {
        page["fragments"]
            .as_array()
            .expect("list")
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .expect("fragment")
    };
    assert_eq!(frag("accounts")["model"]["owner"], "alice");
    assert_eq!(frag("accounts")["status"], "ok");
    let acct_html = frag("accounts")["html"].as_str().expect("html").to_owned();
    assert!(
        html.body.contains(&acct_html),
        "the JSON's html is the HTML channel's"
    );
    assert!(light.body.starts_with("LIGHT"));
    assert!(
        light.body.contains(&acct_html),
        "no light variant: the same markup"
    );
    assert!(
        light.body.contains("Q:SMI;"),
        "the light template renders the same model: {}",
        light.body
    );
    assert!(html.body.contains("<q>[SMI]</q>"));
    assert_eq!(
        backend.calls_to("/quotes"),
        1,
        "all channels share the source and model stages"
    );
    let unauth = send(&n.state, get("/api/v1/pages/nope", None)).await;
    assert_eq!(unauth.status, StatusCode::NOT_FOUND);
}

/// The whole property: whatever users ask in whatever order, a response only ever holds
/// the asker's own per-user content.
fn never_crosses(order: Vec<(usize, bool)>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let backend = Scripted::start().await;
        let dir = bank(&backend);
        let n = node(&dir, "sqlite::memory:").await;
        let users = ["alice", "bob", "carol", "dave", "erin"];
        let mut sessions = Vec::new();
        for u in users {
            add_user(&n.state, u, &["client"]).await;
            sessions.push(
                sign_in(&n.state, u, &format!("{u}-secret"))
                    .await
                    .expect("signs in"),
            );
        }
        let state = Arc::new(n.state.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for (who, json) in order {
            let state = state.clone();
            let session = sessions[who].clone();
            tasks.spawn(async move {
                let path = if json { "/api/v1/pages/home" } else { "/" };
                (who, send(&state, get(path, Some(&session))).await.body)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (who, body) = done.expect("task");
            for (other, name) in users.iter().enumerate() {
                let marker = format!("{name}:");
                let greeting = format!("Hello {}", name.to_uppercase());
                if other == who {
                    prop_assert!(body.contains(&marker), "{name} sees their own accounts");
                } else {
                    prop_assert!(
                        !body.contains(&marker),
                        "{} received {name}'s accounts",
                        users[who]
                    );
                    prop_assert!(
                        !body.contains(&greeting),
                        "{} received {name}'s greeting",
                        users[who]
                    );
                }
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn no_user_ever_receives_another_users_fragment(order in prop::collection::vec((0usize..5, any::<bool>()), 5..40)) {
        never_crosses(order)?;
    }
}

#[tokio::test]
async fn a_trusted_sso_header_signs_in_only_with_the_shared_secret() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    let toml = std::fs::read_to_string(dir.config_dir().join("tessera.toml")).expect("toml");
    dir.file(
        "config/tessera.toml",
        &format!("{toml}\n[auth.header]\nsecret = \"proxy-shared-secret-123\"\n"),
    );
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &["client"]).await;
    let with = |secret: &str| {
        Request::get("/")
            .header("x-remote-user", "alice")
            .header("x-tessera-proxy-secret", secret)
            .body(Body::empty())
            .expect("req")
    };
    // Guests first, so that the guests' memo has their page: a signed-in request is
    // never answered from it.
    for _ in 0..2 {
        assert!(send(&n.state, get("/", None))
            .await
            .body
            .contains("Hello Guest"));
    }
    let res = send(&n.state, with("proxy-shared-secret-123")).await;
    assert!(
        res.body.contains("Hello ALICE") && res.body.contains("alice:5000"),
        "{}",
        res.body
    );
    for forged in ["", "wrong", "proxy-shared-secret-12"] {
        let res = send(&n.state, with(forged)).await;
        assert!(
            res.body.contains("Hello Guest"),
            "a header without the secret is ignored"
        );
    }
    let only_user = send(
        &n.state,
        Request::get("/")
            .header("x-remote-user", "alice")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert!(only_user.body.contains("Hello Guest"));
}

#[tokio::test]
async fn pages_are_compressed_when_the_client_accepts_it() {
    let backend = Scripted::start().await;
    let dir = bank(&backend);
    dir.template("fragments/weather.html", &"<w>sunny</w>".repeat(200));
    dir.page_xml("big", r#"<page id="big" layout="layouts/base.html"><region name="main"><fragment ref="weather"/></region></page>"#);
    let n = node(&dir, "sqlite::memory:").await;
    for encoding in ["gzip", "br"] {
        let res = app(n.state.clone(), None)
            .oneshot(
                Request::get("/pages/big")
                    .header("accept-encoding", encoding)
                    .body(Body::empty())
                    .expect("req"),
            )
            .await
            .expect("infallible");
        assert_eq!(res.headers()["content-encoding"], encoding);
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        assert!(bytes.len() < 600, "{encoding}: {} bytes", bytes.len());
    }
    let plain = send(&n.state, get("/pages/big", None)).await;
    assert!(!plain.headers.contains_key("content-encoding"));
}

/// [`bank`] with single sign-on and `[auth]` lines of the test's own.
fn bank_with_sso(backend: &Scripted, auth: &str) -> PortalDir {
    let dir = bank(backend);
    let toml = std::fs::read_to_string(dir.config_dir().join("tessera.toml")).expect("toml");
    let toml = toml.replace("[auth]\n", &format!("[auth]\n{auth}\n"));
    dir.file(
        "config/tessera.toml",
        &format!("{toml}\n[auth.header]\nsecret = \"proxy-shared-secret-123\"\n"),
    );
    dir
}

fn sso(path: &str, login: &str) -> Request<Body> {
    Request::get(path)
        .header("x-remote-user", login)
        .header("x-tessera-proxy-secret", "proxy-shared-secret-123")
        .body(Body::empty())
        .expect("req")
}

/// How often the quotes backend was asked for `symbols` (each choice is fetched once,
/// then cached for an hour): which choice a page was built with.
fn asked(backend: &Scripted, symbols: &str) -> usize {
    let wanted = format!("/quotes?s={symbols}");
    backend
        .requests()
        .iter()
        .filter(|r| r.path_and_query == wanted)
        .count()
}

/// Writes alice's quote symbols straight into the store, as another program would: the
/// node is not told.
async fn behind_the_nodes_back(state: &AppState, symbols: &str) {
    let alice = state
        .store
        .user_by_login("alice")
        .await
        .expect("store")
        .expect("alice");
    let changes = BTreeMap::from([(
        "fragment.quotes.symbols".to_owned(),
        Some(symbols.to_owned()),
    )]);
    state
        .store
        .set_profile_values(alice.id, &changes)
        .await
        .expect("written");
}

#[tokio::test]
async fn a_signed_in_user_is_read_from_the_store_once_and_again_when_they_change() {
    let backend = Scripted::start().await;
    let dir = bank_with_sso(&backend, "identity-cache-ttl = \"1h\"");
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &["client"]).await;
    let page = send(&n.state, sso("/", "Alice")).await;
    assert!(page.body.contains("Hello ALICE"), "{}", page.body);
    assert_eq!(asked(&backend, "SMI"), 1);

    // Changed behind the node's back: the node keeps the user it read (and so does a
    // session of the same user, which names the user by id).
    behind_the_nodes_back(&n.state, "DAX").await;
    send(&n.state, sso("/", "alice")).await;
    assert_eq!(
        asked(&backend, "DAX"),
        0,
        "the user as read before, not the store again"
    );
    let session = sign_in(&n.state, "alice", "alice-secret")
        .await
        .expect("signs in");
    let page = send(&n.state, get("/", Some(&session))).await;
    assert!(page.body.contains("Hello ALICE"), "{}", page.body);
    assert_eq!(asked(&backend, "DAX"), 0);

    // Changed through the node: the next request, by either way in, sees it.
    let csrf = csrf_of(&n.state, &session).await;
    let res = send(
        &n.state,
        form_post(
            "/pages/home/customize",
            &session,
            format!("csrf={csrf}&action=params&fragment=quotes&param.symbols=NESN"),
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    send(&n.state, get("/", Some(&session))).await;
    assert_eq!(
        asked(&backend, "NESN"),
        1,
        "the next request sees the change"
    );
    send(&n.state, sso("/", "ALICE")).await;
    assert_eq!(
        asked(&backend, "NESN"),
        1,
        "so does the same user by SSO (cached)"
    );
    let snapshot = backend.requests().len();

    // Through the JSON API too.
    let res = send(
        &n.state,
        Request::put("/api/v1/fragments/quotes/params")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("tessera_session={session}"))
            .header("x-csrf-token", &csrf)
            .body(Body::from(r#"{"params": {"symbols": "AAPL"}}"#))
            .expect("req"),
    )
    .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    send(&n.state, sso("/", "alice")).await;
    assert_eq!(asked(&backend, "AAPL"), 1);
    assert_eq!(
        backend.requests().len(),
        snapshot + 1,
        "{:?}",
        backend.requests()
    );

    // Signing out ends the session at once: sessions themselves are never kept.
    let res = send(
        &n.state,
        form_post("/logout", &session, format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = send(&n.state, get("/", Some(&session))).await;
    assert!(page.body.contains("Hello Guest"), "{}", page.body);
}

#[tokio::test]
async fn a_change_made_behind_the_nodes_back_counts_once_the_identity_expires() {
    let backend = Scripted::start().await;
    let dir = bank_with_sso(&backend, "identity-cache-ttl = \"300ms\"");
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &["client"]).await;
    send(&n.state, sso("/", "alice")).await;
    assert_eq!(asked(&backend, "SMI"), 1);
    behind_the_nodes_back(&n.state, "DAX").await;
    // moka keeps its own clock, so this waits in real time: polled, with a bound far
    // above the 300 ms.
    let start = std::time::Instant::now();
    loop {
        send(&n.state, sso("/", "alice")).await;
        if asked(&backend, "DAX") == 1 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the change never showed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_no_identity_cache_every_request_reads_the_store() {
    let backend = Scripted::start().await;
    let dir = bank_with_sso(&backend, "identity-cache-ttl = \"0s\"");
    let n = node(&dir, "sqlite::memory:").await;
    add_user(&n.state, "alice", &["client"]).await;
    send(&n.state, sso("/", "alice")).await;
    assert_eq!(asked(&backend, "SMI"), 1);
    behind_the_nodes_back(&n.state, "DAX").await;
    send(&n.state, sso("/", "alice")).await;
    assert_eq!(asked(&backend, "DAX"), 1);
}
