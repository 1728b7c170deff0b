//! Hot registration (issue #7): descriptors and templates added, replaced and removed on
//! a running node through the admin API and the watched folders; validated against the
//! whole set, swapped in atomically, versioned, rolled back, persisted. Real backends on
//! 127.0.0.1:0, a real SQLite file.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{json, Value};
use tessera_channels::registry::docs::Base;
use tessera_channels::{app, runtime, AppState};
use tessera_test_support::{Gate, PortalDir, Reply, Scripted};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const TOKEN: &str = "registration-test-token";

/// A portal with one fragment (`news`) on the home page, over `backend`.
fn portal(backend: &Scripted) -> PortalDir {
    let dir = PortalDir::new();
    dir.file(
        "config/tessera.toml",
        &format!("[portal]\nname = \"T\"\nhome = \"home\"\n[admin]\ntoken = \"{TOKEN}\"\n"),
    );
    dir.service("backend", &backend.url());
    dir.fragment_xml(
        "news",
        r#"<fragment id="news" service="backend" path="/news"><template>fragments/news.html</template><lifecycle ttl="1h"/></fragment>"#,
    );
    dir.template("fragments/news.html", "<p>news: {{ model.v }}</p>");
    dir.page_xml("home", HOME_NEWS);
    backend.route("/news", Reply::json(r#"{"v": "headline"}"#));
    backend.route("/rates", Reply::json(r#"{"v": "1.08"}"#));
    dir
}

const HOME_NEWS: &str = r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="news"/></region></page>"#;
const HOME_NEWS_RATES: &str = r#"<page id="home" layout="layouts/base.html" timeout="5s"><region name="main"><fragment ref="news"/><fragment ref="rates"/></region></page>"#;
const RATES: &str = r#"<fragment id="rates" service="backend" path="/rates">
  <template>fragments/rates.html</template>
</fragment>"#;

async fn node_with(dir: &PortalDir, store_url: &str, watch: bool) -> (AppState, CancellationToken) {
    let store = tessera_store::open(store_url).await.expect("store");
    let cancel = CancellationToken::new();
    let base = Base::read(&dir.config_dir(), &dir.templates_dir());
    let dirs = watch.then(|| (dir.config_dir(), dir.templates_dir()));
    let state = runtime::start_node(base, dirs, store, &cancel)
        .await
        .expect("node starts");
    (state, cancel)
}

async fn node(dir: &PortalDir) -> (AppState, CancellationToken) {
    node_with(dir, "sqlite::memory:", false).await
}

async fn send(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    if body.is_some() {
        req = req.header("content-type", "application/xml");
    }
    let req = req
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("request");
    let res = app(state.clone(), None)
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn admin(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let (status, text) = send(state, method, path, body.map(str::to_owned)).await;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// An admin call that must succeed; its JSON answer.
async fn ok(state: &AppState, method: &str, path: &str, body: Option<&str>) -> Value {
    let (status, value) = admin(state, method, path, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {value}");
    value
}

async fn home(state: &AppState) -> String {
    let (status, body) = send(state, "GET", "/", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Registers `rates` (template, fragment, then the page that shows it).
async fn register_rates(state: &AppState) {
    ok(
        state,
        "PUT",
        "/admin/api/templates/fragments/rates.html",
        Some("<p>rates: {{ model.v }}</p>"),
    )
    .await;
    let v = ok(
        state,
        "PUT",
        "/admin/api/descriptors/fragment/rates?reason=new%20fragment",
        Some(RATES),
    )
    .await;
    assert_eq!(v["added"], json!(["fragment rates"]));
    let v = ok(
        state,
        "PUT",
        "/admin/api/descriptors/page/home",
        Some(HOME_NEWS_RATES),
    )
    .await;
    assert_eq!(v["pages"]["home"]["gains"], json!(["rates"]), "{v}");
}

#[tokio::test]
async fn a_registered_fragment_appears_and_disappears_without_a_restart() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    let (state, _cancel) = node(&dir).await;
    assert!(home(&state).await.contains("news: headline"));
    assert!(!home(&state).await.contains("rates"));

    register_rates(&state).await;
    let page = home(&state).await;
    assert!(
        page.contains("news: headline") && page.contains("rates: 1.08"),
        "{page}"
    );
    assert_eq!(backend.calls_to("/rates"), 1);

    // Removing a fragment a page still shows is refused, naming the page.
    let (s, v) = admin(
        &state,
        "DELETE",
        "/admin/api/descriptors/fragment/rates",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let problems = v["problems"].to_string();
    assert!(problems.contains("rates"), "{problems}");
    assert!(home(&state).await.contains("rates: 1.08"));

    // Take it off the page, then remove it.
    let v = ok(
        &state,
        "PUT",
        "/admin/api/descriptors/pages/home",
        Some(HOME_NEWS),
    )
    .await;
    assert_eq!(v["pages"]["home"]["loses"], json!(["rates"]), "{v}");
    let v = ok(
        &state,
        "DELETE",
        "/admin/api/descriptors/fragment/rates",
        None,
    )
    .await;
    assert_eq!(v["removed"], json!(["fragment rates"]));
    let page = home(&state).await;
    assert!(
        page.contains("news: headline") && !page.contains("rates"),
        "{page}"
    );
    let (s, _) = admin(&state, "GET", "/admin/api/descriptors/fragment/rates", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_registrations_change_nothing() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    let (state, _cancel) = node(&dir).await;
    let before_version =
        admin(&state, "GET", "/admin/api/descriptors", None).await.1["version"].clone();
    let before_page = home(&state).await;

    // Broken XML: the message has the registered document's line and column.
    let (s, v) = admin(&state, "PUT", "/admin/api/descriptors/fragment/rates", Some("<fragment id=\"rates\" service=\"backend\" path=\"/rates\">\n  <template>x.html</templat>\n</fragment>")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let p = v["problems"][0].as_str().unwrap_or_default();
    assert!(p.starts_with("registered/fragments/rates.xml:2:"), "{v}");

    // An unknown attribute, an unknown service, a template that is missing.
    let (s, v) = admin(&state, "PUT", "/admin/api/descriptors/fragment/rates", Some(r#"<fragment id="rates" service="nope" path="/r" colour="red"><template>fragments/missing.html</template></fragment>"#)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let problems = v["problems"].to_string();
    assert!(problems.contains("colour"), "{problems}");
    assert!(problems.contains("nope"), "{problems}");
    assert!(problems.contains("fragments/missing.html"), "{problems}");

    // The id in the document must be the one in the URL.
    let (s, v) = admin(
        &state,
        "PUT",
        "/admin/api/descriptors/fragment/other",
        Some(RATES),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("declares id \"rates\" but the URL names \"other\""),
        "{v}"
    );

    // A template that does not compile.
    let (s, v) = admin(
        &state,
        "PUT",
        "/admin/api/templates/fragments/news.html",
        Some("{% for x in %}"),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["problems"].to_string().contains("does not compile"),
        "{v}"
    );

    // A descriptor of the wrong kind, an unknown kind, bad names, an empty body.
    let (s, v) = admin(
        &state,
        "PUT",
        "/admin/api/descriptors/page/rates",
        Some(RATES),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = admin(
        &state,
        "PUT",
        "/admin/api/descriptors/widget/rates",
        Some(RATES),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = admin(
        &state,
        "PUT",
        "/admin/api/templates/../etc/passwd",
        Some("x"),
    )
    .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::NOT_FOUND,
        "{s} {v}"
    );
    let (s, v) = admin(
        &state,
        "PUT",
        "/admin/api/templates/fragments/.hidden.html",
        Some("x"),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = admin(
        &state,
        "PUT",
        "/admin/api/descriptors/fragment/rates",
        Some("  "),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = admin(
        &state,
        "DELETE",
        "/admin/api/descriptors/fragment/nothing",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = admin(
        &state,
        "POST",
        "/admin/api/descriptors/changes",
        Some("{\"changes\": [{\"op\": \"put\", \"kind\": \"fragment\", \"id\": \"x\"}]}"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Nothing changed.
    assert_eq!(
        admin(&state, "GET", "/admin/api/descriptors", None).await.1["version"],
        before_version
    );
    assert_eq!(home(&state).await, before_page);
    assert_eq!(
        admin(&state, "GET", "/admin/api/descriptors/versions", None)
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_batch_is_one_version_and_a_dry_run_previews_it() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    let (state, _cancel) = node(&dir).await;
    home(&state).await; // caches news' stages and the page
    let batch = json!({
        "reason": "rates for everyone",
        "changes": [
            {"op": "put", "kind": "template", "id": "fragments/rates.html", "body": "<p>rates: {{ model.v }}</p>"},
            {"op": "put", "kind": "fragment", "id": "rates", "body": RATES},
            {"op": "put", "kind": "page", "id": "home", "body": HOME_NEWS_RATES},
            {"op": "put", "kind": "template", "id": "fragments/news.html", "body": "<p>NEWS: {{ model.v }}</p>"},
        ]
    })
    .to_string();
    let v = ok(
        &state,
        "POST",
        "/admin/api/descriptors/validate",
        Some(&batch),
    )
    .await;
    assert_eq!(v["applied"], json!(false));
    assert_eq!(v["pages"]["home"]["gains"], json!(["rates"]), "{v}");
    assert_eq!(v["pages"]["home"]["changes"], json!(["news"]), "{v}");
    // The changed template takes exactly news' rendered entry and the page with it.
    assert_eq!(v["invalidates"]["by_stage"]["rendered"], json!(1), "{v}");
    assert_eq!(v["invalidates"]["fragments"]["news"], json!(1), "{v}");
    assert!(
        home(&state).await.contains("news: headline"),
        "a dry run applies nothing"
    );

    let v = ok(
        &state,
        "POST",
        "/admin/api/descriptors/changes",
        Some(&batch),
    )
    .await;
    assert_eq!(v["applied"], json!(true));
    let page = home(&state).await;
    assert!(
        page.contains("NEWS: headline") && page.contains("rates: 1.08"),
        "{page}"
    );
    // The source stage outlived the template change: news was not fetched again.
    assert_eq!(backend.calls_to("/news"), 1);
    let (_, versions) = admin(&state, "GET", "/admin/api/descriptors/versions", None).await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");
    assert_eq!(versions[0]["reason"], json!("rates for everyone"));
    assert_eq!(versions[0]["actor"], json!("admin-token"));
}

#[tokio::test]
async fn rollback_restores_the_earlier_set_exactly() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    let (state, _cancel) = node(&dir).await;
    let (_, start) = admin(&state, "GET", "/admin/api/descriptors", None).await;
    let start_page = home(&state).await;
    register_rates(&state).await;
    let (s, _) = admin(
        &state,
        "PUT",
        "/admin/api/templates/fragments/news.html",
        Some("<p>changed {{ model.v }}</p>"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(home(&state).await, start_page);

    let body = json!({"version": start["version"], "reason": "back to the start"}).to_string();
    let v = ok(
        &state,
        "POST",
        "/admin/api/descriptors/rollback",
        Some(&body),
    )
    .await;
    assert_eq!(v["removed"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, now) = admin(&state, "GET", "/admin/api/descriptors", None).await;
    assert_eq!(
        now["documents"], start["documents"],
        "the same documents, from the same files"
    );
    assert_eq!(home(&state).await, start_page);
    let (s, t) = send(
        &state,
        "GET",
        "/admin/api/templates/fragments/news.html",
        None,
    )
    .await;
    assert_eq!(
        (s, t.as_str()),
        (StatusCode::OK, "<p>news: {{ model.v }}</p>")
    );
    // A rollback is a version of its own; rolling back to a missing version is a 404.
    assert_eq!(
        now["version"].as_i64(),
        start["version"].as_i64().map(|v| v + 5)
    );
    let (s, _) = admin(
        &state,
        "POST",
        "/admin/api/descriptors/rollback",
        Some("{\"version\": 99}"),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn registrations_and_their_audit_survive_a_restart() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    let db = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", db.path().join("t.db").display());
    {
        let (state, cancel) = node_with(&dir, &url, false).await;
        register_rates(&state).await;
        cancel.cancel();
        state.store.close().await;
    }
    let (state, _cancel) = node_with(&dir, &url, false).await;
    let page = home(&state).await;
    assert!(page.contains("rates: 1.08"), "{page}");
    let (_, listed) = admin(&state, "GET", "/admin/api/descriptors", None).await;
    let rates = listed["documents"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "rates"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(rates["registered"], json!(true), "{listed}");
    let audit = state.store.audit(50, None).await.expect("audit");
    let registrations: Vec<_> = audit
        .iter()
        .filter(|r| r.entry.action == "descriptors.api")
        .collect();
    assert_eq!(registrations.len(), 3, "{audit:?}");
    assert!(registrations
        .iter()
        .any(|r| r.entry.reason.as_deref() == Some("new fragment")));
    // The restart found the same set: no new version.
    let (_, versions) = admin(&state, "GET", "/admin/api/descriptors/versions", None).await;
    assert_eq!(versions.as_array().map(Vec::len), Some(4), "{versions}");
}

/// Requests that started before a swap finish with the set they started with: a page
/// never mixes fragments rendered with the old and the new templates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_never_mixes_versions_in_one_page() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    dir.template("fragments/news.html", "<p>news v1 {{ model.v }}</p>");
    dir.fragment_xml(
        "rates",
        r#"<fragment id="rates" service="backend" path="/rates"><template>fragments/rates.html</template></fragment>"#,
    );
    dir.template("fragments/rates.html", "<p>rates v1 {{ model.v }}</p>");
    dir.page_xml("home", HOME_NEWS_RATES);
    let gate = Gate::new();
    backend.route("/news", Reply::json(r#"{"v": "n"}"#).gate(gate.clone()));
    let (state, _cancel) = node(&dir).await;

    // One request is in flight (held at the backend) while the templates change.
    let held = tokio::spawn({
        let state = state.clone();
        async move { home(&state).await }
    });
    backend.counters().wait_for_in_flight(1).await;
    let batch = json!({"changes": [
        {"op": "put", "kind": "template", "id": "fragments/news.html", "body": "<p>news v2 {{ model.v }}</p>"},
        {"op": "put", "kind": "template", "id": "fragments/rates.html", "body": "<p>rates v2 {{ model.v }}</p>"},
    ]})
    .to_string();
    ok(
        &state,
        "POST",
        "/admin/api/descriptors/changes",
        Some(&batch),
    )
    .await;
    gate.open();
    let old = held.await.expect("request");
    assert!(old.contains("news v1") && old.contains("rates v1"), "{old}");
    let new = home(&state).await;
    assert!(new.contains("news v2") && new.contains("rates v2"), "{new}");

    // Many requests during many swaps: every page is all one version.
    let load = (0..4).map(|_| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut pages = Vec::new();
            for _ in 0..25 {
                pages.push(home(&state).await);
            }
            pages
        })
    });
    let load: Vec<_> = load.collect();
    for round in 3..9 {
        let batch = json!({"changes": [
            {"op": "put", "kind": "template", "id": "fragments/news.html", "body": format!("<p>news v{round} {{{{ model.v }}}}</p>")},
            {"op": "put", "kind": "template", "id": "fragments/rates.html", "body": format!("<p>rates v{round} {{{{ model.v }}}}</p>")},
        ]})
        .to_string();
        ok(
            &state,
            "POST",
            "/admin/api/descriptors/changes",
            Some(&batch),
        )
        .await;
        tokio::task::yield_now().await;
    }
    for task in load {
        for page in task.await.expect("load") {
            let version_of = |name: &str| {
                let at = page.find(&format!("{name} v")).expect("fragment shown") + name.len() + 2;
                page[at..].split(' ').next().unwrap_or_default().to_owned()
            };
            assert_eq!(version_of("news"), version_of("rates"), "{page}");
        }
    }
}

/// Polls `check` every 50 ms for up to 10 s (the watcher debounces for 250 ms).
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_files_are_applied_and_invalid_edits_are_kept_out() {
    let backend = Scripted::start().await;
    let dir = portal(&backend);
    let (state, _cancel) = node_with(&dir, "sqlite::memory:", true).await;
    assert!(home(&state).await.contains("news: headline"));

    dir.template("fragments/news.html", "<p>edited: {{ model.v }}</p>");
    assert!(
        eventually(|| async { home(&state).await.contains("edited: headline") }).await,
        "the edited template is served"
    );

    // An edit that breaks the set: the running set stays, the problem is reported.
    dir.fragment_xml("news", r#"<fragment id="news" service="backend" path="/news"><template>fragments/news.html</template><bogus/></fragment>"#);
    assert!(
        eventually(|| async {
            admin(&state, "GET", "/admin/api/descriptors", None).await.1["file_problems"]
                ["problems"]
                .to_string()
                .contains("bogus")
        })
        .await,
        "the problem is reported"
    );
    assert!(home(&state).await.contains("edited: headline"));

    // Fixing the file applies it and clears the problem.
    dir.fragment_xml("news", r#"<fragment id="news" service="backend" path="/rates"><template>fragments/news.html</template></fragment>"#);
    assert!(
        eventually(|| async { home(&state).await.contains("edited: 1.08") }).await,
        "the fixed descriptor is served"
    );
    assert_eq!(
        admin(&state, "GET", "/admin/api/descriptors", None).await.1["file_problems"],
        Value::Null
    );
    let (_, versions) = admin(&state, "GET", "/admin/api/descriptors/versions", None).await;
    assert_eq!(versions[0]["origin"], json!("files"), "{versions}");
}
