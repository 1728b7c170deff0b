//! `/admin`, the console's front page: every service with its state, error rate,
//! latency, last errors and breaker history, and the forms to disable, enable, force
//! closed or reset it — carried out by [`perform`], the JSON API's own path.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use minijinja::{context, Value};
use serde::Deserialize;
use tessera_service_access::{ServiceView, Toggle};

use super::{message_page, percent, render, when, Operator};
use crate::admin::services::{perform, Action, ActionError};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    /// The action just carried out (after the redirect of a successful form).
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    reason: String,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    Query(done): Query<Done>,
) -> Response {
    // Only a known action on a known service makes a notice: the query is not trusted
    // to say anything else.
    let notice = match (
        done.done.as_deref().and_then(Action::from_path),
        done.service,
    ) {
        (Some(action), Some(id)) if state.engine().services().service(&id).is_some() => {
            Some(format!("{id}: {}", past_tense(action)))
        }
        _ => None,
    };
    services_page(
        &state,
        &operator,
        StatusCode::OK,
        notice,
        BTreeMap::new(),
        BTreeMap::new(),
    )
}

/// `POST /admin/services/{id}/{action}` with the form's `reason` (and `csrf`, checked
/// by the guard). Success redirects to the front page (a reload does not repeat it); a
/// refusal shows the page again with the message at that service's forms.
pub async fn act(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let Some(action) = Action::from_path(&action) else {
        return message_page(
            &state,
            Some(&operator),
            StatusCode::NOT_FOUND,
            "No such action",
            &format!("There is no service action “{action}”; the console offers disable, enable, force-closed and reset."),
        );
    };
    match perform(&state, &id, action, Some(&form.reason), &operator.actor).await {
        Ok(_) => Redirect::to(&format!(
            "/admin?done={}&service={}#service-{}",
            path_name(action),
            id,
            id
        ))
        .into_response(),
        Err(ActionError::UnknownService(_)) => message_page(
            &state,
            Some(&operator),
            StatusCode::NOT_FOUND,
            "No such service",
            &format!("There is no service “{id}” in the running descriptor set."),
        ),
        Err(e) => {
            let (status, message) = match e {
                ActionError::ReasonRequired => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Disabling a service needs a reason: say why, for the audit log and your colleagues.".to_owned(),
                ),
                ActionError::ReasonTooLong => {
                    (StatusCode::UNPROCESSABLE_ENTITY, capitalized(&e.to_string()))
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, capitalized(&e.to_string())),
            };
            let reasons = BTreeMap::from([(id.clone(), form.reason)]);
            services_page(
                &state,
                &operator,
                status,
                None,
                BTreeMap::from([(id, message)]),
                reasons,
            )
        }
    }
}

fn services_page(
    state: &AppState,
    operator: &Operator,
    status: StatusCode,
    notice: Option<String>,
    errors: BTreeMap<String, String>,
    reasons: BTreeMap<String, String>,
) -> Response {
    let services: Vec<Value> = state
        .engine()
        .services()
        .services()
        .map(|s| service_value(&s.view()))
        .collect();
    render(
        state,
        Some(operator),
        "services.html",
        status,
        context! { current => "services", services, notice, errors, reasons },
    )
}

/// What the template shows of a service, the figures already in words.
fn service_value(v: &ServiceView) -> Value {
    let toggle = match &v.toggle {
        Toggle::Enabled => None,
        Toggle::Disabled { reason, actor, at } | Toggle::ForcedClosed { reason, actor, at } => {
            Some(context! { reason, actor, at => when(*at) })
        }
    };
    let ms = |v: Option<u64>| v.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"));
    let errors = &v.stats.errors;
    let failed =
        errors.timeout + errors.status + errors.connect + errors.transport + errors.too_large;
    let mut transitions: Vec<Value> = v
        .transitions
        .iter()
        .map(|t| context! { from => t.from, to => t.to, at => when(t.at), cause => &t.cause })
        .collect();
    transitions.reverse();
    context! {
        id => &v.id,
        base_url => &v.base_url,
        state => v.state,
        state_label => state_label(v.state),
        breaker => v.breaker,
        toggle,
        error_rate => percent(v.error_rate),
        p50 => ms(v.stats.latency_ms.p50),
        p99 => ms(v.stats.latency_ms.p99),
        samples => v.stats.latency_ms.samples,
        calls => v.stats.calls,
        successes => v.stats.successes,
        failed,
        short_circuits => v.stats.short_circuits,
        disabled_skips => v.stats.disabled_skips,
        rejected => v.stats.bulkhead_rejections + v.stats.global_rejections,
        in_flight => v.in_flight,
        max_concurrent => v.max_concurrent,
        last_errors => v.last_errors.iter().map(|e| context! {
            at => when(e.at), outcome => e.outcome, message => &e.message
        }).collect::<Vec<_>>(),
        transitions,
        health => v.health.as_ref().map(|h| context! {
            healthy => h.healthy,
            last_probe => h.last_probe.map(when),
            last_error => &h.last_error,
            probing => h.probing,
        }),
    }
}

fn state_label(state: &str) -> &'static str {
    match state {
        "closed" => "Closed — calls flow",
        "open" => "Open — calls stopped by the breaker",
        "half_open" => "Half-open — probing",
        "disabled" => "Disabled by an operator",
        "forced_closed" => "Forced closed by an operator",
        _ => "Unknown",
    }
}

fn path_name(action: Action) -> &'static str {
    match action {
        Action::Disable => "disable",
        Action::Enable => "enable",
        Action::ForceClosed => "force-closed",
        Action::Reset => "reset",
    }
}

fn past_tense(action: Action) -> &'static str {
    match action {
        Action::Disable => "disabled — it is no longer called",
        Action::Enable => "enabled — its breaker decides again",
        Action::ForceClosed => "forced closed — it is called whatever its breaker says",
        Action::Reset => "breaker reset — closed, with an empty window",
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
