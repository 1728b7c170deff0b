//! The admin JSON API under `/admin/api/`, for operators (bearer token until sessions).

mod auth;
pub mod cache;
pub mod descriptors;
pub mod services;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};

use crate::AppState;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/services", get(services::list))
        .route("/services/{id}", get(services::show))
        .route("/services/{id}/disable", post(services::disable))
        .route("/services/{id}/enable", post(services::enable))
        .route("/services/{id}/force-closed", post(services::force_closed))
        .route("/services/{id}/reset", post(services::reset))
        .route("/invalidate", post(cache::invalidate))
        .route("/graph/{object}", get(cache::graph))
        .route("/cache", get(cache::cache))
        .route("/descriptors", get(descriptors::list))
        .route("/descriptors/validate", post(descriptors::validate))
        .route("/descriptors/changes", post(descriptors::changes))
        .route("/descriptors/versions", get(descriptors::versions))
        .route("/descriptors/rollback", post(descriptors::rollback))
        .route(
            "/descriptors/{kind}/{id}",
            get(descriptors::get_descriptor)
                .put(descriptors::put_descriptor)
                .delete(descriptors::delete_descriptor),
        )
        .route(
            "/templates/{*name}",
            get(descriptors::get_template)
                .put(descriptors::put_template)
                .delete(descriptors::delete_template),
        )
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .layer(middleware::from_fn_with_state(state, auth::require_admin))
}

/// Reads an optional JSON body whatever its declared content type (`curl -d` says
/// form-encoded): empty means `None`; anything else must be the expected JSON.
/// The error is the 400 message.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| format!("malformed request body: {e}"))
}

/// `{"error": "…"}` with a status: every admin error looks the same.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
