//! The operator console (`/admin`): pages render for operators only, every form needs
//! the session's CSRF token, a disable needs a reason and really stops backend calls,
//! every action lands in the audit log, the cache page shows the figures `/metrics`
//! exports and invalidates only after a preview, and `[admin] listen` moves `/admin` off
//! the public listener. Real parts throughout: scripted HTTP backends on 127.0.0.1:0, a
//! SQLite store, the whole router; the last test runs the `tessera` binary.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{header, HeaderMap, Request, StatusCode};
use tessera_channels::{app, console, runtime, AppState};
use tessera_descriptors::Portal;
use tessera_store::{AuditEntry, NewSession, NewUser};
use tessera_test_support::{PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token-123";

/// Two services: `quotes` (never cached: every page load calls it) and `news` (cached a
/// minute, depends on object `news`, and its backend names `news:42` too).
struct Fixture {
    quotes: Scripted,
    news: Scripted,
    dir: PortalDir,
}

impl Fixture {
    async fn new(extra_settings: &str) -> Self {
        let quotes = Scripted::start().await;
        quotes.respond(Reply::json(r#"{"v": "SMI 12000"}"#));
        let news = Scripted::start().await;
        news.respond(Reply::json(r#"{"v": "Rates unchanged"}"#).header("Surrogate-Key", "news:42"));
        let dir = PortalDir::new();
        dir.file(
            "config/tessera.toml",
            &format!(
                "[portal]\nname = \"Test Bank\"\nhome = \"home\"\n[admin]\ntoken = \"{TOKEN}\"\n{extra_settings}\n[access]\nauthenticated = [\"public\"]\n[access.roles]\noperator = [\"portal.operate\"]\nclient = [\"accounts.read\"]\n"
            ),
        );
        dir.service("quotes", &quotes.url());
        dir.service("news", &news.url());
        dir.fragment_xml(
            "quotes",
            r#"<fragment id="quotes" service="quotes" path="/quotes"><template>fragments/v.html</template><fallback>Quotes are resting.</fallback></fragment>"#,
        );
        dir.fragment_xml(
            "news",
            r#"<fragment id="news" service="news" path="/news"><lifecycle ttl="60s"/><depends-on object="news"/><template>fragments/v.html</template></fragment>"#,
        );
        dir.template("fragments/v.html", "<b>{{ model.v }}</b>");
        dir.page_xml(
            "home",
            r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/><fragment ref="news"/></region></page>"#,
        );
        dir.page_xml(
            "markets",
            r#"<page id="markets" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/></region></page>"#,
        );
        Fixture { quotes, news, dir }
    }

    fn portal(&self) -> Portal {
        Portal::load(&self.dir.config_dir(), &self.dir.templates_dir())
            .unwrap_or_else(|d| panic!("portal must load:\n{d}"))
    }
}

/// A signed-in user: the session cookie's value and the session's CSRF token.
#[derive(Clone)]
struct Session {
    id: String,
    csrf: String,
}

struct Node {
    state: AppState,
    _cancel: CancellationToken,
}

/// A response, its body read.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Node {
    async fn start(fixture: &Fixture) -> Node {
        let store = tessera_store::open("sqlite::memory:").await.expect("store");
        let cancel = CancellationToken::new();
        let state = runtime::start(fixture.portal(), store, &cancel)
            .await
            .expect("node starts");
        Node {
            state,
            _cancel: cancel,
        }
    }

    /// Creates a user with `roles` and a session for them, as signing in would.
    /// A node whose descriptor set can change (folders + registered overlay).
    async fn start_changeable(fixture: &Fixture) -> Node {
        let store = tessera_store::open("sqlite::memory:").await.expect("store");
        let cancel = CancellationToken::new();
        let base = tessera_channels::registry::docs::Base::read(
            &fixture.dir.config_dir(),
            &fixture.dir.templates_dir(),
        );
        let state = runtime::start_node(base, None, store, &cancel)
            .await
            .expect("node starts");
        Node {
            state,
            _cancel: cancel,
        }
    }

    async fn sign_in(&self, login: &str, roles: &[&str]) -> Session {
        let user = self
            .state
            .store
            .create_user(&NewUser {
                login: login.into(),
                display_name: format!("{login} (test)"),
                password_hash: tessera_channels::auth::password::hash("pw".into())
                    .await
                    .expect("hash"),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                segment: None,
                extra_tokens: Vec::new(),
                attributes: BTreeMap::new(),
                created_at: SystemTime::now(),
            })
            .await
            .expect("user");
        let session = Session {
            id: tessera_channels::auth::cookies::random_token(),
            csrf: tessera_channels::auth::cookies::random_token(),
        };
        let now = SystemTime::now();
        self.state
            .store
            .create_session(&NewSession {
                id: session.id.clone(),
                user_id: user.id,
                created_at: now,
                expires_at: now + Duration::from_secs(3600),
                idle_expires_at: now + Duration::from_secs(3600),
                csrf_token: session.csrf.clone(),
            })
            .await
            .expect("session");
        session
    }

    async fn send(&self, router: axum::Router, mut req: Request<Body>) -> Answer {
        // The client address the audit log records as "from where".
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 1, 2, 3], 50000))));
        let res = router.oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 4 << 20)
            .await
            .expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, session: Option<&Session>) -> Answer {
        let mut req = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("tessera_session={}", s.id));
        }
        self.send(
            app(self.state.clone(), None),
            req.body(Body::empty()).expect("request"),
        )
        .await
    }

    async fn post(&self, path: &str, session: Option<&Session>, fields: &[(&str, &str)]) -> Answer {
        self.post_to(app(self.state.clone(), None), path, session, fields)
            .await
    }

    async fn post_to(
        &self,
        router: axum::Router,
        path: &str,
        session: Option<&Session>,
        fields: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::post(path)
            .header(header::ACCEPT, "text/html")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("tessera_session={}", s.id));
        }
        self.send(router, req.body(Body::from(form(fields))).expect("request"))
            .await
    }

    async fn home(&self) -> String {
        let a = self.get("/", None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    async fn audit(&self) -> Vec<AuditEntry> {
        self.state
            .store
            .audit(100, None)
            .await
            .expect("audit")
            .into_iter()
            .map(|r| r.entry)
            .collect()
    }

    fn service_state(&self, id: &str) -> &'static str {
        self.state
            .engine()
            .services()
            .service(id)
            .expect("service")
            .view()
            .state
    }
}

