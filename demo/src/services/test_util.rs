//! Drives a service router in unit tests without a socket.

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

/// Sends `GET uri` and returns status, content type and body text.
pub async fn get_raw(router: Router, uri: &str) -> (StatusCode, String, String) {
    let req = Request::get(uri)
        .body(Body::empty())
        .expect("valid request");
    let res = router.oneshot(req).await.expect("router is infallible");
    let status = res.status();
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = to_bytes(res.into_body(), 1 << 20).await.expect("body fits");
    (
        status,
        ctype,
        String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
    )
}

/// Sends `GET uri`, asserts a JSON content type and parses the body.
pub async fn get_json(router: Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, ctype, body) = get_raw(router, uri).await;
    assert!(
        ctype.starts_with("application/json"),
        "content type {ctype}"
    );
    (status, serde_json::from_str(&body).expect("JSON body"))
}
