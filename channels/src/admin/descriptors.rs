//! `/admin/api/descriptors` and `/admin/api/templates`: hot registration. Every change
//! goes through [`Registry`](crate::registry::Registry): validated against the whole
//! resulting set, committed as a version, swapped in atomically, audited.
//!
//! | Call | Does |
//! |---|---|
//! | `GET /descriptors` | the running set: version, documents, problems of the watched folders |
//! | `GET /descriptors/{kind}/{id}` | one descriptor's XML |
//! | `PUT /descriptors/{kind}/{id}` | registers or replaces it (body: the XML) |
//! | `DELETE /descriptors/{kind}/{id}` | removes it |
//! | `GET`/`PUT`/`DELETE /templates/{*name}` | the same for templates |
//! | `POST /descriptors/validate` | a batch of edits, validated and previewed, not applied |
//! | `POST /descriptors/changes` | a batch of edits applied as one version |
//! | `GET /descriptors/versions` | the versions, newest first (`limit`, `before`) |
//! | `POST /descriptors/rollback` | restores a version's set as a new version |
//!
//! `PUT` and `DELETE` take `?reason=…` and `?dry_run=true`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::json_error;
use super::services::Actor as Caller;
use crate::registry::docs::{DocKey, DocKind};
use crate::registry::{Actor, Edit, Refusal};
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuery {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn list(State(state): State<AppState>) -> Response {
    let registry = &state.registry;
    Json(serde_json::json!({
        "version": registry.version().await,
        "documents": registry.documents().await,
        "file_problems": registry.file_problems(),
    }))
    .into_response()
}

/// The document a descriptor URL names; the 404 message when the kind is unknown.
fn key(kind: &str, name: String) -> Result<DocKey, String> {
    match DocKind::parse(kind) {
        Some(DocKind::Template) | None => Err(format!(
            "no descriptor kind \"{kind}\": use service, fragment, page or lifecycle"
        )),
        Some(k) => Ok(DocKey::new(k, name)),
    }
}

pub async fn get_descriptor(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    match key(&kind, id) {
        Ok(k) => show(&state, &k, "application/xml; charset=utf-8").await,
        Err(m) => json_error(StatusCode::NOT_FOUND, &m),
    }
}

pub async fn get_template(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let k = DocKey::new(DocKind::Template, name);
    show(&state, &k, "text/plain; charset=utf-8").await
}

async fn show(state: &AppState, key: &DocKey, content_type: &'static str) -> Response {
    match state.registry.document(key).await {
        Some(text) => ([(header::CONTENT_TYPE, content_type)], text.to_string()).into_response(),
        None => json_error(StatusCode::NOT_FOUND, &format!("there is no {key}")),
    }
}

pub async fn put_descriptor(
    state: State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    query: Query<ChangeQuery>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    match key(&kind, id) {
        Ok(k) => put(state, k, query, ext, body).await,
        Err(m) => json_error(StatusCode::NOT_FOUND, &m),
    }
}

pub async fn put_template(
    state: State<AppState>,
    Path(name): Path<String>,
    query: Query<ChangeQuery>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    put(
        state,
        DocKey::new(DocKind::Template, name),
        query,
        ext,
        body,
    )
    .await
}

async fn put(
    State(state): State<AppState>,
    key: DocKey,
    Query(q): Query<ChangeQuery>,
    ext: Extensions,
    body: Bytes,
) -> Response {
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return json_error(StatusCode::BAD_REQUEST, "the body is not valid UTF-8");
    };
    if text.trim().is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("the body is empty: send the {}'s text", key.kind.as_str()),
        );
    }
    let actor = actor(&ext, q.reason);
    answer(
        state
            .registry
            .change(vec![Edit::Put { key, text }], &actor, q.dry_run)
            .await,
    )
}

pub async fn delete_descriptor(
    state: State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    query: Query<ChangeQuery>,
    ext: Extensions,
) -> Response {
    match key(&kind, id) {
        Ok(k) => delete(state, k, query, ext).await,
        Err(m) => json_error(StatusCode::NOT_FOUND, &m),
    }
}

pub async fn delete_template(
    state: State<AppState>,
    Path(name): Path<String>,
    query: Query<ChangeQuery>,
    ext: Extensions,
) -> Response {
    delete(state, DocKey::new(DocKind::Template, name), query, ext).await
}

async fn delete(
    State(state): State<AppState>,
    key: DocKey,
    Query(q): Query<ChangeQuery>,
    ext: Extensions,
) -> Response {
    let actor = actor(&ext, q.reason);
    answer(
        state
            .registry
            .change(vec![Edit::Delete { key }], &actor, q.dry_run)
            .await,
    )
}

