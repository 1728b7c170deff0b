//! The operator console: server-rendered HTML under `/admin` for signed-in operators —
//! services and their toggles, the registry of fragments and pages, the cache and its
//! invalidation, the audit log. Plain HTML forms, no JavaScript.
//!
//! Every state-changing form goes through the same functions as the JSON admin API
//! ([`crate::admin::services::perform`], [`crate::admin::cache::run`]), and every figure
//! is read from the same accessors `/metrics` reads: the console cannot disagree with
//! either.
//!
//! The console has its own small template set, compiled into the binary
//! (`channels/src/console/templates/`), rather than templates in the portal's folder: a
//! deployment's templates belong to its service teams and change with its descriptor set,
//! and an operator must keep their console when a template or descriptor set is broken.
//! It links `/static/tessera.css` (its classes are in the console section there).
//!
//! Layout:
//! - this module — the routes, the operator guard ([`require_operator`]: sign-in
//!   redirect, 403 for non-operators, the CSRF check of every POST), rendering
//! - `services` — `/admin`: services, their state and the toggle forms
//! - `registry` — `/admin/registry`: fragments and pages and what they depend on
//! - `cache` — `/admin/cache`: cache figures, invalidation with its impact preview
//! - `audit` — `/admin/audit`: the audit log, newest first, paged
//! - `descriptors` — `/admin/descriptors`: the descriptor set, its versions, rollback
//! - `listener` — [`admin_app`]: `/admin` on a listener of its own (`[admin] listen`)

mod audit;
mod cache;
mod descriptors;
mod listener;
mod registry;
mod services;

use std::sync::LazyLock;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Environment, Value};
use serde::Deserialize;

use crate::admin::services::Actor;
use crate::auth::{identify, Identity};
use crate::AppState;

pub use listener::admin_app;

/// The console's routes (paths include `/admin`), behind [`require_operator`].
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(services::page))
        .route("/admin/services/{id}/{action}", post(services::act))
        .route("/admin/registry", get(registry::page))
        .route("/admin/cache", get(cache::page))
        .route("/admin/cache/preview", post(cache::preview))
        .route("/admin/cache/invalidate", post(cache::invalidate))
        .route("/admin/audit", get(audit::page))
        .route("/admin/descriptors", get(descriptors::page))
        .route("/admin/descriptors/preview", post(descriptors::preview))
        .route("/admin/descriptors/rollback", post(descriptors::rollback))
        .route_layer(middleware::from_fn_with_state(state, require_operator))
}

/// The signed-in operator of a console request, put there by [`require_operator`].
#[derive(Debug, Clone)]
pub struct Operator {
    pub identity: Identity,
    /// Login and display name, for the header.
    pub login: String,
    pub name: String,
    /// The session's CSRF token, for the hidden field of every form.
    pub csrf: String,
    /// Who acts, from where, through the console: what the audit log records.
    pub actor: Actor,
}

#[derive(Debug, Default, Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Lets only signed-in operators in. A browser without a session is sent to sign in
/// (back here afterwards); a signed-in user without the operator token gets 403. A POST
/// must carry the session's CSRF token in its `csrf` form field, or it is refused with
/// 403 before any handler runs.
pub async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let identity = identify(&state, request.headers()).await;
    let Some(user) = identity.user.clone() else {
        let reads = request.method() == Method::GET || request.method() == Method::HEAD;
        // After signing in, a GET comes back where it was; a form post cannot be
        // replayed, so it comes back to the console's front page.
        let back = if reads {
            request
                .uri()
                .path_and_query()
                .map_or("/admin", |p| p.as_str())
                .to_owned()
        } else {
            "/admin".to_owned()
        };
        return Redirect::to(&crate::html::login_with_next(&back)).into_response();
    };
    if !identity.is_operator(state.settings()) {
        return message_page(
            &state,
            None,
            StatusCode::FORBIDDEN,
            "Operators only",
            "Your account does not hold the operator role, which the console needs.",
        );
    }
    let actor = Actor::operator(&user.login, request.extensions(), "console");
    let operator = Operator {
        login: user.login.clone(),
        name: user.display_name.clone(),
        csrf: identity.csrf.clone().unwrap_or_default(),
        identity,
        actor,
    };
    let mut request = if request.method() == Method::GET || request.method() == Method::HEAD {
        request
    } else {
        match checked_form(&state, &operator, request).await {
            Ok(r) => r,
            Err(res) => return *res,
        }
    };
    request.extensions_mut().insert(operator);
    next.run(request).await
}

