//! `SimServer`: behaviour modes, the control endpoint and `/health`.

mod common;

use std::time::Duration;

use axum::routing::get as route_get;
use axum::Router;
use common::{get, open, post_form, post_json, send};
use serde_json::json;
use tessera_sim::{Behavior, Clock, Mode, SimServer};
use tokio::time::Instant;

/// A small realistic service: JSON headlines and an XML feed.
fn news() -> Router {
    Router::new()
        .route(
            "/headlines",
            route_get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"items":[{"title":"Rates unchanged"}]}"#,
                )
            }),
        )
        .route(
            "/feed",
            route_get(|| async {
                (
                    [("content-type", "application/xml")],
                    "<feed><item/></feed>",
                )
            }),
        )
}

async fn start(mode: Mode) -> SimServer {
    let behavior = Behavior {
        mode,
        ..Behavior::default()
    };
    SimServer::start_with("news", news(), behavior)
        .await
        .expect("start sim server")
}

#[tokio::test]
async fn normal_mode_serves_the_router_and_counts_only_data_calls() {
    let s = SimServer::start("news", news()).await.expect("start");
    assert_eq!(s.name(), "news");
    let resp = get(s.addr(), "/headlines").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["items"][0]["title"], "Rates unchanged");

    get(s.addr(), "/_control").await;
    get(s.addr(), "/health").await;
    post_json(s.addr(), "/_control", r#"{"mode":"normal"}"#).await;
    assert_eq!(s.calls(), 1, "control and health are not data calls");
    assert_eq!((s.in_flight(), s.peak_in_flight()), (0, 1));
}

#[tokio::test]
async fn control_shows_the_state() {
    let s = SimServer::start_with(
        "quotes",
        news(),
        Behavior {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            mode: Mode::Normal,
        },
    )
    .await
    .expect("start");
    get(s.addr(), "/headlines").await;
    let resp = get(s.addr(), "/_control").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json(),
        json!({"name": "quotes", "latency_ms": 40, "jitter_ms": 10, "mode": "normal",
               "calls": 1, "in_flight": 0, "peak_in_flight": 1})
    );
}

#[tokio::test]
async fn control_post_json_and_form_change_the_behaviour() {
    let s = start(Mode::Normal).await;
    let resp = post_json(
        s.addr(),
        "/_control",
        r#"{"latency_ms": 25, "mode": "error"}"#,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["latency_ms"], 25);
    assert_eq!(resp.json()["mode"], "error");
    assert_eq!(
        s.behavior(),
        Behavior {
            latency: Duration::from_millis(25),
            jitter: Duration::ZERO,
            mode: Mode::Error
        }
    );

    // A form with an empty field leaves that field alone.
    let resp = post_form(s.addr(), "/_control", "latency_ms=&jitter_ms=5&mode=slow").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json(),
        json!({"name": "news", "latency_ms": 25, "jitter_ms": 5, "mode": "slow",
               "calls": 0, "in_flight": 0, "peak_in_flight": 0})
    );
    assert_eq!(s.behavior().mode, Mode::Slow);

    s.set_behavior(Behavior::default());
    assert_eq!(get(s.addr(), "/_control").await.json()["mode"], "normal");
}

