//! CSRF protection: every state-changing request of a signed-in user must echo the
//! session's token (form field `csrf`, or header `X-CSRF-Token` for the JSON API).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::cookies::constant_time_eq;
use super::identity::Identity;

pub fn valid(identity: &Identity, given: &str) -> bool {
    identity
        .csrf
        .as_deref()
        .is_some_and(|t| !given.is_empty() && constant_time_eq(t.as_bytes(), given.as_bytes()))
}

/// The token from the `X-CSRF-Token` header.
pub fn from_header(headers: &HeaderMap) -> String {
    headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn rejected() -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::response::Html("<!doctype html><title>Forbidden</title><h1>This form has expired</h1><p>Please go back, reload the page and try again.</p>"),
    )
        .into_response()
}
