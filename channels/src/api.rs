//! The JSON channel (`/api/v1/`) for other front ends: pages with each fragment's
//! status, data model and rendered HTML; the user's arrangement and parameters.
//! State-changing calls need the session's token in `X-CSRF-Token`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tessera_engine::{Channel, EngineError};

use crate::auth::{csrf, identify};
use crate::customize::{self, Placement, Refused};
use crate::AppState;

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

#[derive(Serialize)]
struct PageJson<'a> {
    id: &'a str,
    title: &'a str,
    etag: &'a str,
    fragments: Vec<FragmentJson<'a>>,
}

#[derive(Serialize)]
struct FragmentJson<'a> {
    id: &'a str,
    title: &'a str,
    region: &'a str,
    status: &'static str,
    message: Option<&'a str>,
    origin: &'static str,
    age_s: u64,
    model: Option<&'a serde_json::Value>,
    html: &'a str,
}

/// NDJSON is asked for with `?stream=ndjson` or `Accept: application/x-ndjson`.
fn wants_ndjson(uri: &axum::http::Uri, headers: &HeaderMap) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "stream=ndjson"))
        || headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/x-ndjson"))
}

/// One JSON line per fragment, each sent the moment it completes; the first line
/// describes the page.
fn ndjson(
    state: &AppState,
    request: tessera_engine::PortalRequest,
    gzip: bool,
) -> Result<Response, EngineError> {
    let (page, mut slots) = state.engine().slot_events(request)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(32);
    tokio::spawn(async move {
        let head = serde_json::json!({ "page": { "id": page.id, "title": page.title } });
        if tx
            .send(bytes::Bytes::from(format!("{head}\n")))
            .await
            .is_err()
        {
            return;
        }
        while let Some(s) = slots.recv().await {
            let line = serde_json::json!({
                "fragment": {
                    "id": s.result.id,
                    "title": s.result.title,
                    "region": s.region,
                    "status": s.result.status.as_str(),
                    "message": s.result.message,
                    "origin": s.result.origin.as_str(),
                    "model": s.result.model,
                    "html": s.result.html,
                }
            });
            if tx
                .send(bytes::Bytes::from(format!("{line}\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut res = Response::new(crate::stream::body(rx, gzip));
    let h = res.headers_mut();
    if gzip {
        h.insert(
            axum::http::header::CONTENT_ENCODING,
            axum::http::HeaderValue::from_static("gzip"),
        );
    }
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-cache"),
    );
    Ok(res)
}

pub async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
) -> Response {
    let identity = identify(&state, &headers).await;
    let engine = state.engine();
    let mut request = crate::html::portal_request(
        &state,
        &engine,
        &identity,
        Some(id.clone()),
        Channel::Json,
        &format!("/api/v1/pages/{id}"),
    )
    .await;
    request.trace = crate::trace::of(&extensions);
    if wants_ndjson(&uri, &headers) {
        return match ndjson(&state, request, crate::stream::accepts_gzip(&headers)) {
            Ok(res) => res,
            Err(EngineError::PageNotFound(_)) => {
                error(StatusCode::NOT_FOUND, &format!("no page \"{id}\""))
            }
            Err(EngineError::Forbidden(_)) if identity.user.is_none() => {
                error(StatusCode::UNAUTHORIZED, "sign in to see this page")
            }
            Err(_) => error(StatusCode::FORBIDDEN, "this page is not available to you"),
        };
    }
    match engine.render_page(&request).await {
        Ok(out) => Json(PageJson {
            id: &out.page_id,
            title: &out.title,
            etag: &out.etag,
            fragments: out
                .slots
                .iter()
                .map(|s| FragmentJson {
                    id: &s.result.id,
                    title: &s.result.title,
                    region: &s.region,
                    status: s.result.status.as_str(),
                    message: s.result.message.as_deref(),
                    origin: s.result.origin.as_str(),
                    age_s: s.result.age.as_secs(),
                    model: s.result.model.as_ref(),
                    html: &s.result.html,
                })
                .collect(),
        })
        .into_response(),
        Err(EngineError::PageNotFound(_)) => {
            error(StatusCode::NOT_FOUND, &format!("no page \"{id}\""))
        }
        Err(EngineError::Forbidden(_)) if identity.user.is_none() => {
            error(StatusCode::UNAUTHORIZED, "sign in to see this page")
        }
        Err(EngineError::Forbidden(_)) => {
            error(StatusCode::FORBIDDEN, "this page is not available to you")
        }
        Err(e) => {
            tracing::error!(error = %e, "page failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be assembled",
            )
        }
    }
}

#[derive(Serialize)]
struct LayoutJson {
    page: String,
    slots: Vec<Placement>,
    catalog: Vec<CatalogEntry>,
}

#[derive(Serialize)]
struct CatalogEntry {
    id: String,
    title: String,
}

pub async fn get_layout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let identity = identify(&state, &headers).await;
    let portal = state.engine().portal().clone();
    let Some(page) = portal.pages.get(&id) else {
        return error(StatusCode::NOT_FOUND, &format!("no page \"{id}\""));
    };
    Json(LayoutJson {
        page: id.clone(),
        slots: customize::current(&state, &identity, page).await,
        catalog: customize::catalog_value(&state, &identity, &id)
            .into_iter()
            .map(|(id, title)| CatalogEntry { id, title })
            .collect(),
    })
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutBody {
    slots: Vec<Placement>,
}

pub async fn put_layout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let identity = identify(&state, &headers).await;
    if identity.user.is_none() {
        return error(StatusCode::UNAUTHORIZED, "sign in to customize pages");
    }
    if !csrf::valid(&identity, &csrf::from_header(&headers)) {
        return error(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token");
    }
    let portal = state.engine().portal().clone();
    let Some(page) = portal.pages.get(&id) else {
        return error(StatusCode::NOT_FOUND, &format!("no page \"{id}\""));
    };
    if !page.customizable {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("page \"{id}\" cannot be customized"),
        );
    }
    let body: LayoutBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("malformed layout: {e}")),
    };
    if let Err(Refused(m)) = customize::validate(&state, &identity, page, &body.slots) {
        return error(StatusCode::BAD_REQUEST, &m);
    }
    match customize::save(&state, &identity, page, body.slots).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(res) => res,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsBody {
    params: std::collections::BTreeMap<String, String>,
}

pub async fn put_params(
    State(state): State<AppState>,
    Path(fragment): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let identity = identify(&state, &headers).await;
    let Some(user) = identity.user.clone() else {
        return error(StatusCode::UNAUTHORIZED, "sign in to set parameters");
    };
    if !csrf::valid(&identity, &csrf::from_header(&headers)) {
        return error(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token");
    }
    let body: ParamsBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("malformed parameters: {e}"),
            )
        }
    };
    let changes = match customize::validate_params(&state, &identity, &fragment, &body.params) {
        Ok(c) => c,
        Err(Refused(m)) => return error(StatusCode::BAD_REQUEST, &m),
    };
    match crate::auth::identity::set_profile_values(&state, &user, &changes).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot save parameters");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "your change could not be saved",
            )
        }
    }
}
