//! `/admin/api/invalidate`, `/admin/api/graph/{object}`, `/admin/api/cache`: invalidation
//! with impact preview, "what depends on this object?", cache figures. The console's cache
//! page invalidates through the same [`run`].

use std::collections::BTreeSet;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tessera_engine::Engine;
use tessera_fragments::cache::{Impact, Mode, Node, Targets};
use tessera_store::AuditEntry;

use super::json_error;
use super::services::{Actor, MAX_REASON_CHARS};
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidateRequest {
    #[serde(flatten)]
    pub targets: Targets,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub dry_run: bool,
    /// Why, for the audit log (optional).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InvalidateResponse {
    pub dry_run: bool,
    pub mode: Mode,
    pub affected: Impact,
    /// Every page whose content is (or would be) affected: pages with affected cached
    /// entries, and pages placing an affected fragment.
    pub pages: Vec<String>,
}

/// Most keys one call may name: an invalidation is an operator's act, not a bulk job.
const MAX_TARGETS: usize = 1000;

pub async fn invalidate(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let req: InvalidateRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("malformed invalidation request: {e}"),
            )
        }
    };
    let actor = extensions
        .get::<Actor>()
        .cloned()
        .unwrap_or_else(|| Actor::token(&extensions));
    match run(&state, &req, &actor).await {
        Ok(answer) => Json(answer).into_response(),
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

/// Carries out (or, for a dry run, previews) an invalidation: the one path for the JSON
/// API and the console. A real one is written to the audit log with who, from where and
/// why. The error is the message for a 400 (nothing was touched).
pub async fn run(
    state: &AppState,
    req: &InvalidateRequest,
    actor: &Actor,
) -> Result<InvalidateResponse, String> {
    if req.targets.is_empty() {
        return Err(
            "nothing to invalidate: give at least one of objects, fragments, pages, users, templates"
                .into(),
        );
    }
    let t = &req.targets;
    let count =
        t.objects.len() + t.fragments.len() + t.pages.len() + t.users.len() + t.templates.len();
    if count > MAX_TARGETS {
        return Err(format!(
            "too many keys in one invalidation ({count}; at most {MAX_TARGETS})"
        ));
    }
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        ));
    }
    let engine = &state.engine();
    let affected = engine.invalidate(&req.targets, req.mode, req.dry_run);
    if !req.dry_run {
        state.cluster.publish_invalidation(&req.targets, req.mode);
    }
    if affected.entries == 0 {
        tracing::info!(targets = ?req.targets, "invalidation matched no cached entry");
    }
    let pages = affected_pages(engine, &affected);
    if !req.dry_run {
        let entry = AuditEntry {
            at: SystemTime::now(),
            actor: actor.name.clone(),
            action: "cache.invalidate".into(),
            target: describe(&req.targets),
            reason: reason.map(str::to_owned),
            origin: actor.origin.clone(),
            detail: Some(serde_json::json!({
                "mode": req.mode,
                "entries": affected.entries,
                "via": actor.via,
            })),
        };
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
    Ok(InvalidateResponse {
        dry_run: req.dry_run,
        mode: req.mode,
        affected,
        pages,
    })
}

fn describe(t: &Targets) -> String {
    let mut parts = Vec::new();
    for (name, list) in [
        ("objects", &t.objects),
        ("fragments", &t.fragments),
        ("pages", &t.pages),
        ("users", &t.users),
        ("templates", &t.templates),
    ] {
        if !list.is_empty() {
            parts.push(format!("{name}: {}", list.join(", ")));
        }
    }
    parts.join("; ")
}

pub fn affected_pages(engine: &Engine, impact: &Impact) -> Vec<String> {
    let mut pages: BTreeSet<String> = impact.pages.keys().cloned().collect();
    pages.extend(pages_placing(
        engine,
        impact.fragments.keys().map(String::as_str),
    ));
    pages.into_iter().collect()
}

/// Pages placing any of the fragments, directly or inside a composite.
pub fn pages_placing<'a>(
    engine: &Engine,
    fragments: impl Iterator<Item = &'a str>,
) -> BTreeSet<String> {
    let portal = engine.portal();
    let mut wanted: BTreeSet<String> = fragments.map(str::to_owned).collect();
    // Composite parents of wanted fragments are affected too.
    loop {
        let before = wanted.len();
        for f in portal.fragments.values() {
            if f.includes.iter().any(|i| wanted.contains(&i.fragment)) {
                wanted.insert(f.id.clone());
            }
        }
        if wanted.len() == before {
            break;
        }
    }
    portal
        .pages
        .values()
        .filter(|p| p.slots().any(|s| wanted.contains(&s.fragment)))
        .map(|p| p.id.clone())
        .collect()
}

#[derive(Debug, Serialize)]
pub struct GraphAnswer {
    pub object: String,
    /// Fragments declaring `<depends-on object>` for it, and fragments with cached
    /// entries reachable from it (object keys sent by backends).
    pub fragments: Vec<String>,
    /// Pages placing those fragments, and pages with cached entries reachable from it.
    pub pages: Vec<String>,
    /// Cached entries that depend on it now.
    pub cached_entries: usize,
}

pub async fn graph(State(state): State<AppState>, Path(object): Path<String>) -> Response {
    let engine = &state.engine();
    let reached = engine
        .fragments()
        .cache()
        .dependents(&Node::Object(object.as_str().into()));
    let mut fragments: BTreeSet<String> = engine
        .portal()
        .fragments
        .values()
        .filter(|f| f.depends_on.contains(&object))
        .map(|f| f.id.clone())
        .collect();
    let mut pages = BTreeSet::new();
    for (_, key) in &reached {
        if let Some(f) = key.fragment() {
            fragments.insert(f.to_owned());
        }
        if let Some(p) = key.page() {
            pages.insert(p.to_owned());
        }
    }
    pages.extend(pages_placing(engine, fragments.iter().map(String::as_str)));
    Json(GraphAnswer {
        object,
        fragments: fragments.into_iter().collect(),
        pages: pages.into_iter().collect(),
        cached_entries: reached.len(),
    })
    .into_response()
}

pub async fn cache(State(state): State<AppState>) -> Response {
    Json(state.engine().fragments().cache().settled_snapshot()).into_response()
}
