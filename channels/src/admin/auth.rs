//! Admin API authentication: a signed-in operator (session cookie and CSRF header), or a
//! static bearer token from `admin.token` (or the `TESSERA_ADMIN_TOKEN` environment
//! variable) for scripts. Either way the request carries the [`Actor`] the audit log
//! records.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::json_error;
use super::services::Actor;
use crate::AppState;

/// Lets the request through with `Authorization: Bearer <admin token>`, or for a signed-in
/// operator (with the session's `X-CSRF-Token` on anything but GET). Signed-in users
/// without the operator token get 403.
pub async fn require_admin(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.headers().get(header::AUTHORIZATION).is_none() {
        let identity = crate::auth::identify(&state, request.headers()).await;
        if let Some(user) = &identity.user {
            if !identity.is_operator(state.settings()) {
                return json_error(StatusCode::FORBIDDEN, "operators only");
            }
            let reads = request.method() == axum::http::Method::GET
                || request.method() == axum::http::Method::HEAD;
            if !reads
                && !crate::auth::csrf::valid(
                    &identity,
                    &crate::auth::csrf::from_header(request.headers()),
                )
            {
                return json_error(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token");
            }
            // The audit log names the operator, not the token.
            let actor = Actor::operator(&user.login, request.extensions(), "api");
            request.extensions_mut().insert(actor);
            return next.run(request).await;
        }
        // A browser without a session is sent to sign in; API clients get 401 below.
        let wants_html = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        if wants_html {
            // The nested router sees `/services`; the original URI keeps `/admin/api`.
            let next_path = request
                .extensions()
                .get::<axum::extract::OriginalUri>()
                .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
            return axum::response::Redirect::to(&crate::html::login_with_next(&next_path))
                .into_response();
        }
    }
    let Some(expected) = state.admin_token.as_deref() else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the admin API is disabled: set admin.token in tessera.toml or TESSERA_ADMIN_TOKEN",
        );
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token)
            if crate::auth::cookies::constant_time_eq(token.as_bytes(), expected.as_bytes()) =>
        {
            let actor = Actor::token(request.extensions());
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        _ => {
            let mut res = json_error(
                StatusCode::UNAUTHORIZED,
                "an admin token is required (Authorization: Bearer …)",
            );
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            res.into_response()
        }
    }
}