/// `application/x-www-form-urlencoded`, every byte but letters and digits escaped.
fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The status the base layout gives a slot: `data-status` of `slot-<id>`.
fn slot_status<'a>(page: &'a str, slot: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"slot-{slot}\""))
        .unwrap_or_else(|| panic!("slot {slot} in {page}"));
    let rest = &page[at..];
    let from = rest.find("data-status=\"").expect("status") + "data-status=\"".len();
    &rest[from..from + rest[from..].find('"').expect("quote")]
}

/// The `data-value` of the figure labelled `label` on the cache page.
fn figure(page: &str, label: &str) -> u64 {
    let at = page
        .find(&format!("<dt>{label}</dt>"))
        .unwrap_or_else(|| panic!("figure {label} in {page}"));
    let rest = &page[at..];
    let from = rest.find("data-value=\"").expect("value") + "data-value=\"".len();
    rest[from..from + rest[from..].find('"').expect("quote")]
        .parse()
        .expect("a number")
}

/// A sample's value in the `/metrics` text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
        .trim()
        .parse()
        .expect("a whole number")
}

#[tokio::test]
async fn every_console_page_renders_for_an_operator() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    node.home().await;

    let services = node.get("/admin", Some(&olga)).await;
    assert_eq!(services.status, StatusCode::OK, "{}", services.body);
    assert_eq!(services.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(services.headers[header::X_FRAME_OPTIONS], "DENY");
    for needle in [
        "id=\"service-quotes\"",
        "id=\"service-news\"",
        "data-state=\"closed\"",
        "action=\"/admin/services/quotes/disable\"",
        &format!("name=\"csrf\" value=\"{}\"", olga.csrf),
        "href=\"/admin/descriptors\">Descriptors</a>",
        "olga (test)",
    ] {
        assert!(
            services.body.contains(needle),
            "{needle} in {}",
            services.body
        );
    }
    // p50 and p99 of the calls the homepage made: a number, not "—".
    assert!(services.body.contains(" ms</dd>"), "{}", services.body);

    let registry = node.get("/admin/registry", Some(&olga)).await;
    assert_eq!(registry.status, StatusCode::OK, "{}", registry.body);
    let row = |id: &str| -> String {
        let at = registry
            .body
            .find(&format!("<tr id=\"fragment-{id}\">"))
            .unwrap_or_else(|| panic!("row of {id} in {}", registry.body));
        let rest = &registry.body[at..];
        rest[..rest.find("</tr>").expect("row end")].to_owned()
    };
    let quotes = row("quotes");
    assert!(
        quotes.contains("href=\"#page-home\"") && quotes.contains("href=\"#page-markets\""),
        "quotes is used by both pages: {quotes}"
    );
    let news = row("news");
    assert!(
        news.contains("href=\"#page-home\"") && !news.contains("#page-markets"),
        "{news}"
    );
    assert!(
        news.contains("<code>news</code>"),
        "declared object: {news}"
    );
    assert!(
        news.contains("<code>news:42</code> <span class=\"tag\">learnt</span>"),
        "the key the backend sent, seen in the graph: {news}"
    );
    assert!(
        row("quotes").contains("nothing cached"),
        "quotes is never stored"
    );

    let cache = node.get("/admin/cache", Some(&olga)).await;
    assert_eq!(cache.status, StatusCode::OK, "{}", cache.body);
    assert!(figure(&cache.body, "Entries") > 0, "{}", cache.body);

    let audit = node.get("/admin/audit", Some(&olga)).await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert!(audit.body.contains("No entries"), "{}", audit.body);
}

