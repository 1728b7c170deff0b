//! Sign-in and sign-out: `GET /login`, `POST /login`, `POST /logout`.
//!
//! A failed sign-in says only that the login or password is wrong — never which — and
//! takes as long whether the user exists or not. Failures are throttled per login and
//! per client address; beyond the limit the form answers 429 with `Retry-After`. A
//! successful sign-in always starts a new session with a new id (no fixation).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use tessera_engine::Channel;
use tessera_store::NewSession;

use super::cookies::{self, constant_time_eq};
use super::identity::{identify, Identity};
use super::password;
use crate::AppState;

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Only same-site paths: `/pages/x`, never `//evil` or `https://evil`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: axum::extract::Query<LoginQuery>,
) -> Response {
    let identity = identify(&state, &headers).await;
    if identity.user.is_some() {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    render_form(
        &state,
        &identity,
        StatusCode::OK,
        None,
        "",
        query.next.as_deref(),
    )
}

fn render_form(
    state: &AppState,
    identity: &Identity,
    status: StatusCode,
    message: Option<&str>,
    login: &str,
    next: Option<&str>,
) -> Response {
    let token = cookies::random_token();
    let request = identity.request(None, Channel::Html, "/login");
    let body = state
        .engine()
        .render_portal_page(
            "auth/login.html",
            &request,
            context! { csrf => &token, message => message, login => login, next => safe_next(next) },
        )
        .unwrap_or_else(|| builtin_form(&token, message, login, &safe_next(next)));
    let mut res = (status, axum::response::Html(body)).into_response();
    let secure = state.settings().auth.cookie_secure;
    if let Some(c) = cookies::set(cookies::LOGIN_CSRF, &token, 3600, secure) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A plain sign-in form for portals without `templates/auth/login.html`.
fn builtin_form(csrf: &str, message: Option<&str>, login: &str, next: &str) -> String {
    let e = tessera_fragments::escape_html;
    format!(
        "<!doctype html><title>Sign in</title><h1>Sign in</h1>{}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Login <input name=\"login\" value=\"{}\"></label> <label>Password <input name=\"password\" type=\"password\"></label>\
         <button>Sign in</button></form>",
        message.map(|m| format!("<p role=\"alert\">{}</p>", e(m))).unwrap_or_default(),
        e(csrf),
        e(next),
        e(login),
    )
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let anonymous = super::identity::anonymous(state.settings());
    let expected = cookies::read(&headers, cookies::LOGIN_CSRF).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return super::csrf::rejected();
    }
    let settings = &state.settings().auth;
    let now = SystemTime::now();
    let window_start = now
        .checked_sub(settings.login_failure_window)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let login = form.login.trim().to_owned();
    let user_key = format!("user:{}", login.to_lowercase());
    let addr_key = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| format!("addr:{}", a.ip()));
    let mut keys = vec![user_key.clone()];
    keys.extend(addr_key.clone());
    for key in &keys {
        match state.store.login_failures(key, window_start).await {
            Ok(n) if n >= settings.max_login_failures => {
                let minutes = settings.login_failure_window.as_secs().div_ceil(60);
                let mut res = render_form(
                    &state,
                    &anonymous,
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(&format!(
                        "Too many failed attempts. Please try again in {minutes} minutes."
                    )),
                    &login,
                    form.next.as_deref(),
                );
                if let Ok(v) =
                    HeaderValue::from_str(&settings.login_failure_window.as_secs().to_string())
                {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return res;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the login throttle"),
        }
    }
    let user = if login.is_empty() || login.len() > 254 {
        None
    } else {
        state.store.user_by_login(&login).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot look the user up");
            None
        })
    };
    let ok = password::verify(
        form.password.clone(),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await
        && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        for key in &keys {
            if let Err(e) = state.store.record_login_failure(key, now).await {
                tracing::error!(error = %e, "cannot record a failed login");
            }
        }
        return render_form(
            &state,
            &anonymous,
            StatusCode::OK,
            Some("Wrong login or password."),
            &login,
            form.next.as_deref(),
        );
    };
    let _ = state.store.clear_login_failures(&user_key).await;
    // A fresh session id at every sign-in; any session the browser had ends.
    if let Some(old) = cookies::read(&headers, cookies::SESSION) {
        let _ = state.store.delete_session(&old).await;
    }
    let id = cookies::random_token();
    let session = NewSession {
        id: id.clone(),
        user_id: user.id,
        created_at: now,
        expires_at: now + settings.absolute_timeout,
        idle_expires_at: now + settings.idle_timeout,
        csrf_token: cookies::random_token(),
    };
    if let Err(e) = state.store.create_session(&session).await {
        tracing::error!(error = %e, "cannot create a session");
        return render_form(
            &state,
            &anonymous,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Signing in is not possible right now. Please try again shortly."),
            &login,
            form.next.as_deref(),
        );
    }
    tracing::info!(login = %user.login, "signed in");
    let mut res = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    let h = res.headers_mut();
    if let Some(c) = cookies::set(
        cookies::SESSION,
        &id,
        settings.absolute_timeout.as_secs() as i64,
        settings.cookie_secure,
    ) {
        h.append(header::SET_COOKIE, c);
    }
    if let Some(c) = cookies::clear(cookies::LOGIN_CSRF, settings.cookie_secure) {
        h.append(header::SET_COOKIE, c);
    }
    res
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let identity = identify(&state, &headers).await;
    if let Some(id) = &identity.session_id {
        if !super::csrf::valid(&identity, &form.csrf) {
            return super::csrf::rejected();
        }
        let _ = state.store.delete_session(id).await;
    }
    let secure = state.settings().auth.cookie_secure;
    let mut res = Redirect::to("/").into_response();
    if let Some(c) = cookies::clear(cookies::SESSION, secure) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// How long sign-in failures are remembered, for tests.
pub fn failure_window(state: &AppState) -> Duration {
    state.settings().auth.login_failure_window
}
