//! A real browser (headless Chromium from the distribution's packages) loads a streamed
//! out-of-order page and shows every fragment in its slot. `.ci/run` installs Chromium
//! where it is missing; without it this test fails rather than skipping.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tessera_channels::{app, server, AppState};
use tessera_descriptors::Portal;
use tessera_engine::Engine;
use tessera_test_support::{PortalDir, Reply, Scripted};

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

/// Runs Chromium headless against `url` with the flags this machine needs.
fn browse(url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1024,900",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.extend(extra.iter().cloned());
    args.push(url.to_owned());
    let out = Command::new(chromium())
        .args(&args)
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_every_streamed_fragment_in_its_slot() {
    let fast = Scripted::start().await;
    fast.respond(Reply::json(r#"{"v": "Fast headlines"}"#));
    let slow = Scripted::start().await;
    slow.respond(Reply::json(r#"{"v": "Slow research"}"#).delay(Duration::from_millis(400)));
    let slower = Scripted::start().await;
    slower.respond(Reply::json(r#"{"v": "Slowest quotes"}"#).delay(Duration::from_millis(800)));
    let dir = PortalDir::new();
    for (id, b) in [("fast", &fast), ("slow", &slow), ("slower", &slower)] {
        dir.service(id, &b.url());
        dir.fragment_xml(id, &format!(r#"<fragment id="{id}" service="{id}" path="/d"><template>fragments/v.html</template></fragment>"#));
    }
    dir.template("fragments/v.html", "<p class=\"content\">{{ model.v }}</p>");
    dir.template(
        "layouts/page.html",
        "<!doctype html><html><head><title>Streamed</title><style>body{font:16px sans-serif}.slot{border:1px solid #889;margin:8px;padding:8px}</style></head><body><h1>Streamed page</h1>{% for f in fragments|items %}<div class=\"slot\" id=\"slot-{{ f[0] }}\">{{ f[1].html }}</div>{% endfor %}</body></html>",
    );
    dir.page_xml(
        "home",
        r#"<page id="home" layout="layouts/page.html" timeout="5s" delivery="out-of-order"><region name="main"><fragment ref="slower"/><fragment ref="fast"/><fragment ref="slow"/></region></page>"#,
    );
    let portal =
        Portal::load(&dir.config_dir(), &dir.templates_dir()).unwrap_or_else(|d| panic!("{d}"));
    let state = AppState::new(
        Engine::new(portal),
        tessera_store::open("sqlite::memory:").await.expect("store"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, app(state, None), async {
        let _ = stopped.await;
    }));

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let shot = shots.join("streamed-out-of-order.png");
    let (dom, _) = tokio::task::spawn_blocking({
        let url = url.clone();
        let shot = shot.clone();
        move || {
            let dom = browse(&url, &["--dump-dom".to_owned()]);
            let screenshot = browse(&url, &[format!("--screenshot={}", shot.display())]);
            (dom, screenshot)
        }
    })
    .await
    .expect("browser");
    let _ = stop.send(());
    let _ = serving.await;

    for (slot, text) in [
        ("slot-fast", "Fast headlines"),
        ("slot-slow", "Slow research"),
        ("slot-slower", "Slowest quotes"),
    ] {
        let at = dom
            .find(&format!("id=\"{slot}\""))
            .unwrap_or_else(|| panic!("{slot} in {dom}"));
        let inside = &dom[at..at + dom[at..].find("</div></div>").unwrap_or(dom.len() - at)];
        assert!(inside.contains(text), "{text} is inside {slot}: {inside}");
    }
    assert!(
        !dom.contains("<section class=\"tessera-late\""),
        "every late section was moved into its slot"
    );
    assert!(
        !dom.contains("class=\"tessera-pending\""),
        "no placeholder is left"
    );
    let png = std::fs::metadata(&shot).expect("a screenshot was saved");
    assert!(png.len() > 1000);
}
