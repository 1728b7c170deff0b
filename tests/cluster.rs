//! Several nodes over one PostgreSQL (issue #8): two nodes in one test, each with its own
//! HTTP port, cache and breakers, sharing a database of their own (so parallel tests
//! never hear each other's notifications). What one node's operator does reaches the
//! other within a second; a node that lost its listening connection does not serve what
//! it may have missed.
//!
//! Effects are proven by the backend's call count, and waited for by polling with a
//! deadline — never by sleeping a fixed time. PostgreSQL is required (see
//! `TestDatabase`); these tests fail, never skip, without it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_channels::cluster::BusState;
use tessera_channels::registry::docs::Base;
use tessera_channels::{app, runtime, server, AppState};
use tessera_descriptors::Portal;
use tessera_test_support::reqwest::{Client, Method};
use tessera_test_support::{PortalDir, Reply, Scripted, TestDatabase};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "cluster-test-admin-token";

/// What "within one second" is measured against.
const PROMPT: Duration = Duration::from_secs(1);

/// One page `home` showing fragment `quotes` (object `quotes`) from `backend`.
fn portal(backend: &Scripted, lifecycle: &str) -> PortalDir {
    portal_with(backend, lifecycle, "")
}

/// [`portal`] with more of `tessera.toml` (`[cluster]`, `[store]`).
fn portal_with(backend: &Scripted, lifecycle: &str, settings: &str) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!(
            "[portal]\nname = \"T\"\nhome = \"home\"\n[admin]\ntoken = \"{TOKEN}\"\n\
             [limits]\nrequests-per-second = 0\n{settings}"
        ),
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
            r#"<fragment id="quotes" service="quotes" path="/quotes">{lifecycle}<depends-on object="quotes"/><template>fragments/q.html</template><fallback>no quotes</fallback></fragment>"#
        ),
    );
    dir.template("fragments/q.html", "<b>{{ model.v }}</b>");
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/></region></page>"#,
    );
    dir
}

async fn store(url: &str) -> std::sync::Arc<dyn tessera_store::Store> {
    let mut options = tessera_store::StoreOptions::default();
    // Two nodes per test, tests in parallel, one server: keep pools small.
    options.max_connections = 3;
    tessera_store::open_with(url, &options)
        .await
        .expect("store")
}

/// A node on its own port over the shared database.
struct Node {
    state: AppState,
    addr: SocketAddr,
    http: Client,
    cancel: CancellationToken,
}

impl Node {
    async fn start(dir: &PortalDir, db: &TestDatabase) -> Node {
        Self::start_at(dir, &db.url()).await
    }

    async fn start_at(dir: &PortalDir, url: &str) -> Node {
        let portal = Portal::load(&dir.config_dir(), &dir.templates_dir())
            .unwrap_or_else(|d| panic!("portal must load:\n{d}"));
        let store = store(url).await;
        let cancel = CancellationToken::new();
        let state = runtime::start(portal, store, &cancel)
            .await
            .expect("node starts");
        Self::serve(state, cancel).await
    }

    /// A node whose descriptor set can change (hot registration), as `tessera serve`
    /// starts one — without watching the folders.
    async fn start_registry(dir: &PortalDir, db: &TestDatabase) -> Node {
        let base = Base::read(&dir.config_dir(), &dir.templates_dir());
        let cancel = CancellationToken::new();
        let state = runtime::start_node(base, None, store(&db.url()).await, &cancel)
            .await
            .expect("node starts");
        Self::serve(state, cancel).await
    }