#[tokio::test]
async fn browsers_without_a_session_sign_in_first_and_other_users_get_403() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    for path in ["/admin", "/admin/registry", "/admin/cache", "/admin/audit"] {
        let a = node.get(path, None).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(a.location(), format!("/login?next={path}"));
    }
    let a = node.get("/admin/audit?before=7", None).await;
    assert_eq!(a.location(), "/login?next=/admin/audit%3Fbefore%3D7");
    // A form post cannot be replayed after signing in: back to the front page.
    let a = node
        .post("/admin/services/quotes/disable", None, &[("reason", "x")])
        .await;
    assert_eq!(
        (a.status, a.location()),
        (StatusCode::SEE_OTHER, "/login?next=/admin")
    );
    assert_eq!(node.service_state("quotes"), "closed");

    let nora = node.sign_in("nora", &["client"]).await;
    for path in ["/admin", "/admin/registry", "/admin/cache", "/admin/audit"] {
        let a = node.get(path, Some(&nora)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
        assert!(a.body.contains("Operators only"), "{}", a.body);
    }
    let a = node
        .post(
            "/admin/services/quotes/disable",
            Some(&nora),
            &[("csrf", &nora.csrf), ("reason", "not mine to do")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(node.service_state("quotes"), "closed");
    assert!(node.audit().await.is_empty());
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused_and_change_nothing() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    let other = node.sign_in("otto", &["operator"]).await;
    node.home().await;
    let entries = node
        .state
        .engine()
        .fragments()
        .cache()
        .settled_snapshot()
        .entries;
    assert!(entries > 0);

    let zeros = "0".repeat(64);
    for csrf in [
        None,
        Some(""),
        Some(zeros.as_str()),
        Some(other.csrf.as_str()),
    ] {
        let mut fields = vec![("reason", "feed corrupt")];
        if let Some(c) = csrf {
            fields.push(("csrf", c));
        }
        let a = node
            .post("/admin/services/quotes/disable", Some(&olga), &fields)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
        assert!(a.body.contains("This form has expired"), "{}", a.body);

        let mut fields = vec![("objects", "news"), ("mode", "hard")];
        if let Some(c) = csrf {
            fields.push(("csrf", c));
        }
        let a = node
            .post("/admin/cache/invalidate", Some(&olga), &fields)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    // A JSON body is no way around it either.
    let req = Request::post("/admin/services/quotes/disable")
        .header(header::COOKIE, format!("tessera_session={}", olga.id))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"csrf": "{}", "reason": "x"}}"#,
            olga.csrf
        )))
        .expect("request");
    let a = node.send(app(node.state.clone(), None), req).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    assert_eq!(node.service_state("quotes"), "closed");
    assert_eq!(
        node.state
            .engine()
            .fragments()
            .cache()
            .settled_snapshot()
            .entries,
        entries,
        "nothing was invalidated"
    );
    assert!(node.audit().await.is_empty());
    assert!(node
        .state
        .store
        .toggles()
        .await
        .expect("toggles")
        .is_empty());
}

