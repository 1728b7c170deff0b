//! `/admin/api/services`: service state and statistics; disable, enable, force closed,
//! reset. Every action is applied at once (the next call on every page sees it), saved in
//! the store (so it survives a restart) and written to the audit log.

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tessera_service_access::{Service, Toggle};
use tessera_store::{AuditEntry, ToggleMode};

use super::json_error;
use crate::AppState;

/// The actor recorded for token-authenticated calls, until operators sign in.
pub(crate) const TOKEN_ACTOR: &str = "admin-token";

pub async fn list(State(state): State<AppState>) -> Response {
    let views: Vec<_> = state
        .engine()
        .services()
        .services()
        .map(|s| s.view())
        .collect();
    Json(views).into_response()
}

pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.engine().services().service(&id) {
        Some(s) => Json(s.view()).into_response(),
        None => unknown(&id),
    }
}

fn unknown(id: &str) -> Response {
    json_error(StatusCode::NOT_FOUND, &format!("no service \"{id}\""))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Disable,
    Enable,
    ForceClosed,
    Reset,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Disable => "service.disable",
            Action::Enable => "service.enable",
            Action::ForceClosed => "service.force_closed",
            Action::Reset => "service.reset",
        }
    }
}

pub async fn disable(
    state: State<AppState>,
    id: Path<String>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    act(state, id, ext, body, Action::Disable).await
}
pub async fn enable(
    state: State<AppState>,
    id: Path<String>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    act(state, id, ext, body, Action::Enable).await
}
pub async fn force_closed(
    state: State<AppState>,
    id: Path<String>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    act(state, id, ext, body, Action::ForceClosed).await
}
pub async fn reset(
    state: State<AppState>,
    id: Path<String>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    act(state, id, ext, body, Action::Reset).await
}

async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    extensions: Extensions,
    body: Bytes,
    action: Action,
) -> Response {
    let Some(service) = state.engine().services().service(&id).cloned() else {
        return unknown(&id);
    };
    let body: Option<ActionBody> = match super::json_body(&body) {
        Ok(b) => b,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let reason = body
        .and_then(|b| b.reason)
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if matches!(action, Action::Disable) && reason.is_none() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "disabling a service needs a reason: {\"reason\": \"…\"}",
        );
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the reason is longer than 500 characters",
        );
    }
    let origin = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string());
    let now = SystemTime::now();
    let previous = service.view().state;
    if let Err(e) = persist(&state, &service, action, reason.as_deref(), now).await {
        tracing::error!(service = %id, error = %e, "cannot save the toggle");
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the toggle could not be saved; nothing was changed",
        );
    }
    apply(&service, action, reason.clone(), now);
    let entry = AuditEntry {
        at: now,
        actor: TOKEN_ACTOR.into(),
        action: action.name().into(),
        target: id.clone(),
        reason,
        origin,
        detail: Some(serde_json::json!({ "from": previous, "to": service.view().state })),
    };
    if let Err(e) = state.store.append_audit(&entry).await {
        tracing::error!(service = %id, error = %e, "cannot write the audit log");
    }
    tracing::info!(service = %id, action = action.name(), "operator action");
    Json(service.view()).into_response()
}

/// Saves first, applies second: a toggle that was not saved would vanish at restart.
async fn persist(
    state: &AppState,
    service: &Service,
    action: Action,
    reason: Option<&str>,
    at: SystemTime,
) -> Result<(), tessera_store::StoreError> {
    let mode = match action {
        Action::Disable => ToggleMode::Disabled,
        Action::ForceClosed => ToggleMode::ForcedClosed,
        Action::Enable => return state.store.delete_toggle(service.id()).await.map(|_| ()),
        Action::Reset => return Ok(()),
    };
    state
        .store
        .put_toggle(&tessera_store::Toggle {
            service: service.id().to_owned(),
            mode,
            reason: reason.unwrap_or_default().to_owned(),
            actor: TOKEN_ACTOR.into(),
            at,
        })
        .await
}

fn apply(service: &Service, action: Action, reason: Option<String>, at: SystemTime) {
    let reason = reason.unwrap_or_default();
    match action {
        Action::Disable => service.set_toggle(Toggle::Disabled {
            reason,
            actor: TOKEN_ACTOR.into(),
            at,
        }),
        Action::ForceClosed => service.set_toggle(Toggle::ForcedClosed {
            reason,
            actor: TOKEN_ACTOR.into(),
            at,
        }),
        Action::Enable => service.set_toggle(Toggle::Enabled),
        Action::Reset => service.breaker().reset(),
    }
}

/// The in-memory toggle for a stored one.
pub fn from_stored(t: &tessera_store::Toggle) -> Toggle {
    match t.mode {
        ToggleMode::Disabled => Toggle::Disabled {
            reason: t.reason.clone(),
            actor: t.actor.clone(),
            at: t.at,
        },
        ToggleMode::ForcedClosed => Toggle::ForcedClosed {
            reason: t.reason.clone(),
            actor: t.actor.clone(),
            at: t.at,
        },
    }
}
