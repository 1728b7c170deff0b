//! `/admin` on a listener of its own. With `[admin] listen` set, `tessera serve` binds
//! that address too and serves [`admin_app`] there — the console, the admin API, what an
//! operator needs to sign in and out, and the stylesheet — while [`crate::app`] leaves
//! `/admin` out, so the public listener answers it with 404. A firewall can then keep the
//! whole operator surface off the public network.

use std::path::PathBuf;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;

use crate::auth::login;
use crate::{admin, AppState};

/// The admin listener's HTTP surface.
pub fn admin_app(state: AppState, static_dir: Option<PathBuf>) -> Router {
    let router = Router::new()
        .route("/", get(|| async { Redirect::to("/admin") }))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .merge(super::routes(state.clone()))
        .nest("/admin/api", admin::routes(state.clone()));
    crate::finish(router, state, static_dir)
}
