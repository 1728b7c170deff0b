//! Endpoints for load balancers: `/healthz` (the process answers) and `/readyz` (it
//! should get traffic: descriptors are loaded — they are, or the node would not run —
//! the store answers, and, with a cluster bus, the node listens and has resynchronized;
//! or the store is explicitly optional, `[store] optional`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::AppState;

/// Liveness: the process is up and serving HTTP — `ok`, or `ok; degraded: …` when it
/// serves from its cache and last known state (store unreachable, bus reconnecting).
/// Always 200: restarting a node does not bring the database back.
pub async fn healthz(State(state): State<AppState>) -> String {
    match state.cluster.status().degraded() {
        None => "ok".into(),
        Some(problems) => format!("ok; degraded: {problems}"),
    }
}

/// Readiness: 200 when the store answers and the node is in sync with the cluster (or
/// the store is optional), 503 with the reasons otherwise.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let descriptors = state.engine().portal().pages.len();
    let ping = state.store.ping().await;
    state.cluster.note_store(ping.as_ref().map(|_| ()));
    let status = state.cluster.status();
    let ready = (ping.is_ok() && status.in_sync()) || state.settings().store.optional;
    let store = match &ping {
        Ok(()) => "ok".to_owned(),
        Err(_) => status.store_line(),
    };
    let body = Json(serde_json::json!({
        "ready": ready,
        "pages": descriptors,
        "store": store,
        "node": status.node,
        "cluster": status.bus_line(),
        "degraded": status.degraded(),
    }));
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body).into_response()
}
