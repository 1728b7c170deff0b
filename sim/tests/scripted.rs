//! `Scripted`: replies, counting, delay, hang, gate, trickle — over real sockets.

mod common;

use std::time::Duration;

use common::{get, open, read_until, send};
use tessera_sim::{Gate, Reply, Scripted};
use tokio::time::Instant;

#[tokio::test]
async fn unscripted_paths_answer_404() {
    let b = Scripted::start().await;
    let resp = get(b.addr(), "/anything").await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.text(), "no reply scripted");
    assert!(b.url().starts_with("http://127.0.0.1:"));
    assert!(!b.url().ends_with('/'));
}

#[tokio::test]
async fn default_and_per_route_replies_with_their_content_types() {
    let b = Scripted::start().await;
    b.respond(Reply::json(r#"{"a":1}"#));
    b.route("/feed", Reply::xml("<feed/>"));
    b.route("/page", Reply::html("<p>hi</p>"));
    b.route(
        "/plain",
        Reply::text("hello")
            .with_status(202)
            .header("x-backend", "news"),
    );
    b.route("/gone", Reply::status(410));

    let json = get(b.addr(), "/other?x=1").await;
    assert_eq!((json.status, json.text()), (200, r#"{"a":1}"#.to_owned()));
    assert_eq!(json.header("content-type"), Some("application/json"));

    let xml = get(b.addr(), "/feed?since=1").await;
    assert_eq!(xml.text(), "<feed/>");
    assert_eq!(xml.header("content-type"), Some("application/xml"));

    let html = get(b.addr(), "/page").await;
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );

    let plain = get(b.addr(), "/plain").await;
    assert_eq!(plain.status, 202);
    assert_eq!(plain.text(), "hello");
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(plain.header("x-backend"), Some("news"));

    let gone = get(b.addr(), "/gone").await;
    assert_eq!(gone.status, 410);
    assert!(gone.body.is_empty());
    assert_eq!(gone.header("content-type"), None);

    // A later route replaces the earlier one.
    b.route("/feed", Reply::status(500));
    assert_eq!(get(b.addr(), "/feed").await.status, 500);
}

#[tokio::test]
async fn counts_calls_per_path_and_records_requests_in_order() {
    let b = Scripted::start().await;
    b.respond(Reply::text("ok"));
    get(b.addr(), "/a?lang=en").await;
    send(b.addr(), "POST", "/b", &[("x-trace", "t-1")], b"body").await;
    get(b.addr(), "/a").await;

    assert_eq!(b.calls(), 3);
    assert_eq!(b.calls_to("/a"), 2);
    assert_eq!(b.calls_to("/b"), 1);
    assert_eq!(b.calls_to("/c"), 0);
    assert_eq!(b.in_flight(), 0);
    assert_eq!(b.peak_in_flight(), 1);

    let requests = b.requests();
    let seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.path_and_query.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET".to_owned(), "/a?lang=en".to_owned()),
            ("POST".to_owned(), "/b".to_owned()),
            ("GET".to_owned(), "/a".to_owned()),
        ]
    );
    assert_eq!(
        requests[1]
            .headers
            .get("x-trace")
            .and_then(|v| v.to_str().ok()),
        Some("t-1")
    );

    b.reset_counters();
    assert_eq!((b.calls(), b.calls_to("/a"), b.requests().len()), (0, 0, 0));
    assert_eq!(b.peak_in_flight(), 0);
    get(b.addr(), "/a").await;
    assert_eq!((b.calls(), b.calls_to("/a")), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn delay_waits_before_answering_only_on_its_route() {
    let b = Scripted::start().await;
    b.respond(Reply::text("fast"));
    b.route("/slow", Reply::text("slow").delay(Duration::from_secs(30)));

    let started = Instant::now();
    assert_eq!(get(b.addr(), "/fast").await.text(), "fast");
    assert!(started.elapsed() < Duration::from_secs(30));

    let started = Instant::now();
    assert_eq!(get(b.addr(), "/slow").await.text(), "slow");
    assert!(started.elapsed() >= Duration::from_secs(30));
}

#[tokio::test]
async fn hang_stays_in_flight_until_the_client_disconnects() {
    let b = Scripted::start().await;
    b.respond(Reply::hang());
    let connection = open(b.addr(), "GET", "/stuck", &[], b"").await;

    b.wait_for_in_flight(1).await;
    assert_eq!((b.calls(), b.in_flight()), (1, 1));
    // Still hanging a while later (nothing ever answers it).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(b.in_flight(), 1);

    drop(connection);
    tokio::time::timeout(Duration::from_secs(5), b.wait_for_idle())
        .await
        .expect("in_flight returns to 0 once the client is gone");
    assert_eq!((b.calls(), b.in_flight(), b.peak_in_flight()), (1, 0, 1));
}

#[tokio::test]
async fn gate_holds_concurrent_requests_and_peak_records_them() {
    const N: usize = 5;
    let b = Scripted::start().await;
    let gate = Gate::new();
    b.respond(Reply::json("{}").gate(gate.clone()));

    let clients: Vec<_> = (0..N)
        .map(|i| {
            let addr = b.addr();
            tokio::spawn(async move { get(addr, &format!("/item/{i}")).await })
        })
        .collect();
    b.wait_for_in_flight(N).await;
    b.wait_for_calls(N as u64).await;
    assert_eq!(b.peak_in_flight(), N);
    assert!(!gate.is_open());
    assert!(
        clients.iter().all(|c| !c.is_finished()),
        "nobody answered before the gate opened"
    );

    gate.open();
    for client in clients {
        assert_eq!(client.await.expect("client task").status, 200);
    }
    b.wait_for_idle().await;
    assert_eq!((b.in_flight(), b.peak_in_flight()), (0, N));

    // An open gate lets later requests straight through.
    assert_eq!(get(b.addr(), "/late").await.status, 200);
}

#[tokio::test]
async fn gates_order_answers_without_wall_clock() {
    let b = Scripted::start().await;
    let first = Gate::new();
    let second = Gate::new();
    b.route("/first", Reply::text("1").gate(first.clone()));
    b.route("/second", Reply::text("2").gate(second.clone()));
    let addr = b.addr();
    let one = tokio::spawn(async move { get(addr, "/first").await.text() });
    let two = tokio::spawn(async move { get(addr, "/second").await.text() });
    b.wait_for_in_flight(2).await;

    second.open();
    assert_eq!(two.await.expect("second"), "2");
    assert!(!one.is_finished());
    first.open();
    assert_eq!(one.await.expect("first"), "1");
}

#[tokio::test(start_paused = true)]
async fn trickle_sends_chunks_then_ends_when_limited() {
    let b = Scripted::start().await;
    b.respond(
        Reply::text("head;")
            .trickle("tick;", Duration::from_secs(1))
            .trickle_times(3),
    );
    let started = Instant::now();
    let resp = get(b.addr(), "/").await;
    assert_eq!(resp.text(), "head;tick;tick;tick;");
    assert!(started.elapsed() >= Duration::from_secs(3));
    b.wait_for_idle().await;
}

#[tokio::test]
async fn endless_trickle_keeps_the_request_in_flight_until_disconnect() {
    let b = Scripted::start().await;
    b.respond(Reply::text("").trickle("tick;", Duration::from_millis(5)));
    let mut connection = open(b.addr(), "GET", "/", &[], b"").await;
    tokio::time::timeout(
        Duration::from_secs(5),
        read_until(&mut connection, b"tick;", 3),
    )
    .await
    .expect("three chunks arrive");
    // The head went out long ago, yet the body is still being sent.
    assert_eq!(b.in_flight(), 1);

    drop(connection);
    tokio::time::timeout(Duration::from_secs(5), b.wait_for_idle())
        .await
        .expect("in_flight returns to 0 once the client is gone");
}

#[tokio::test]
async fn clones_share_the_same_server() {
    let b = Scripted::start().await;
    let other = b.clone();
    other.respond(Reply::text("from the clone"));
    assert_eq!(get(b.addr(), "/").await.text(), "from the clone");
    assert_eq!(other.calls(), 1);
}