/// A batch: `{"changes": [{"op": "put", "kind": "fragment", "id": "fx", "body": "<…>"},
/// {"op": "delete", "kind": "template", "id": "fragments/old.html"}], "reason": "…"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    changes: Vec<BatchEdit>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchEdit {
    op: Op,
    kind: String,
    id: String,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Put,
    Delete,
}

/// At most this many edits in one batch.
const MAX_BATCH: usize = 200;

fn edits(batch: Batch) -> Result<(Vec<Edit>, Option<String>), String> {
    if batch.changes.is_empty() {
        return Err("\"changes\" is empty".into());
    }
    if batch.changes.len() > MAX_BATCH {
        return Err(format!("at most {MAX_BATCH} changes in one batch"));
    }
    let mut out = Vec::new();
    for (i, c) in batch.changes.into_iter().enumerate() {
        let Some(kind) = DocKind::parse(&c.kind) else {
            return Err(format!(
                "changes[{i}]: no kind \"{}\": use service, fragment, page, lifecycle or template",
                c.kind
            ));
        };
        let key = DocKey::new(kind, c.id);
        out.push(match (c.op, c.body) {
            (Op::Put, Some(text)) => Edit::Put { key, text },
            (Op::Put, None) => return Err(format!("changes[{i}]: a put needs a \"body\"")),
            (Op::Delete, None) => Edit::Delete { key },
            (Op::Delete, Some(_)) => {
                return Err(format!("changes[{i}]: a delete takes no \"body\""))
            }
        });
    }
    Ok((out, batch.reason))
}

pub async fn validate(state: State<AppState>, ext: Extensions, body: Bytes) -> Response {
    batch(state, ext, body, true).await
}

pub async fn changes(state: State<AppState>, ext: Extensions, body: Bytes) -> Response {
    batch(state, ext, body, false).await
}

async fn batch(
    State(state): State<AppState>,
    ext: Extensions,
    body: Bytes,
    dry_run: bool,
) -> Response {
    let batch: Batch = match super::json_body(&body) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the body is empty: send {\"changes\": […]}",
            )
        }
        Err(m) => return json_error(StatusCode::BAD_REQUEST, &m),
    };
    let (edits, reason) = match edits(batch) {
        Ok(e) => e,
        Err(m) => return json_error(StatusCode::BAD_REQUEST, &m),
    };
    let actor = actor(&ext, reason);
    answer(state.registry.change(edits, &actor, dry_run).await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    before: Option<i64>,
}

pub async fn versions(State(state): State<AppState>, Query(q): Query<VersionsQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    match state.registry.versions(limit, q.before).await {
        Ok(list) => Json(
            list.into_iter()
                .map(|v| {
                    serde_json::json!({
                        "version": v.version,
                        "at_ms": v.at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
                        "actor": v.actor,
                        "origin": v.origin,
                        "reason": v.reason,
                        "summary": v.summary,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => refusal(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    version: i64,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn rollback(State(state): State<AppState>, ext: Extensions, body: Bytes) -> Response {
    let body: RollbackBody = match super::json_body(&body) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the body is empty: send {\"version\": N}",
            )
        }
        Err(m) => return json_error(StatusCode::BAD_REQUEST, &m),
    };
    let actor = actor(&ext, body.reason);
    answer(
        state
            .registry
            .rollback(body.version, &actor, body.dry_run)
            .await,
    )
}

/// The caller as the audit log and the version list record it.
pub fn actor(ext: &Extensions, reason: Option<String>) -> Actor {
    let caller = ext
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(|| Caller::token(ext));
    changed_by(&caller, reason.as_deref().unwrap_or_default())
}

/// Who changes the descriptor set: the admin caller (API or console) with a reason.
pub fn changed_by(caller: &Caller, reason: &str) -> Actor {
    Actor {
        name: caller.name.clone(),
        address: caller.origin.clone(),
        reason: reason.trim().to_owned(),
    }
}

fn answer(result: Result<crate::registry::Outcome, Refusal>) -> Response {
    match result {
        Ok(outcome) => Json(outcome).into_response(),
        Err(e) => refusal(e),
    }
}

/// A refused change as JSON: `{"error": …, "problems": […]}` for an invalid set.
pub fn refusal(e: Refusal) -> Response {
    match e {
        Refusal::Invalid(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({
                "error": "the change leaves the descriptor set invalid; nothing was changed",
                "problems": problems,
            })),
        )
            .into_response(),
        Refusal::Bad(m) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &m),
        Refusal::NotFound(m) => json_error(StatusCode::NOT_FOUND, &m),
        Refusal::Conflict(m) => json_error(StatusCode::CONFLICT, &m),
        Refusal::Fixed => json_error(StatusCode::CONFLICT, &Refusal::Fixed.to_string()),
        Refusal::Store(e) => {
            tracing::error!(error = %e, "cannot save a descriptor change");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the change cannot be saved now (the store is unavailable); nothing was changed",
            )
        }
    }
}
