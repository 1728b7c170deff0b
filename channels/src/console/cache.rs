//! `/admin/cache`: the fragment cache's figures — read through
//! `FragmentCache::settled_snapshot`, the accessor `/metrics` reads — and invalidation in
//! two steps: the form first shows the impact preview (a dry run), and only the
//! confirmation applies it. Both steps go through [`run`], the JSON API's own path.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use tessera_fragments::cache::{Mode, Targets};

use super::{bytes, percent, render, Operator};
use crate::admin::cache::{run, InvalidateRequest, InvalidateResponse};
use crate::AppState;

/// The invalidation form, as typed: keys separated by commas, spaces or new lines.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct InvalidateForm {
    #[serde(default)]
    objects: String,
    #[serde(default)]
    fragments: String,
    #[serde(default)]
    pages: String,
    #[serde(default)]
    users: String,
    #[serde(default)]
    templates: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    reason: String,
}

impl InvalidateForm {
    /// The request the form describes, or the sentence saying what is wrong with it.
    fn request(&self, dry_run: bool) -> Result<InvalidateRequest, String> {
        let mode = match self.mode.trim() {
            "" | "hard" => Mode::Hard,
            "soft" => Mode::Soft,
            "refresh" => Mode::Refresh,
            other => {
                return Err(format!(
                    "Unknown mode “{other}”: choose hard, soft or refresh."
                ))
            }
        };
        Ok(InvalidateRequest {
            targets: Targets {
                objects: keys(&self.objects),
                fragments: keys(&self.fragments),
                pages: keys(&self.pages),
                users: keys(&self.users),
                templates: keys(&self.templates),
            },
            mode,
            dry_run,
            reason: Some(self.reason.clone()),
        })
    }
}

fn keys(field: &str) -> Vec<String> {
    field
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn page(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Response {
    cache_page(
        &state,
        &operator,
        StatusCode::OK,
        &InvalidateForm::default(),
        None,
    )
}

/// The first step: what would this invalidation touch? Nothing changes.
pub async fn preview(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    Form(form): Form<InvalidateForm>,
) -> Response {
    step(&state, &operator, form, true).await
}

/// The second step, from the preview's confirmation: do it.
pub async fn invalidate(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    Form(form): Form<InvalidateForm>,
) -> Response {
    step(&state, &operator, form, false).await
}

async fn step(
    state: &AppState,
    operator: &Operator,
    form: InvalidateForm,
    dry_run: bool,
) -> Response {
    let outcome = match form.request(dry_run) {
        Ok(req) => run(state, &req, &operator.actor).await,
        Err(message) => Err(message),
    };
    match outcome {
        Ok(answer) => cache_page(state, operator, StatusCode::OK, &form, Some(Ok(answer))),
        Err(message) => cache_page(
            state,
            operator,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            Some(Err(message)),
        ),
    }
}

fn cache_page(
    state: &AppState,
    operator: &Operator,
    status: StatusCode,
    form: &InvalidateForm,
    outcome: Option<Result<InvalidateResponse, String>>,
) -> Response {
    let c = state.engine().fragments().cache().settled_snapshot();
    let figures = context! {
        entries => c.entries,
        bytes => c.bytes,
        bytes_human => bytes(c.bytes),
        max_bytes => c.max_bytes,
        max_bytes_human => bytes(c.max_bytes),
        used => percent(if c.max_bytes == 0 { 0.0 } else { c.bytes as f64 / c.max_bytes as f64 }),
        hits => c.hits,
        misses => c.misses,
        hit_ratio => percent(c.hit_ratio),
        inserts => c.inserts,
        evictions => c.evictions,
        invalidations => c.invalidations,
        invalidated_entries => c.invalidated_entries,
        graph_nodes => c.graph_nodes,
    };
    let (result, error) = match outcome {
        Some(Ok(answer)) => (Some(impact_value(&answer)), None),
        Some(Err(message)) => (None, Some(message)),
        None => (None, None),
    };
    render(
        state,
        Some(operator),
        "cache.html",
        status,
        context! { current => "cache", figures, form => Value::from_serialize(form), result, error },
    )
}

fn impact_value(a: &InvalidateResponse) -> Value {
    let i = &a.affected;
    context! {
        dry_run => a.dry_run,
        mode => Value::from_serialize(a.mode),
        entries => i.entries,
        by_stage => &i.by_stage,
        fragments => &i.fragments,
        pages => &a.pages,
        users => i.users,
        refreshing => i.refreshing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_on_commas_spaces_and_lines() {
        assert_eq!(
            keys("news:1, news:2\nquotes\t ,,"),
            ["news:1", "news:2", "quotes"]
        );
        assert!(keys("  \n ").is_empty());
    }

    #[test]
    fn a_form_names_its_mode_or_is_refused() {
        let form = |mode: &str| InvalidateForm {
            objects: "news".into(),
            mode: mode.into(),
            ..InvalidateForm::default()
        };
        assert_eq!(form("").request(true).map(|r| r.mode), Ok(Mode::Hard));
        assert_eq!(form("soft").request(true).map(|r| r.mode), Ok(Mode::Soft));
        assert_eq!(
            form("refresh").request(false).map(|r| (r.mode, r.dry_run)),
            Ok((Mode::Refresh, false))
        );
        assert_eq!(
            form("purge").request(true).map(|r| r.mode),
            Err("Unknown mode “purge”: choose hard, soft or refresh.".to_owned())
        );
    }
}
