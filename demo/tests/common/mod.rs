//! Helpers shared by the demo's integration tests.

pub mod render;
pub mod xml_model;

use axum::body::{to_bytes, Body};
use axum::http::Request;
use axum::Router;
use tower::ServiceExt;

/// The workspace folder holding `config/`, `templates/` and `static/`.
pub fn workspace_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("demo/ has a parent")
        .to_path_buf()
}

/// `GET uri` on `router`; panics unless the answer is 200. Returns the body.
pub async fn fetch(router: Router, uri: &str) -> String {
    let req = Request::get(uri).body(Body::empty()).expect("request");
    let res = router.oneshot(req).await.expect("infallible router");
    assert_eq!(res.status(), 200, "GET {uri}");
    let bytes = to_bytes(res.into_body(), 1 << 20).await.expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// `GET uri` on `router`, parsed as JSON.
pub async fn fetch_json(router: Router, uri: &str) -> serde_json::Value {
    serde_json::from_str(&fetch(router, uri).await).expect("JSON body")
}