    async fn serve(state: AppState, cancel: CancellationToken) -> Node {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app(state.clone(), None);
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ = server::serve(listener, router, async move { stop.cancelled().await }).await;
        });
        let node = Node {
            state,
            addr,
            http: Client::new(),
            cancel,
        };
        node.wait_ready().await;
        node
    }

    async fn request(&self, method: Method, path: &str, body: Option<String>) -> (u16, String) {
        let mut req = self
            .http
            .request(method, format!("http://{}{path}", self.addr))
            .header("authorization", format!("Bearer {TOKEN}"));
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.expect("the node answers");
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.request(Method::GET, path, None).await
    }

    async fn home(&self) -> String {
        let (status, body) = self.get("/").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, text) = self
            .request(Method::POST, path, Some(body.to_string()))
            .await;
        assert_eq!(status, 200, "POST {path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Until `/readyz` says 200 and the node listens, resynchronized (an optional
    /// store makes it ready before).
    async fn wait_ready(&self) {
        let (mut status, mut body) = (0, String::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            (status, body) = self.get("/readyz").await;
            if status == 200 && self.state.cluster.status().in_sync() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("node {} not ready: {status} {body}", self.node_id());
    }

    fn node_id(&self) -> String {
        self.state.cluster.node_id().to_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Polls `check` every 5 ms until it returns `Some`, failing after `limit`; returns the
/// value and how long it took.
async fn within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return (v, start.elapsed());
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_on_one_node_stops_and_restarts_the_other_nodes_calls_within_a_second() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "live"}"#));
    // No lifecycle: nothing is cached, every page view calls the backend.
    let dir = portal(&backend, "");
    let (a, b) = (Node::start(&dir, &db).await, Node::start(&dir, &db).await);
    assert_ne!(a.node_id(), b.node_id());

    assert!(b.home().await.contains("<b>live</b>"));
    assert_eq!(backend.calls(), 1);

    a.post(
        "/admin/api/services/quotes/disable",
        json!({"reason": "vendor maintenance"}),
    )
    .await;
    let (_, took) = within(PROMPT, "B stops calling the disabled backend", || async {
        let before = backend.calls();
        let page = b.home().await;
        (backend.calls() == before).then_some(page)
    })
    .await;
    // Once it took effect, it stays: B calls no more, and says why.
    let calls = backend.calls();
    for _ in 0..5 {
        let page = b.home().await;
        assert!(page.contains("no quotes"), "{page}");
    }
    assert_eq!(backend.calls(), calls, "B called a backend disabled on A");
    let (_, view) = b.get("/admin/api/services/quotes").await;
    let view: Value = serde_json::from_str(&view).expect("json");
    assert_eq!(view["state"], "disabled", "{view}");
    eprintln!("disable on A took effect on B after {took:?}");

    a.post("/admin/api/services/quotes/enable", json!({})).await;
    let (_, took) = within(PROMPT, "B calls the re-enabled backend", || async {
        let before = backend.calls();
        let page = b.home().await;
        (backend.calls() == before + 1 && page.contains("<b>live</b>")).then_some(())
    })
    .await;
    eprintln!("enable on A took effect on B after {took:?}");
    // A's own view never depended on the bus.
    assert!(a.home().await.contains("<b>live</b>"));
    let status = b.state.cluster.status();
    assert!(status.applied >= 2, "{status:?}");
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_on_one_node_makes_the_other_refetch_within_a_second() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "first"}"#));
    let dir = portal(&backend, r#"<lifecycle ttl="10m"/>"#);
    let (a, b) = (Node::start(&dir, &db).await, Node::start(&dir, &db).await);

    assert!(b.home().await.contains("<b>first</b>"));
    assert!(a.home().await.contains("<b>first</b>"));
    assert_eq!(backend.calls(), 2, "one cache per node");
    backend.respond(Reply::json(r#"{"v": "second"}"#));
    assert!(
        b.home().await.contains("<b>first</b>"),
        "B serves its cache"
    );
    assert_eq!(backend.calls(), 2);

    let answer = a
        .post("/admin/api/invalidate", json!({"objects": ["quotes"]}))
        .await;
    assert!(answer["affected"]["entries"].as_u64() > Some(0), "{answer}");
    let (_, took) = within(PROMPT, "B refetches after A's invalidation", || async {
        b.home().await.contains("<b>second</b>").then_some(())
    })
    .await;
    eprintln!("invalidation on A reached B after {took:?}");
    assert_eq!(backend.calls(), 3, "exactly B's one refetch");
    assert!(b.home().await.contains("<b>second</b>"));
    assert_eq!(backend.calls(), 3, "and B caches it again");
    assert!(a.home().await.contains("<b>second</b>"));
    assert_eq!(backend.calls(), 4, "A refetches its own");
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_listening_connection_a_node_does_not_serve_what_it_missed() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "old"}"#));
    let dir = portal(&backend, r#"<lifecycle ttl="10m"/>"#);
    let (a, b) = (Node::start(&dir, &db).await, Node::start(&dir, &db).await);
    assert!(b.home().await.contains("<b>old</b>"));
    assert!(a.home().await.contains("<b>old</b>"));
    assert_eq!(backend.calls(), 2);
    let resyncs = b.state.cluster.status().resyncs;
    let b_listener = b.state.cluster.application_name();
    assert_eq!(db.connections(&b_listener).await, 1);

    // The gap: B's listening connection is killed and cannot come back until allowed.
    db.allow_connections(false).await;
    assert_eq!(db.terminate(&b_listener).await, 1);
    within(
        Duration::from_secs(5),
        "B notices the lost connection and fails to reconnect",
        || async {
            match b.state.cluster.status().bus {
                BusState::Reconnecting { error, .. } => error
                    .contains("not currently accepting connections")
                    .then_some(()),
                _ => None,
            }
        },
    )
    .await;
    // B says so, stays alive, and keeps serving from its cache.
    let (status, health) = b.get("/healthz").await;
    assert_eq!(status, 200);
    // The database refuses connections: both the store and the bus are reported.
    assert!(
        health.starts_with("ok; degraded: store unreachable since ")
            && health.contains("; cluster bus: reconnecting since "),
        "{health}"
    );
    let (status, ready) = b.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    let ready: Value = serde_json::from_str(&ready).expect("json");
    assert!(
        ready["cluster"]
            .as_str()
            .is_some_and(|c| c.starts_with("cluster bus: reconnecting since ")),
        "{ready}"
    );
    assert!(b.home().await.contains("<b>old</b>"));
    assert_eq!(backend.calls(), 2);

    // Meanwhile the data changes and A invalidates: B cannot hear it.
    backend.respond(Reply::json(r#"{"v": "new"}"#));
    let published = a.state.cluster.status().published;
    a.post("/admin/api/invalidate", json!({"objects": ["quotes"]}))
        .await;
    within(
        Duration::from_secs(5),
        "A sends its invalidation",
        || async { (a.state.cluster.status().published > published).then_some(()) },
    )
    .await;
    assert!(matches!(
        b.state.cluster.status().bus,
        BusState::Reconnecting { .. }
    ));

    // B comes back: it resynchronizes before it reports itself in sync, and does not
    // serve the entry it was never told about.
    db.allow_connections(true).await;
    within(Duration::from_secs(10), "B listens again", || async {
        let s = b.state.cluster.status();
        (matches!(s.bus, BusState::Listening { .. }) && s.resyncs > resyncs).then_some(())
    })
    .await;
    b.wait_ready().await;
    assert_eq!(db.connections(&b_listener).await, 1);
    assert!(
        b.home().await.contains("<b>new</b>"),
        "B served a stale entry"
    );
    assert_eq!(backend.calls(), 3);
    assert_eq!(b.get("/healthz").await, (200, "ok".to_owned()));

    // A toggle missed in a gap is picked up the same way.
    let resyncs = b.state.cluster.status().resyncs;
    db.allow_connections(false).await;
    assert_eq!(db.terminate(&b_listener).await, 1);
    within(
        Duration::from_secs(5),
        "B notices the second gap",
        || async {
            matches!(b.state.cluster.status().bus, BusState::Reconnecting { .. }).then_some(())
        },
    )
    .await;
    let published = a.state.cluster.status().published;
    a.post(
        "/admin/api/services/quotes/disable",
        json!({"reason": "during the gap"}),
    )
    .await;
    within(Duration::from_secs(5), "A sends the toggle", || async {
        (a.state.cluster.status().published > published).then_some(())
    })
    .await;
    db.allow_connections(true).await;
    b.wait_ready().await;
    assert!(b.state.cluster.status().resyncs > resyncs);
    let (_, view) = b.get("/admin/api/services/quotes").await;
    let view: Value = serde_json::from_str(&view).expect("json");
    assert_eq!(view["state"], "disabled", "{view}");
    let calls = backend.calls();
    assert!(b.home().await.contains("no quotes"));
    assert_eq!(backend.calls(), calls);
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_registered_on_one_node_is_served_by_the_other_within_a_second() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "shared"}"#));
    let dir = portal(&backend, "");
    let a = Node::start_registry(&dir, &db).await;
    let b = Node::start_registry(&dir, &db).await;
    let (status, _) = b.get("/pages/markets").await;
    assert_eq!(status, 404, "not registered yet");

    let page = r#"<page id="markets" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/></region></page>"#;
    let (status, answer) = a
        .request(
            Method::PUT,
            "/admin/api/descriptors/page/markets?reason=new%20page",
            Some(page.to_owned()),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    let version = answer["version"].as_i64().expect("a version");
    let (page, took) = within(PROMPT, "B serves the page registered on A", || async {
        let (status, body) = b.get("/pages/markets").await;
        (status == 200).then_some(body)
    })
    .await;
    eprintln!("a page registered on A was served by B after {took:?}");
    assert!(page.contains("<b>shared</b>"), "{page}");
    assert_eq!(b.state.registry.version().await, version);

    // Removed on B, gone on A.
    let (status, answer) = b
        .request(
            Method::DELETE,
            "/admin/api/descriptors/page/markets?reason=withdrawn",
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    within(PROMPT, "A drops the page removed on B", || async {
        (a.get("/pages/markets").await.0 == 404).then_some(())
    })
    .await;
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_version_committed_without_an_announcement_is_picked_up_within_a_heartbeat() {
    use tessera_channels::registry::docs::{DocKey, DocKind};
    use tessera_channels::registry::{Actor, Edit, Registry};
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "shared"}"#));
    let dir = portal_with(&backend, "", "[cluster]\nheartbeat = \"200ms\"\n");
    let b = Node::start_registry(&dir, &db).await;
    assert_eq!(b.get("/pages/markets").await.0, 404);

    // A registry with no cluster around it commits a version and tells nobody: what a
    // node that crashed before announcing its commit leaves behind.
    let cancel = CancellationToken::new();
    let silent = Registry::start(
        Base::read(&dir.config_dir(), &dir.templates_dir()),
        None,
        store(&db.url()).await,
        cancel.clone(),
        |portal, fragments| {
            let services = std::sync::Arc::new(tessera_service_access::ServiceAccess::new(&portal));
            tessera_engine::Engine::with_state(portal, services, fragments)
        },
    )
    .await
    .expect("registry");
    let outcome = silent
        .change(
            vec![Edit::Put {
                key: DocKey::new(DocKind::Page, "markets"),
                text: r#"<page id="markets" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="quotes"/></region></page>"#.into(),
            }],
            &Actor {
                name: "test".into(),
                address: None,
                reason: "unannounced".into(),
            },
            false,
        )
        .await
        .expect("change");
    assert!(outcome.applied);
    let (_, took) = within(
        Duration::from_secs(2),
        "B reconciles the descriptor set",
        || async { (b.get("/pages/markets").await.0 == 200).then_some(()) },
    )
    .await;
    eprintln!("an unannounced descriptor version was served after {took:?}");
    assert_eq!(b.state.registry.version().await, outcome.version);
    cancel.cancel();
    drop(b);
    db.drop_now().await;
}

/// A TCP relay to the database that can go silent for the listening connections open
/// at that moment — without closing them, like a peer gone in a failover or a partition.
/// It recognises a listening connection by its startup packet (`application_name`
/// `tessera-bus:…`; no TLS on this path).
struct Relay {
    addr: SocketAddr,
    /// Listening connections opened before this generation are silent.
    silence: std::sync::Arc<std::sync::atomic::AtomicU64>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let silence = Arc::new(AtomicU64::new(0));
        let generation = Arc::new(AtomicU64::new(1));
        let (s, g) = (silence.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                let silence = s.clone();
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let l = listening.clone();
                    let s2 = silence.clone();
                    let up = async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if buf[..n].windows(12).any(|w| w == b"tessera-bus:") {
                                l.store(true, Ordering::SeqCst);
                            }
                            while l.load(Ordering::SeqCst) && s2.load(Ordering::SeqCst) > born {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            if sw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            while listening.load(Ordering::SeqCst)
                                && silence.load(Ordering::SeqCst) > born
                            {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            if cw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Relay {
            addr,
            silence,
            generation,
        }
    }

    /// Silences the listening connections open now; later ones pass.
    fn silence_listeners(&self) {
        use std::sync::atomic::Ordering;
        let now = self.generation.fetch_add(1, Ordering::SeqCst);
        self.silence.store(now + 1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_connection_gone_silent_is_noticed_by_the_heartbeat() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "old"}"#));
    let dir = portal_with(
        &backend,
        r#"<lifecycle ttl="10m"/>"#,
        "[cluster]\nheartbeat = \"200ms\"\n",
    );
    let a = Node::start(&dir, &db).await;
    // B reaches the database through the relay.
    let upstream = tokio::net::lookup_host(db.server())
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let relay = Relay::start(upstream).await;
    let b = Node::start_at(&dir, &db.url_via(relay.addr)).await;
    assert!(b.home().await.contains("<b>old</b>"));
    assert_eq!(backend.calls(), 1);
    let resyncs = b.state.cluster.status().resyncs;

    relay.silence_listeners();
    let silenced = Instant::now();
    backend.respond(Reply::json(r#"{"v": "new"}"#));
    a.post("/admin/api/invalidate", json!({"objects": ["quotes"]}))
        .await;
    // B's connection is open but silent: B cannot have heard it.
    within(Duration::from_secs(5), "B resynchronizes", || async {
        let s = b.state.cluster.status();
        (matches!(s.bus, BusState::Listening { .. }) && s.resyncs > resyncs).then_some(())
    })
    .await;
    let took = silenced.elapsed();
    eprintln!("a silent listening connection was replaced after {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "two heartbeats of 200 ms should notice it, took {took:?}"
    );
    assert!(
        b.home().await.contains("<b>new</b>"),
        "B served a stale entry"
    );
    assert_eq!(backend.calls(), 2);
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_saved_without_an_announcement_is_picked_up_within_a_heartbeat() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "live"}"#));
    let dir = portal_with(&backend, "", "[cluster]\nheartbeat = \"200ms\"\n");
    let b = Node::start(&dir, &db).await;
    assert!(b.home().await.contains("<b>live</b>"));
    assert_eq!(backend.calls(), 1);

    // What a node that crashed between saving a toggle and announcing it leaves behind.
    let store = tessera_store::open(&db.url()).await.expect("store");
    store
        .put_toggle(&tessera_store::Toggle {
            service: "quotes".into(),
            mode: tessera_store::ToggleMode::Disabled,
            reason: "saved by a node that crashed".into(),
            actor: "admin-token".into(),
            at: std::time::SystemTime::now(),
        })
        .await
        .expect("put toggle");
    store.close().await;
    let (_, took) = within(
        Duration::from_secs(2),
        "B reconciles the toggle",
        || async {
            let before = backend.calls();
            let page = b.home().await;
            (backend.calls() == before && page.contains("no quotes")).then_some(())
        },
    )
    .await;
    eprintln!("an unannounced toggle took effect after {took:?}");
    let calls = backend.calls();
    b.home().await;
    assert_eq!(backend.calls(), calls);
    drop(b);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_optional_store_a_node_cut_off_from_its_database_stays_ready_and_serves() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "cached"}"#));
    let dir = portal_with(
        &backend,
        r#"<lifecycle ttl="10m"/>"#,
        "[store]\noptional = true\n",
    );
    let node = Node::start(&dir, &db).await;
    assert!(node.home().await.contains("<b>cached</b>"));

    db.allow_connections(false).await;
    assert!(
        db.terminate_all().await >= 2,
        "the pool's and the listener's"
    );
    let (ready, _) = within(
        Duration::from_secs(5),
        "the node reports the outage",
        || async {
            let (status, body) = node.get("/readyz").await;
            assert_eq!(
                status, 200,
                "an optional store keeps the node ready: {body}"
            );
            let ready: Value = serde_json::from_str(&body).expect("json");
            ready["degraded"].is_string().then_some(ready)
        },
    )
    .await;
    assert_eq!(ready["ready"], true);
    assert!(
        ready["store"]
            .as_str()
            .is_some_and(|s| s.starts_with("unreachable since ")),
        "{ready}"
    );
    let (status, health) = node.get("/healthz").await;
    assert_eq!(status, 200);
    assert!(
        health.starts_with("ok; degraded: store unreachable since "),
        "{health}"
    );
    // Pages come from the cache; nothing waits on the database.
    assert!(node.home().await.contains("<b>cached</b>"));
    assert_eq!(backend.calls(), 1);

    db.allow_connections(true).await;
    within(Duration::from_secs(10), "the node recovers", || async {
        (node.get("/healthz").await.1 == "ok").then_some(())
    })
    .await;
    drop(node);
    db.drop_now().await;
}

#[tokio::test]
async fn a_sqlite_node_is_alone_and_says_so() {
    let backend = Scripted::start().await;
    backend.respond(Reply::json(r#"{"v": "x"}"#));
    let dir = portal(&backend, "");
    let portal = Portal::load(&dir.config_dir(), &dir.templates_dir()).expect("portal");
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal, store, &cancel).await.expect("node");
    let status = state.cluster.status();
    assert!(!state.cluster.has_bus());
    assert_eq!((status.bus, status.channel), (BusState::Single, None));
    // Publishing is a no-op, not an error.
    state.cluster.publish_toggle("quotes");
    state.cluster.publish_resync();
    assert_eq!(state.cluster.status().published, 0);
    let router = app(state, None);
    let res = tower::ServiceExt::oneshot(
        router,
        http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .expect("body");
    let ready: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        ready["cluster"],
        "single node (SQLite store): no cluster bus"
    );
    assert_eq!(ready["ready"], true);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_changed_on_one_node_counts_on_the_others_next_request() {
    let db = TestDatabase::create().await;
    let backend = Scripted::start().await;
    for symbol in ["SMI", "DAX", "NESN"] {
        backend.route(
            &format!("/q/{symbol}"),
            Reply::json(format!(r#"{{"v": "{symbol}"}}"#)),
        );
    }
    // Users signed in by a proxy's header; what a node reads of them it keeps for an
    // hour, so only a message can make it read again within this test.
    let dir = portal_with(
        &backend,
        "",
        "[auth]\nidentity-cache-ttl = \"1h\"\n[auth.header]\nsecret = \"cluster-proxy-secret\"\n",
    );
    dir.fragment_xml(
        "quotes",
        r#"<fragment id="quotes" service="quotes" path="/q/{param.symbols}"><param name="symbols" type="list" default="SMI" choices="SMI,DAX,NESN"/><template>fragments/q.html</template><fallback>no quotes</fallback></fragment>"#,
    );
    let (a, b) = (Node::start(&dir, &db).await, Node::start(&dir, &db).await);
    let alice = a
        .state
        .store
        .create_user(&tessera_store::NewUser {
            login: "alice".into(),
            display_name: "Alice".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
            roles: Vec::new(),
            segment: None,
            extra_tokens: Vec::new(),
            attributes: Default::default(),
            created_at: std::time::SystemTime::now(),
        })
        .await
        .expect("alice");
    let page = |node: &'_ Node| {
        let req = node
            .http
            .get(format!("http://{}/", node.addr))
            .header("x-remote-user", "alice")
            .header("x-tessera-proxy-secret", "cluster-proxy-secret");
        async move {
            req.send()
                .await
                .expect("answers")
                .text()
                .await
                .expect("body")
        }
    };
    assert!(b.state.cluster.has_bus());
    assert!(page(&b).await.contains("<b>SMI</b>"));
    assert!(page(&a).await.contains("<b>SMI</b>"));

    // Written behind both nodes' backs: B keeps the alice it read.
    let changes = |symbols: &str| {
        std::collections::BTreeMap::from([(
            "fragment.quotes.symbols".to_owned(),
            Some(symbols.to_owned()),
        )])
    };
    b.state
        .store
        .set_profile_values(alice.id, &changes("DAX"))
        .await
        .expect("written");
    assert!(page(&b).await.contains("<b>SMI</b>"), "B keeps its user");

    // Changed through A (as A's form and API change it): A sees it at once, B within a
    // second.
    tessera_channels::auth::identity::set_profile_values(&a.state, &alice, &changes("NESN"))
        .await
        .expect("written");
    assert!(page(&a).await.contains("<b>NESN</b>"));
    let (_, took) = within(PROMPT, "B reads alice again", || async {
        page(&b).await.contains("<b>NESN</b>").then_some(())
    })
    .await;
    eprintln!("a profile change on A counted on B after {took:?}");
    drop((a, b));
    db.drop_now().await;
}
