//! Endpoints for load balancers: `/healthz` (the process answers) and `/readyz` (it
//! should get traffic: descriptors are loaded — they are, or the node would not run —
//! and the store answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::AppState;

/// Liveness: the process is up and serving HTTP.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the store answers, 503 with the reason otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let descriptors = state.engine().portal().pages.len();
    match state.store.ping().await {
        Ok(()) => Json(serde_json::json!({ "ready": true, "pages": descriptors, "store": "ok" })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "pages": descriptors, "store": format!("unreachable: {e}") })),
        )
            .into_response(),
    }
}