#[tokio::test]
async fn a_disable_without_a_reason_is_shown_again_and_changes_nothing() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    for reason in ["", "   \n\t "] {
        let a = node
            .post(
                "/admin/services/quotes/disable",
                Some(&olga),
                &[("csrf", &olga.csrf), ("reason", reason)],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body
                .contains("id=\"service-quotes-error\">Disabling a service needs a reason"),
            "{}",
            a.body
        );
        // The page is the whole console page again, forms and all.
        assert!(a.body.contains("action=\"/admin/services/quotes/disable\""));
    }
    let long = "x".repeat(501);
    let a = node
        .post(
            "/admin/services/quotes/disable",
            Some(&olga),
            &[("csrf", &olga.csrf), ("reason", &long)],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("The reason is longer than 500 characters"),
        "{}",
        a.body
    );

    let a = node
        .post(
            "/admin/services/nope/disable",
            Some(&olga),
            &[("csrf", &olga.csrf), ("reason", "x")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("There is no service “nope”"), "{}", a.body);
    let a = node
        .post(
            "/admin/services/quotes/explode",
            Some(&olga),
            &[("csrf", &olga.csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    assert_eq!(node.service_state("quotes"), "closed");
    assert!(node.audit().await.is_empty());
    assert!(node
        .state
        .store
        .toggles()
        .await
        .expect("toggles")
        .is_empty());
    let before = f.quotes.calls();
    node.home().await;
    assert_eq!(f.quotes.calls(), before + 1, "quotes is still called");
}

#[tokio::test]
async fn a_disable_through_the_form_stops_backend_calls_and_is_audited() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    let page = node.home().await;
    assert_eq!(slot_status(&page, "quotes"), "ok");
    assert_eq!(f.quotes.calls(), 1);
    node.home().await;
    assert_eq!(
        f.quotes.calls(),
        2,
        "quotes is not cached: every page calls it"
    );

    let a = node
        .post(
            "/admin/services/quotes/disable",
            Some(&olga),
            &[("csrf", &olga.csrf), ("reason", "  quotes feed corrupt  ")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        a.location(),
        "/admin?done=disable&service=quotes#service-quotes"
    );
    for _ in 0..5 {
        let page = node.home().await;
        assert_eq!(slot_status(&page, "quotes"), "fallback");
        assert!(page.contains("Quotes are resting."), "{page}");
    }
    assert_eq!(
        f.quotes.calls(),
        2,
        "a disabled service is not called at all"
    );

    let front = node
        .get(&a.location().replace("#service-quotes", ""), Some(&olga))
        .await;
    assert!(
        front
            .body
            .contains("quotes: disabled — it is no longer called"),
        "{}",
        front.body
    );
    assert!(front.body.contains("data-state=\"disabled\""));
    assert!(
        front.body.contains("Disabled by <strong>olga</strong>")
            && front.body.contains("“quotes feed corrupt”"),
        "{}",
        front.body
    );
    let saved = node.state.store.toggles().await.expect("toggles");
    assert_eq!(
        (
            saved.len(),
            saved[0].actor.as_str(),
            saved[0].reason.as_str()
        ),
        (1, "olga", "quotes feed corrupt"),
        "saved, so it survives a restart"
    );

    let audit = node.audit().await;
    assert_eq!(audit.len(), 1);
    let e = &audit[0];
    assert_eq!(
        (
            e.actor.as_str(),
            e.action.as_str(),
            e.target.as_str(),
            e.reason.as_deref(),
            e.origin.as_deref()
        ),
        (
            "olga",
            "service.disable",
            "quotes",
            Some("quotes feed corrupt"),
            Some("10.1.2.3")
        )
    );
    let detail = e.detail.as_ref().expect("detail");
    assert_eq!(
        (&detail["from"], &detail["to"], &detail["via"]),
        (&"closed".into(), &"disabled".into(), &"console".into())
    );
    let log = node.get("/admin/audit", Some(&olga)).await;
    for needle in [
        "<code>service.disable</code>",
        "olga <span class=\"tag\">console</span>",
        "quotes feed corrupt",
        "10.1.2.3",
    ] {
        assert!(log.body.contains(needle), "{needle} in {}", log.body);
    }

    // Enabled again through the form: calls resume.
    let a = node
        .post(
            "/admin/services/quotes/enable",
            Some(&olga),
            &[("csrf", &olga.csrf)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(node.service_state("quotes"), "closed");
    assert_eq!(slot_status(&node.home().await, "quotes"), "ok");
    assert_eq!(f.quotes.calls(), 3);
    assert!(node
        .state
        .store
        .toggles()
        .await
        .expect("toggles")
        .is_empty());
    let audit = node.audit().await;
    assert_eq!(audit[0].action, "service.enable");
    assert_eq!(audit[0].reason, None);

    // Force closed and reset: the same path, the same log.
    for (action, state) in [
        ("force-closed", "forced_closed"),
        ("reset", "forced_closed"),
    ] {
        let a = node
            .post(
                &format!("/admin/services/quotes/{action}"),
                Some(&olga),
                &[("csrf", &olga.csrf), ("reason", "drill")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(node.service_state("quotes"), state);
    }
    let names: Vec<String> = node.audit().await.into_iter().map(|e| e.action).collect();
    assert_eq!(
        names,
        [
            "service.reset",
            "service.force_closed",
            "service.enable",
            "service.disable"
        ]
    );
}

#[tokio::test]
async fn the_json_api_records_the_operator_not_the_token() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    let req = Request::post("/admin/api/services/news/disable")
        .header(header::COOKIE, format!("tessera_session={}", olga.id))
        .header("x-csrf-token", &olga.csrf)
        .body(Body::from(r#"{"reason": "via the API"}"#))
        .expect("request");
    let a = node.send(app(node.state.clone(), None), req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let req = Request::post("/admin/api/services/news/enable")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let a = node.send(app(node.state.clone(), None), req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let audit = node.audit().await;
    let who: Vec<(&str, &str, Option<&str>)> = audit
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.detail.as_ref().and_then(|d| d["via"].as_str()),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("admin-token", "service.enable", Some("api")),
            ("olga", "service.disable", Some("api")),
        ]
    );
    assert!(audit
        .iter()
        .all(|e| e.origin.as_deref() == Some("10.1.2.3")));
}

#[tokio::test]
async fn the_cache_page_shows_what_metrics_exports_and_invalidates_after_a_preview() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    node.home().await;
    node.home().await;

    let page = node.get("/admin/cache", Some(&olga)).await;
    let metrics = node.get("/metrics", None).await.body;
    for (label, name) in [
        ("Size", "tessera_cache_bytes"),
        ("Entries", "tessera_cache_entries"),
        ("Hits", "tessera_cache_hits_total"),
        ("Misses", "tessera_cache_misses_total"),
        ("Evictions", "tessera_cache_evictions_total"),
        ("Bound", "tessera_cache_max_bytes"),
    ] {
        assert_eq!(
            figure(&page.body, label),
            metric(&metrics, name),
            "{label} is {name}"
        );
    }
    assert!(
        figure(&page.body, "Hits") > 0,
        "the second homepage hit the cache"
    );

    // Step one: the preview touches nothing.
    let entries = figure(&page.body, "Entries");
    let news_calls = f.news.calls();
    let a = node
        .post(
            "/admin/cache/preview",
            Some(&olga),
            &[
                ("csrf", &olga.csrf),
                ("objects", "news:42"),
                ("mode", "hard"),
                ("reason", "correction published"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("Impact preview — nothing has changed yet"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("href=\"/admin/registry#fragment-news\">news</a>"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("href=\"/admin/registry#page-home\">home</a>"),
        "{}",
        a.body
    );
    assert!(
        a.body
            .contains("<input type=\"hidden\" name=\"objects\" value=\"news:42\">"),
        "the confirmation carries the same keys: {}",
        a.body
    );
    let would = a.body[a.body.find("<strong>").expect("count") + 8..]
        .split('<')
        .next()
        .expect("count")
        .parse::<u64>()
        .expect("a number");
    assert!(would > 0);
    assert_eq!(
        node.state
            .engine()
            .fragments()
            .cache()
            .settled_snapshot()
            .entries,
        entries,
        "a preview removes nothing"
    );
    assert!(node.audit().await.is_empty(), "a preview is not an action");

    // Step two: confirmed.
    let a = node
        .post(
            "/admin/cache/invalidate",
            Some(&olga),
            &[
                ("csrf", &olga.csrf),
                ("objects", "news:42"),
                ("mode", "hard"),
                ("reason", "correction published"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body
            .contains(&format!("Invalidated: {would} cached entr")),
        "{}",
        a.body
    );
    let after = node.state.engine().fragments().cache().settled_snapshot();
    assert_eq!(after.entries, entries - would);
    assert_eq!(after.invalidations, 1);
    let audit = node.audit().await;
    assert_eq!(
        (
            audit[0].actor.as_str(),
            audit[0].action.as_str(),
            audit[0].target.as_str(),
            audit[0].reason.as_deref()
        ),
        (
            "olga",
            "cache.invalidate",
            "objects: news:42",
            Some("correction published")
        )
    );
    node.home().await;
    assert_eq!(f.news.calls(), news_calls + 1, "news is fetched again");

    // Refused forms say why and touch nothing.
    for (fields, message) in [
        (vec![("mode", "hard")], "nothing to invalidate"),
        (
            vec![("objects", "news"), ("mode", "purge")],
            "Unknown mode “purge”",
        ),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &olga.csrf));
        let a = node
            .post("/admin/cache/preview", Some(&olga), &fields)
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains(message), "{message} in {}", a.body);
    }
    assert_eq!(node.audit().await.len(), 1);
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    for i in 1..=60 {
        node.state
            .store
            .append_audit(&AuditEntry {
                at: SystemTime::now(),
                actor: "olga".into(),
                action: "test.entry".into(),
                target: format!("target-{i}"),
                reason: None,
                origin: None,
                detail: None,
            })
            .await
            .expect("append");
    }
    let ids = |body: &str| -> Vec<u64> {
        body.split("<td class=\"num\">")
            .skip(1)
            .map(|s| s.split('<').next().expect("id").parse().expect("number"))
            .collect()
    };
    let first = node.get("/admin/audit", Some(&olga)).await;
    let newest = ids(&first.body);
    assert_eq!(newest.len(), 50);
    assert!(newest.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(first.body.contains("target-60"));
    let last = newest[49];
    assert!(
        first
            .body
            .contains(&format!("href=\"/admin/audit?before={last}\" rel=\"next\"")),
        "{}",
        first.body
    );
    let second = node
        .get(&format!("/admin/audit?before={last}"), Some(&olga))
        .await;
    let older = ids(&second.body);
    assert_eq!(older.len(), 10);
    assert!(older.iter().all(|id| *id < last));
    assert!(!second.body.contains("rel=\"next\""), "no older page");
    for bad in ["abc", "-3", "0"] {
        let a = node
            .get(&format!("/admin/audit?before={bad}"), Some(&olga))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn with_admin_listen_the_public_app_has_no_admin_and_the_admin_app_has_it_all() {
    let f = Fixture::new("listen = \"127.0.0.1:9\"").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    for path in ["/admin", "/admin/cache", "/admin/api/services"] {
        let a = node.get(path, Some(&olga)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path} on the public app");
    }
    let admin = || console::admin_app(node.state.clone(), None);
    let get = |path: &str, session: Option<&Session>| {
        let mut req = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("tessera_session={}", s.id));
        }
        node.send(admin(), req.body(Body::empty()).expect("request"))
    };
    assert_eq!(get("/admin", Some(&olga)).await.status, StatusCode::OK);
    assert_eq!(get("/admin", None).await.location(), "/login?next=/admin");
    assert_eq!(get("/login", None).await.status, StatusCode::OK);
    assert_eq!(get("/", None).await.location(), "/admin");
    let api = Request::get("/admin/api/services")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(node.send(admin(), api).await.status, StatusCode::OK);
    // The portal's pages are not there.
    assert_eq!(
        get("/pages/markets", None).await.status,
        StatusCode::NOT_FOUND
    );
    let a = node
        .post_to(
            admin(),
            "/admin/services/quotes/disable",
            Some(&olga),
            &[("csrf", &olga.csrf), ("reason", "from the admin port")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(node.service_state("quotes"), "disabled");
}

/// `tessera serve` with `[admin] listen`: the public listener answers `/admin` with 404,
/// the admin listener serves the console.
#[tokio::test]
async fn tessera_serve_serves_admin_only_on_the_admin_listener() {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
    };
    let (public, admin) = (free(), free());
    let f = Fixture::new(&format!("listen = \"{admin}\"")).await;
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("serve")
            .arg("--config")
            .arg(f.dir.config_dir())
            .arg("--templates")
            .arg(f.dir.templates_dir())
            .arg("--listen")
            .arg(public.to_string())
            .env(
                "TESSERA_DATABASE_URL",
                format!("sqlite://{}", state.path().join("s.db").display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tessera serve"),
    );
    let pipe = child.0.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = Vec::new();
    // The admin listener is announced before the public one's "is serving" line.
    while !log.iter().any(|l: &String| l.contains("is serving on")) {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => log.push(line),
            Err(e) => panic!("the node did not start ({e:?}):\n{}", log.join("\n")),
        }
    }
    assert!(
        log.iter().any(|l| l.contains(&format!(
            "Operator console and admin API on http://{admin}/admin"
        ))),
        "{}",
        log.join("\n")
    );
    let status_of = |addr: SocketAddr, path: &'static str| async move {
        let answer = raw_get(addr, path).await;
        let line = answer.lines().next().unwrap_or_default().to_owned();
        (line, answer)
    };
    let (line, answer) = status_of(public, "/admin").await;
    assert!(line.contains(" 404 "), "{answer}");
    let (line, _) = status_of(public, "/admin/api/services").await;
    assert!(line.contains(" 404 "), "{line}");
    let (line, _) = status_of(public, "/healthz").await;
    assert!(line.contains(" 200 "), "the public listener serves: {line}");
    let (line, answer) = status_of(admin, "/admin").await;
    assert!(line.contains(" 303 "), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("location: /login?next=/admin"),
        "{answer}"
    );
    let (line, answer) = status_of(admin, "/login").await;
    assert!(line.contains(" 200 "), "{answer}");
}

/// Kills the child if the test fails half-way.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` over a fresh connection; the whole answer as text.
async fn raw_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn the_descriptors_page_lists_versions_and_rolls_back_after_a_preview() {
    let f = Fixture::new("").await;
    let node = Node::start_changeable(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    assert!(node.home().await.contains("<b>SMI 12000</b>"));
    // A service team changes a template through the JSON API.
    let req = Request::put("/admin/api/templates/fragments/v.html")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from("<i>{{ model.v }}</i>"))
        .expect("request");
    let put = node.send(app(node.state.clone(), None), req).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert!(node.home().await.contains("<i>SMI 12000</i>"));

    let page = node.get("/admin/descriptors", Some(&olga)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for needle in [
        "id=\"version-1\"",
        "id=\"version-2\"",
        "running",
        "put template fragments&#x2f;v.html",
        "admin-token",
    ] {
        assert!(page.body.contains(needle), "{needle} in {}", page.body);
    }

    // No CSRF token, no reason, no such version: refused, nothing changes.
    let a = node
        .post(
            "/admin/descriptors/preview",
            Some(&olga),
            &[("version", "1"), ("reason", "undo")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = node
        .post(
            "/admin/descriptors/preview",
            Some(&olga),
            &[("csrf", &olga.csrf), ("version", "1"), ("reason", " ")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let a = node
        .post(
            "/admin/descriptors/rollback",
            Some(&olga),
            &[("csrf", &olga.csrf), ("version", "9"), ("reason", "undo")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);

    // The preview says what would change and changes nothing.
    let preview = node
        .post(
            "/admin/descriptors/preview",
            Some(&olga),
            &[
                ("csrf", &olga.csrf),
                ("version", "1"),
                ("reason", "the italics were a mistake"),
            ],
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(
        preview.body.contains("nothing has changed yet"),
        "{}",
        preview.body
    );
    assert!(
        preview
            .body
            .contains("replaced template fragments&#x2f;v.html"),
        "{}",
        preview.body
    );
    assert!(node.home().await.contains("<i>SMI 12000</i>"));

    // The confirmation rolls back, as operator olga, with her reason.
    let done = node
        .post(
            "/admin/descriptors/rollback",
            Some(&olga),
            &[
                ("csrf", &olga.csrf),
                ("version", "1"),
                ("reason", "the italics were a mistake"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("the set is now version 3"),
        "{}",
        done.body
    );
    assert!(node.home().await.contains("<b>SMI 12000</b>"));
    let versions = node
        .state
        .registry
        .versions(10, None)
        .await
        .expect("versions");
    assert_eq!(
        (versions[0].origin.as_str(), versions[0].actor.as_str()),
        ("rollback", "olga")
    );
    assert_eq!(versions[0].reason, "the italics were a mistake");
    let audit = node.audit().await;
    assert!(
        audit.iter().any(|e| e.action == "descriptors.rollback"
            && e.actor == "olga"
            && e.origin.as_deref() == Some("10.1.2.3")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn every_console_page_says_which_node_it_is_and_whether_it_is_degraded() {
    let f = Fixture::new("").await;
    let node = Node::start(&f).await;
    let olga = node.sign_in("olga", &["operator"]).await;
    let page = node.get("/admin", Some(&olga)).await;
    assert!(page.body.contains("id=\"node-status\""), "{}", page.body);
    assert!(
        page.body.contains("single node (SQLite store)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"node-degraded\""), "{}", page.body);

    // What the readiness probe records when the store stops answering.
    let lost = tessera_store::StoreError::Unavailable("connection refused".into());
    node.state.cluster.note_store(Err(&lost));
    for path in ["/admin", "/admin/cache", "/admin/descriptors"] {
        let page = node.get(path, Some(&olga)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            page.body.contains("id=\"node-degraded\""),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body.contains("connection refused"),
            "{path}: {}",
            page.body
        );
    }
    node.state.cluster.note_store(Ok(()));
    let page = node.get("/admin", Some(&olga)).await;
    assert!(!page.body.contains("id=\"node-degraded\""), "{}", page.body);
}
