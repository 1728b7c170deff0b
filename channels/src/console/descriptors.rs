//! `/admin/descriptors`: the running descriptor set — its version, its documents (from the
//! folders or registered), what keeps the latest file edits out — and its versions with
//! rollback in two steps: the first shows what the rollback would change (a dry run),
//! the confirmation applies it. Both go through the registry, like the JSON API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use minijinja::{context, Value};
use serde::Deserialize;

use super::{render, when, Operator};
use crate::registry::Refusal;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    version: String,
    #[serde(default)]
    reason: String,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Response {
    descriptors_page(&state, &operator, StatusCode::OK, None, None).await
}

/// The first step: what would rolling back change? Nothing changes.
pub async fn preview(
    state: State<AppState>,
    operator: Extension<Operator>,
    form: Form<RollbackForm>,
) -> Response {
    step(state, operator, form, true).await
}

/// The second step, from the preview's confirmation.
pub async fn rollback(
    state: State<AppState>,
    operator: Extension<Operator>,
    form: Form<RollbackForm>,
) -> Response {
    step(state, operator, form, false).await
}

async fn step(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    Form(form): Form<RollbackForm>,
    dry_run: bool,
) -> Response {
    let reason = form.reason.trim();
    let version = match form.version.trim().parse::<i64>() {
        Err(_) => Err(format!("“{}” is not a version number.", form.version)),
        Ok(_) if reason.is_empty() => Err(
            "Say why you roll back: the reason goes into the version list and the audit log."
                .to_owned(),
        ),
        Ok(version) => Ok(version),
    };
    let version = match version {
        Ok(version) => version,
        Err(msg) => {
            return descriptors_page(
                &state,
                &operator,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(msg),
            )
            .await
        }
    };
    let actor = crate::admin::descriptors::changed_by(&operator.actor, reason);
    match state.registry.rollback(version, &actor, dry_run).await {
        Ok(outcome) => {
            let result = context! {
                dry_run,
                target => version,
                reason,
                outcome => Value::from_serialize(&outcome),
            };
            descriptors_page(&state, &operator, StatusCode::OK, Some(result), None).await
        }
        Err(refusal) => {
            let (status, msg) = explain(&refusal);
            descriptors_page(&state, &operator, status, None, Some(msg)).await
        }
    }
}

fn explain(refusal: &Refusal) -> (StatusCode, String) {
    match refusal {
        Refusal::Invalid(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "That version does not build with the folders as they are now: {}",
                problems.join("; ")
            ),
        ),
        Refusal::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
        Refusal::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
        Refusal::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The store cannot be reached; nothing was changed.".to_owned(),
        ),
        other => (StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
    }
}

async fn descriptors_page(
    state: &AppState,
    operator: &Operator,
    status: StatusCode,
    result: Option<Value>,
    error: Option<String>,
) -> Response {
    let registry = &state.registry;
    let version = registry.version().await;
    let documents = registry.documents().await;
    let versions = match registry.versions(50, None).await {
        Ok(list) => list
            .into_iter()
            .map(|v| {
                context! {
                    version => v.version,
                    at => when(v.at),
                    actor => v.actor,
                    origin => v.origin,
                    reason => v.reason,
                    summary => v.summary,
                    current => v.version == version,
                }
            })
            .collect::<Vec<_>>(),
        Err(Refusal::Fixed) => Vec::new(),
        Err(e) => {
            tracing::error!(error = %e, "cannot list the descriptor versions");
            Vec::new()
        }
    };
    let problems = registry.file_problems().map(|p| {
        context! { since => when(p.since), problems => p.problems }
    });
    render(
        state,
        Some(operator),
        "descriptors.html",
        status,
        context! {
            current => "descriptors",
            version,
            documents => Value::from_serialize(&documents),
            versions,
            file_problems => problems,
            result,
            error,
        },
    )
}