#[tokio::test]
async fn control_rejects_bad_input_naming_the_field_and_changes_nothing() {
    let s = start(Mode::Normal).await;
    let cases = [
        (r#"{"mode": "flaky"}"#, "mode"),
        (r#"{"latency_ms": "fast"}"#, "latency_ms"),
        (r#"{"latency_ms": 600001}"#, "latency_ms"),
        (r#"{"jitter_ms": -1}"#, "jitter_ms"),
        (r#"{"mode": "hang", "latency_ms": "x"}"#, "latency_ms"),
        (r#"{"speed": 1}"#, "speed"),
    ];
    for (body, field) in cases {
        let resp = post_json(s.addr(), "/_control", body).await;
        assert_eq!(resp.status, 400, "{body}");
        let message = resp.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body} -> {message}"
        );
    }
    let resp = post_form(s.addr(), "/_control", "latency_ms=12abc").await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()["error"],
        r#"latency_ms: expected a whole number of milliseconds, got "12abc""#
    );
    let resp = post_json(s.addr(), "/_control", "{not json").await;
    assert_eq!(resp.status, 400);
    assert!(resp.json()["error"].is_string());
    let resp = send(
        s.addr(),
        "POST",
        "/_control",
        &[("content-type", "text/plain")],
        b"mode=hang",
    )
    .await;
    assert_eq!(resp.status, 415);

    assert_eq!(s.behavior(), Behavior::default(), "nothing was applied");
}

#[tokio::test]
async fn error_mode_answers_500_with_a_json_body() {
    let s = start(Mode::Error).await;
    let resp = get(s.addr(), "/headlines").await;
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.json()["service"], "news");
    assert_eq!(s.calls(), 1);
}

#[tokio::test]
async fn garbage_mode_keeps_the_content_type_but_breaks_the_body() {
    let s = start(Mode::Garbage).await;
    let resp = get(s.addr(), "/headlines").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<serde_json::Value>(&resp.body).is_err());

    let feed = get(s.addr(), "/feed").await;
    assert_eq!(feed.header("content-type"), Some("application/xml"));
    assert!(
        !feed.text().trim_end().ends_with('>'),
        "truncated XML: {}",
        feed.text()
    );
}

#[tokio::test]
async fn hang_mode_never_answers_and_stays_in_flight_until_disconnect() {
    let s = start(Mode::Hang).await;
    let connection = open(s.addr(), "GET", "/headlines", &[], b"").await;
    s.counters().wait_for_in_flight(1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.in_flight(), 1);
    // The control endpoint still answers while data calls hang.
    assert_eq!(get(s.addr(), "/_control").await.json()["in_flight"], 1);

    drop(connection);
    tokio::time::timeout(Duration::from_secs(5), s.counters().wait_for_idle())
        .await
        .expect("in_flight returns to 0 once the client is gone");
}

#[tokio::test(start_paused = true)]
async fn latency_with_jitter_and_slow_mode() {
    let s = SimServer::start_with(
        "news",
        news(),
        Behavior {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            mode: Mode::Normal,
        },
    )
    .await
    .expect("start");
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(get(s.addr(), "/headlines").await.status, 200);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(took <= Duration::from_millis(51), "{took:?}");
    }

    s.set_behavior(Behavior {
        latency: Duration::from_secs(1),
        jitter: Duration::ZERO,
        mode: Mode::Slow,
    });
    let started = Instant::now();
    assert_eq!(get(s.addr(), "/headlines").await.status, 200);
    assert!(started.elapsed() >= Duration::from_secs(10));

    // Control answers at once whatever the latency.
    let started = Instant::now();
    get(s.addr(), "/_control").await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn health_follows_the_mode() {
    let s = start(Mode::Normal).await;
    let health = |s: SimServer| async move { get(s.addr(), "/health").await };
    let resp = health(s.clone()).await;
    assert_eq!((resp.status, resp.text()), (200, "ok".to_owned()));

    for (mode, status) in [(Mode::Slow, 200), (Mode::Error, 503), (Mode::Garbage, 503)] {
        s.set_behavior(Behavior {
            mode,
            ..Behavior::default()
        });
        assert_eq!(health(s.clone()).await.status, status, "{mode}");
    }

    s.set_behavior(Behavior {
        mode: Mode::Hang,
        ..Behavior::default()
    });
    let probe = tokio::time::timeout(Duration::from_secs(60), health(s.clone())).await;
    assert!(probe.is_err(), "health hangs in hang mode");
}

// Real time (the precise clock does not follow a paused one): only the lower bound is
// asserted; how late the wait ends is the benchmark's "backend alone" run.
#[tokio::test]
async fn the_precise_clock_waits_the_latency_in_real_time() {
    let latency = Duration::from_millis(15);
    let behavior = Behavior {
        latency,
        jitter: Duration::ZERO,
        mode: Mode::Normal,
    };
    let s = SimServer::start_on("news", news(), behavior, Clock::Precise)
        .await
        .expect("start");
    let started = std::time::Instant::now();
    assert_eq!(get(s.addr(), "/headlines").await.status, 200);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    assert_eq!(s.calls(), 1);
}
