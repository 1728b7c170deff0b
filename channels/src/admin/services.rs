//! `/admin/api/services`: service state and statistics; disable, enable, force closed,
//! reset. Every action — from this API or the console — goes through [`perform`]: applied
//! at once (the next call on every page sees it), saved in the store (so it survives a
//! restart) and written to the audit log.

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tessera_service_access::{Service, ServiceView, Toggle};
use tessera_store::{AuditEntry, ToggleMode};

use super::json_error;
use crate::AppState;

/// The actor recorded for calls authenticated by the admin token.
pub const TOKEN_ACTOR: &str = "admin-token";

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Disable,
    Enable,
    ForceClosed,
    Reset,
}

impl Action {
    /// The action a path segment names: `disable`, `enable`, `force-closed`, `reset`.
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "disable" => Some(Action::Disable),
            "enable" => Some(Action::Enable),
            "force-closed" => Some(Action::ForceClosed),
            "reset" => Some(Action::Reset),
            _ => None,
        }
    }

    /// The audit log's name for it.
    pub fn name(self) -> &'static str {
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
    // An unknown service is 404 whatever the body says.
    if state.engine().services().service(&id).is_none() {
        return unknown(&id);
    }
    let body: Option<ActionBody> = match super::json_body(&body) {
        Ok(b) => b,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, &message),
    };
    let actor = extensions
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(|| Actor::token(&extensions));
    let reason = body.and_then(|b| b.reason);
    match perform(&state, &id, action, reason.as_deref(), &actor).await {
        Ok(view) => Json(view).into_response(),
        Err(e @ ActionError::UnknownService(_)) => {
            json_error(StatusCode::NOT_FOUND, &e.to_string())
        }
        Err(ActionError::ReasonRequired) => json_error(
            StatusCode::BAD_REQUEST,
            "disabling a service needs a reason: {\"reason\": \"…\"}",
        ),
        Err(e @ ActionError::ReasonTooLong) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e @ ActionError::NotSaved) => {
            json_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
    }
}

/// Who acts, and from where: what the audit log records with every operator action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The signed-in operator's login, or [`TOKEN_ACTOR`] for the bearer token.
    pub name: String,
    /// The client address, when the request came over the network.
    pub origin: Option<String>,
    /// Through which surface: `"api"` (the JSON admin API) or `"console"`.
    pub via: &'static str,
}

impl Actor {
    /// The bearer token's actor, from the request's connection info.
    pub fn token(extensions: &Extensions) -> Self {
        Self {
            name: TOKEN_ACTOR.into(),
            origin: origin(extensions),
            via: "api",
        }
    }

    /// A signed-in operator acting through `via`.
    pub fn operator(login: &str, extensions: &Extensions, via: &'static str) -> Self {
        Self {
            name: login.to_owned(),
            origin: origin(extensions),
            via,
        }
    }
}

/// The client's address, from axum's connection info (absent under `oneshot`).
pub fn origin(extensions: &Extensions) -> Option<String> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
}

/// Why an operator action was refused. Nothing has changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("no service \"{0}\"")]
    UnknownService(String),
    #[error("disabling a service needs a reason")]
    ReasonRequired,
    #[error("the reason is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error("the toggle could not be saved; nothing was changed")]
    NotSaved,
}

/// Longest reason accepted: a sentence or two, not a document.
pub const MAX_REASON_CHARS: usize = 500;

/// Carries out an operator action on a service: the one path for the JSON API and the
/// console. Checks the reason, saves the toggle (so it survives a restart), applies it
/// (the next call sees it) and writes the audit entry — who, what, when, why, from
/// where, through which surface, and the state before and after.
pub async fn perform(
    state: &AppState,
    id: &str,
    action: Action,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<ServiceView, ActionError> {
    let Some(service) = state.engine().services().service(id).cloned() else {
        return Err(ActionError::UnknownService(id.to_owned()));
    };
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if matches!(action, Action::Disable) && reason.is_none() {
        return Err(ActionError::ReasonRequired);
    }
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ActionError::ReasonTooLong);
    }
    let now = SystemTime::now();
    let previous = service.view().state;
    if let Err(e) = persist(state, &service, action, reason.as_deref(), &actor.name, now).await {
        tracing::error!(service = %id, error = %e, "cannot save the toggle");
        return Err(ActionError::NotSaved);
    }
    apply(&service, action, reason.clone(), &actor.name, now);
    if !matches!(action, Action::Reset) {
        // Saved: the other nodes read it from the store. A breaker is this node's own.
        state.cluster.publish_toggle(id);
    }
    let view = service.view();
    let entry = AuditEntry {
        at: now,
        actor: actor.name.clone(),
        action: action.name().into(),
        target: id.to_owned(),
        reason,
        origin: actor.origin.clone(),
        detail: Some(serde_json::json!({ "from": previous, "to": view.state, "via": actor.via })),
    };
    if let Err(e) = state.store.append_audit(&entry).await {
        tracing::error!(service = %id, error = %e, "cannot write the audit log");
    }
    tracing::info!(service = %id, action = action.name(), actor = %actor.name, via = actor.via, "operator action");
    Ok(view)
}

/// Saves first, applies second: a toggle that was not saved would vanish at restart.
async fn persist(
    state: &AppState,
    service: &Service,
    action: Action,
    reason: Option<&str>,
    actor: &str,
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
            actor: actor.to_owned(),
            at,
        })
        .await
}

fn apply(service: &Service, action: Action, reason: Option<String>, actor: &str, at: SystemTime) {
    let reason = reason.unwrap_or_default();
    match action {
        Action::Disable => service.set_toggle(Toggle::Disabled {
            reason,
            actor: actor.to_owned(),
            at,
        }),
        Action::ForceClosed => service.set_toggle(Toggle::ForcedClosed {
            reason,
            actor: actor.to_owned(),
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
