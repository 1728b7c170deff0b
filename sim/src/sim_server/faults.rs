//! The behaviour layer (latency, jitter, failure mode) and `/health`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{Behavior, Mode, Shared};

/// How many times longer [`Mode::Slow`] waits than the configured latency.
const SLOW_FACTOR: u32 = 10;

/// Wraps the service's router with the behaviour read at each request.
pub(super) fn wrap(shared: Arc<Shared>, router: Router) -> Router {
    router.layer(middleware::from_fn_with_state(shared, behave))
}

/// `GET /health`, for the portal's health probe.
pub(super) fn health_route() -> Router<Arc<Shared>> {
    Router::new().route("/health", get(health))
}

async fn behave(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let behavior = shared.behavior();
    if behavior.mode == Mode::Hang {
        return std::future::pending().await;
    }
    let delay = shared
        .jitter
        .around(base_latency(behavior), behavior.jitter);
    shared.clock.sleep(delay).await;
    match behavior.mode {
        Mode::Normal | Mode::Slow | Mode::Hang => next.run(req).await,
        Mode::Error => simulated_error(&shared.name),
        Mode::Garbage => garble(next.run(req).await),
    }
}

fn base_latency(behavior: Behavior) -> Duration {
    match behavior.mode {
        Mode::Slow => behavior.latency.saturating_mul(SLOW_FACTOR),
        _ => behavior.latency,
    }
}

fn simulated_error(name: &str) -> Response {
    let body = serde_json::json!({
        "error": "simulated failure",
        "service": name,
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// Keeps the route's content type but replaces the body with a truncated one
/// a parser of that type must reject.
fn garble(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body: &'static [u8] = if content_type.contains("json") {
        br#"{"truncated": [1, 2"#
    } else if content_type.contains("xml") {
        br#"<?xml version="1.0"?><truncated><item>1</ite"#
    } else if content_type.contains("html") {
        br#"<div class="truncated"><p>1</"#
    } else {
        // Not UTF-8: rejected by anything expecting text.
        b"\xff\xfe\x00garbage\xc3"
    };
    parts.status = StatusCode::OK;
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    match shared.behavior().mode {
        Mode::Normal | Mode::Slow => (StatusCode::OK, "ok").into_response(),
        Mode::Error | Mode::Garbage => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response()
        }
        Mode::Hang => std::future::pending().await,
    }
}
