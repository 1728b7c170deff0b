//! The operator console in a real browser: headless Chromium (Debian's package; `.ci/run`
//! installs it where it is missing, and without it this test fails rather than skipping),
//! driven over the DevTools protocol. The shipped portal runs over the demo's simulated
//! backends. The operator signs in through the sign-in form, disables the quotes backend
//! with a reason, invalidates the watchlist's cached quotes after looking at the impact
//! preview, and finds the watchlist switched off on the homepage while the quotes backend
//! gets no call; then enables it again. Screenshots of each console page are saved (their
//! paths are printed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use tessera_channels::{app, runtime, server};
use tessera_descriptors::{build, Sources};
use tokio_util::sync::CancellationToken;

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
        {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !path.is_empty() {
                return PathBuf::from(path);
            }
        }
    }
    panic!("headless Chromium is required for the browser tests: apt-get install -y chromium (.ci/run does this)");
}

/// Waits until the page's URL and document satisfy `done`: page loads and form posts
/// finish on the browser's schedule, not the test's. Panics with the last document after
/// `limit`.
async fn until(page: &Page, what: &str, done: impl Fn(&str, &str) -> bool) -> String {
    let limit = Instant::now() + Duration::from_secs(30);
    loop {
        let url = page.url().await.ok().flatten().unwrap_or_default();
        // Only a document that has finished loading: the DOM of one still arriving can
        // hold its first half (a notice, but not yet the section it is about).
        let loaded = page
            .evaluate("document.readyState")
            .await
            .ok()
            .and_then(|r| r.into_value::<String>().ok())
            .is_some_and(|state| state == "complete");
        let html = page.content().await.unwrap_or_default();
        if loaded && done(&url, &html) {
            return html;
        }
        if Instant::now() > limit {
            panic!("timed out waiting for {what}; at {url}:\n{html}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn type_into(page: &Page, selector: &str, text: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"))
        .type_str(text)
        .await
        .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
}

async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

async fn screenshot(page: &Page, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.png"));
    let png = page
        .save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path)
        .await
        .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    assert!(png.len() > 1000, "{name} is a real image");
    println!("screenshot: {}", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_disables_a_backend_in_the_console_and_the_homepage_stops_calling_it() {
    // The shipped portal, its backends simulated, its demo users (olga is the operator).
    let backends = tessera_demo::start_all().await.expect("demo backends");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Sources::read(&root.join("config"), &root.join("templates"));
    for (service, url) in backends.overrides() {
        sources.override_service_url(&service, &url);
    }
    let portal = build(&sources).unwrap_or_else(|d| panic!("the shipped portal loads:\n{d}"));
    let store = tessera_store::open("sqlite::memory:").await.expect("store");
    tessera_channels::demo_users::seed(store.as_ref())
        .await
        .expect("demo users");
    let cancel = CancellationToken::new();
    let state = runtime::start(portal, store, &cancel)
        .await
        .expect("node starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(
        listener,
        app(state.clone(), Some(root.join("static"))),
        async {
            let _ = stopped.await;
        },
    ));
    let quotes = backends.server("quotes").expect("the quotes backend");

    let profile = tempfile::tempdir().expect("profile dir");
    let config = BrowserConfig::builder()
        .chrome_executable(chromium())
        .no_sandbox()
        .user_data_dir(profile.path())
        .window_size(1280, 1000)
        .viewport(None)
        .args([
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .build()
        .expect("browser config");
    let (mut browser, mut events) = Browser::launch(config).await.expect("Chromium starts");
    // The protocol's events must be polled for anything to happen; one that does not
    // parse (a newer Chromium) is no reason to stop.
    let pump = tokio::spawn(async move { while events.next().await.is_some() {} });
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    // Not signed in: the console sends the browser to sign in, and back afterwards.
    let page = browser
        .new_page(format!("{base}/admin"))
        .await
        .expect("a tab");
    until(&page, "the sign-in form", |url, _| {
        url.ends_with("/login?next=/admin")
    })
    .await;
    type_into(&page, "input[name=login]", "olga").await;
    type_into(&page, "input[name=password]", "olga-demo-1").await;
    click(&page, "form.login__form button[type=submit]").await;
    let console = until(&page, "the console", |url, html| {
        url == format!("{base}/admin") && html.contains("id=\"service-quotes\"")
    })
    .await;
    assert!(console.contains("Olga Weber"), "signed in as olga");

    // The homepage as it is: the watchlist shows quotes (and they are cached now).
    page.goto(format!("{base}/")).await.expect("homepage");
    until(&page, "the watchlist", |_, html| {
        html.contains("id=\"quotes-watchlist\"") && !html.contains("class=\"tessera-pending\"")
    })
    .await;
    assert!(quotes.calls() >= 1, "the watchlist calls quotes");
    page.goto(format!("{base}/admin")).await.expect("console");
    until(&page, "the console", |_, html| {
        html.contains("id=\"service-quotes\"")
    })
    .await;
    screenshot(&page, &shots, "console-services").await;

    // Disable the quotes backend, with a reason, through the form.
    type_into(
        &page,
        "#service-quotes .console-form--disable input[name=reason]",
        "quotes feed sends yesterday's prices",
    )
    .await;
    click(&page, "#service-quotes .console-form--disable button").await;
    // The notice comes first in the document: wait for the service's section too (the
    // DOM can be read while the page is still arriving).
    let after = until(&page, "the disable to be done", |_, html| {
        html.contains("quotes: disabled") && html.contains("data-state=\"disabled\"")
    })
    .await;
    assert!(after.contains("data-state=\"disabled\""), "{after}");
    screenshot(&page, &shots, "console-service-disabled").await;
    quotes.counters().reset();

    // Its cached quotes go too: preview first, then confirm.
    page.goto(format!("{base}/admin/cache"))
        .await
        .expect("cache page");
    until(&page, "the cache page", |_, html| {
        html.contains("id=\"cache-figures\"")
    })
    .await;
    type_into(&page, "textarea[name=objects]", "quotes").await;
    type_into(&page, "input[name=reason]", "stale prices").await;
    click(&page, "form[action=\"/admin/cache/preview\"] button").await;
    let preview = until(&page, "the impact preview", |_, html| {
        html.contains("Impact preview")
    })
    .await;
    assert!(preview.contains("quotes.watchlist"), "{preview}");
    screenshot(&page, &shots, "console-cache-preview").await;
    click(&page, "form[action=\"/admin/cache/invalidate\"] button").await;
    until(&page, "the invalidation", |_, html| {
        html.contains("Invalidated:")
    })
    .await;

    // The homepage: the watchlist is switched off, and quotes was not called.
    page.goto(format!("{base}/")).await.expect("homepage");
    until(&page, "the watchlist switched off", |_, html| {
        html.contains("Watchlist is temporarily switched off")
    })
    .await;
    screenshot(&page, &shots, "homepage-quotes-disabled").await;
    assert_eq!(quotes.calls(), 0, "a disabled backend gets no call");

    // The audit log names olga, the reason and the address.
    page.goto(format!("{base}/admin/audit"))
        .await
        .expect("audit page");
    let audit = until(&page, "the audit log", |_, html| {
        html.contains("service.disable")
    })
    .await;
    for needle in [
        "quotes feed sends yesterday's prices",
        "cache.invalidate",
        "127.0.0.1",
    ] {
        assert!(audit.contains(needle), "{needle} in {audit}");
    }
    screenshot(&page, &shots, "console-audit").await;
    page.goto(format!("{base}/admin/registry"))
        .await
        .expect("registry page");
    until(&page, "the registry", |_, html| {
        html.contains("id=\"fragment-quotes.watchlist\"")
    })
    .await;
    screenshot(&page, &shots, "console-registry").await;

    // Enabled again: the homepage calls quotes and shows the watchlist.
    page.goto(format!("{base}/admin")).await.expect("console");
    until(&page, "the console", |_, html| {
        html.contains("id=\"service-quotes\"")
    })
    .await;
    click(&page, "#service-quotes .console-form--enable button").await;
    until(&page, "the enable to be done", |_, html| {
        html.contains("quotes: enabled")
    })
    .await;
    page.goto(format!("{base}/")).await.expect("homepage");
    until(&page, "the watchlist back", |_, html| {
        html.contains("id=\"quotes-watchlist\"")
            && !html.contains("class=\"tessera-pending\"")
            && !html.contains("temporarily switched off")
    })
    .await;
    assert!(quotes.calls() >= 1, "enabled, quotes is called again");

    browser.close().await.expect("close");
    let _ = browser.wait().await;
    pump.abort();
    let _ = stop.send(());
    let _ = serving.await;
    cancel.cancel();
}