/// Reads the form body once, checks its `csrf` field against the session's token, and
/// hands the request on with the same body.
async fn checked_form(
    state: &AppState,
    operator: &Operator,
    request: Request,
) -> Result<Request, Box<Response>> {
    let (parts, body) = request.into_parts();
    let limit = state.settings().limits.max_request_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return Err(Box::new(message_page(
                state,
                Some(operator),
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                &format!("A console form is at most {limit} bytes."),
            )))
        }
    };
    // The same form parser the handlers use, on a copy of the body.
    let mut probe = Request::new(Body::from(bytes.clone()));
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        probe.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
    }
    *probe.method_mut() = Method::POST;
    let given = Form::<CsrfField>::from_request(probe, &())
        .await
        .map(|Form(f)| f.csrf)
        .unwrap_or_default();
    if !crate::auth::csrf::valid(&operator.identity, &given) {
        tracing::warn!(login = %operator.login, path = %parts.uri.path(), "console form without a valid CSRF token");
        return Err(Box::new(message_page(
            state,
            Some(operator),
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form did not carry this session's security token, so nothing was changed. Reload the page and try again.",
        )));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The console's templates, compiled into the binary. Auto-escaping is on for `.html`.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("message.html", include_str!("templates/message.html")),
        ("services.html", include_str!("templates/services.html")),
        ("registry.html", include_str!("templates/registry.html")),
        ("cache.html", include_str!("templates/cache.html")),
        ("audit.html", include_str!("templates/audit.html")),
        (
            "descriptors.html",
            include_str!("templates/descriptors.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, source) {
            // The templates ship with the binary; a test renders every one of them.
            tracing::error!(template = name, error = %e, "console template does not compile");
        }
    }
    env
});

/// Renders a console page with what every page shows (portal name, the operator and the
/// CSRF token) around `extra`. Console pages are never cached, never
/// framed, and post forms only to this origin.
pub fn render(
    state: &AppState,
    operator: Option<&Operator>,
    template: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    // Every page says which node it is and whether that node is cut off (issue #8: a node
    // that cannot reach the database serves from its cache and says so).
    let cluster = state.cluster.status();
    let node = context! {
        id => &cluster.node,
        bus => cluster.bus_line(),
        store => cluster.store_line(),
        degraded => cluster.degraded(),
        resyncs => cluster.resyncs,
    };
    let ctx = context! {
        portal => &state.settings().portal.name,
        node,
        operator => operator.map(|o| context! { login => &o.login, name => &o.name }),
        csrf => operator.map(|o| o.csrf.as_str()).unwrap_or_default(),
        ..extra
    };
    let body = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(template, error = %e, "console page failed");
            "<!doctype html><title>Console error</title><h1>This console page could not be rendered</h1><p>The details are in the node's log.</p>".to_owned()
        });
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// A page with a title and a sentence: refusals, errors, "no such service".
pub fn message_page(
    state: &AppState,
    operator: Option<&Operator>,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    render(
        state,
        operator,
        "message.html",
        status,
        context! { title, message, code => status.as_u16() },
    )
}

/// A time for people: `2026-11-21 22:10:05 UTC`.
pub fn when(t: SystemTime) -> String {
    // `time` comes with `cookie` (re-exported there); the portal needs no other clock crate.
    let t = cookie::time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A byte count for people: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A ratio as a percentage with one decimal: `0.125` → `12.5 %`.
pub fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn figures_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 * 1024 * 1024), "64.0 MiB");
        assert_eq!(percent(0.125), "12.5 %");
        assert_eq!(
            when(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14 22:13:20 UTC"
        );
    }

    #[test]
    fn every_console_template_compiles() {
        for name in [
            "base.html",
            "message.html",
            "services.html",
            "registry.html",
            "cache.html",
            "audit.html",
        ] {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name} compiles");
        }
    }
}
