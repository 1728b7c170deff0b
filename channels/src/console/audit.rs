//! `/admin/audit`: the audit log, newest first, a page at a time (`?before=<id>` for the
//! next, older page).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use minijinja::{context, Value};
use serde::Deserialize;

use super::{message_page, render, when, Operator};
use crate::AppState;

/// Entries per page: a screenful or two.
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Kept as text so a bad value gets the console's own answer, not a bare 400.
    #[serde(default)]
    before: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let before = match query.before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                return message_page(
                    &state,
                    Some(&operator),
                    StatusCode::BAD_REQUEST,
                    "No such audit page",
                    "before must be a positive whole number: the id of the last entry of the previous page.",
                )
            }
        },
    };
    // One more than shown: whether there is an older page.
    let mut records = match state.store.audit(PAGE_SIZE + 1, before).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit log");
            return message_page(
                &state,
                Some(&operator),
                StatusCode::SERVICE_UNAVAILABLE,
                "The audit log cannot be read right now",
                "The store did not answer; the details are in the node's log. Please try again shortly.",
            );
        }
    };
    let older = records.len() > PAGE_SIZE as usize;
    records.truncate(PAGE_SIZE as usize);
    let next_before = older.then(|| records.last().map(|r| r.id)).flatten();
    let entries: Vec<Value> = records
        .iter()
        .map(|r| {
            let e = &r.entry;
            context! {
                id => r.id,
                at => when(e.at),
                actor => &e.actor,
                action => &e.action,
                target => &e.target,
                reason => &e.reason,
                origin => &e.origin,
                via => e.detail.as_ref().and_then(|d| d.get("via")).and_then(|v| v.as_str()),
                detail => e.detail.as_ref().map(|d| d.to_string()),
            }
        })
        .collect();
    render(
        &state,
        Some(&operator),
        "audit.html",
        StatusCode::OK,
        context! { current => "audit", entries, next_before, paged => before.is_some(), page_size => PAGE_SIZE },
    )
}
