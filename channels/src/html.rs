//! The browser HTML channel: pages as full documents.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tessera_engine::{Channel, EngineError, PortalRequest};
use tessera_fragments::Viewer;

use crate::AppState;

pub async fn home(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    page_response(&state, None, uri.path(), &headers).await
}

pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    page_response(&state, Some(id), uri.path(), &headers).await
}

async fn page_response(
    state: &AppState,
    page: Option<String>,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let request = PortalRequest {
        page,
        viewer: Viewer::anonymous(),
        channel: Channel::Html,
        path: path.to_owned(),
    };
    match state.engine.render_page(&request).await {
        Ok(out) => {
            let cache_control = if out.per_user {
                format!("private, max-age={}", out.max_age.as_secs())
            } else {
                format!("public, max-age={}", out.max_age.as_secs())
            };
            let not_modified = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(',')
                        .any(|t| t.trim() == out.etag || t.trim() == "*")
                });
            let mut res = if not_modified {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                html(StatusCode::OK, out.html.to_string())
            };
            let h = res.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&out.etag) {
                h.insert(header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&cache_control) {
                h.insert(header::CACHE_CONTROL, v);
            }
            res
        }
        Err(EngineError::PageNotFound(_)) => not_found_page(state, path),
        Err(e @ EngineError::Layout { .. }) => {
            tracing::error!(error = %e, "layout failed");
            error_page(state, &e.to_string())
        }
    }
}

/// The portal's 404 page (`errors/404.html`), or a plain one if the portal has none.
pub fn not_found_page(state: &AppState, path: &str) -> Response {
    let body = state
        .engine
        .render_portal_page("errors/404.html", path, "")
        .unwrap_or_else(|| format!("<!doctype html><title>Not found</title><h1>Not found</h1><p>There is no page at {}.</p>", escape(path)));
    html(StatusCode::NOT_FOUND, body)
}

/// The portal's 500 page. The message is for operators and goes to the log; users see
/// that something failed, not internals.
pub fn error_page(state: &AppState, _detail: &str) -> Response {
    let body = state
        .engine
        .render_portal_page(
            "errors/500.html",
            "",
            "This page could not be assembled. Please try again shortly.",
        )
        .unwrap_or_else(|| {
            "<!doctype html><title>Error</title><h1>Something went wrong</h1>".to_owned()
        });
    html(StatusCode::INTERNAL_SERVER_ERROR, body)
}

pub async fn fallback(State(state): State<AppState>, uri: Uri) -> Response {
    not_found_page(&state, uri.path())
}

fn html(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Pages are assembled per request until the caching issue lands; nothing may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
