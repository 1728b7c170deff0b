//! The browser HTML channel (and its light variant for small screens): pages as full
//! documents, the 404, 403 and 500 pages.

use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use tessera_descriptors::Delivery;
use tessera_engine::{Channel, Engine, EngineError, LayoutSlot, PageLayout, PortalRequest};
use tessera_fragments::Status;
use tokio::time::Instant;

use crate::auth::{identify, Identity};
use crate::AppState;

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// `?delivery=buffered|in-order|out-of-order` overrides the page's delivery (testing).
fn delivery_override(uri: &Uri) -> Option<Delivery> {
    uri.query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("delivery="))
        .and_then(Delivery::parse)
}

// The page handlers take the request itself: its headers, URI and extensions are read
// in place (the `HeaderMap` and `Uri` extractors would copy them).

pub async fn home(State(state): State<AppState>, req: Request) -> Response {
    page_response(&state, None, Channel::Html, &req.into_parts().0).await
}

pub async fn page(State(state): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    page_response(&state, Some(id), Channel::Html, &req.into_parts().0).await
}

pub async fn light_home(State(state): State<AppState>, req: Request) -> Response {
    page_response(&state, None, Channel::Light, &req.into_parts().0).await
}

pub async fn light_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    page_response(&state, Some(id), Channel::Light, &req.into_parts().0).await
}

/// The engine's request for a page by this identity, with the user's saved arrangement
/// when the page is customizable.
pub async fn portal_request(
    state: &AppState,
    engine: &Engine,
    identity: &Identity,
    page: Option<String>,
    channel: Channel,
    path: &str,
) -> PortalRequest {
    let mut request = identity.request(page, channel, path);
    let portal = engine.portal();
    let page_id = request
        .page
        .clone()
        .unwrap_or_else(|| portal.settings.portal.home.clone());
    let customizable = portal.pages.get(&page_id).is_some_and(|p| p.customizable);
    if let (true, Some(user)) = (customizable, &identity.user) {
        match state.store.customization(user.id, &page_id).await {
            Ok(Some(c)) => {
                request.layout = Some(PageLayout {
                    slots: c
                        .slots
                        .into_iter()
                        .map(|s| LayoutSlot {
                            region: s.region,
                            fragment: s.fragment,
                            minimized: s.minimized,
                        })
                        .collect(),
                })
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot read the customization; showing the page's defaults")
            }
        }
    }
    request
}

async fn page_response(
    state: &AppState,
    page: Option<String>,
    channel: Channel,
    req: &Parts,
) -> Response {
    let started = Instant::now();
    let (uri, headers) = (&req.uri, &req.headers);
    // One load of the current portal version for the whole request.
    let engine = state.engine();
    // A guest's buffered page the page cache answered before is answered from the memo
    // while it is current (`guest`); else it is kept there on the way out.
    let asked_delivery = delivery_override(uri);
    let guest = crate::auth::is_plain_guest(state.settings(), headers) && asked_delivery.is_none();
    if guest {
        let memo = state
            .guests
            .serve(&engine, page.as_deref(), channel, started, |p| {
                state.registry.metrics().guest_memo_answer();
                let mut res = p.head.response(p.whole.html(), headers);
                whole_page_served(state, &engine, &mut res, &p.page_id, started);
                res
            });
        if let Some(res) = memo {
            return res;
        }
    }
    let identity = identify(state, headers).await;
    let mut request = portal_request(state, &engine, &identity, page, channel, uri.path()).await;
    request.trace = crate::trace::of(&req.extensions);
    let portal = engine.portal();
    // Metrics and the page's log line are labelled with descriptor ids only: a request
    // for a page that does not exist is counted by status, not by its path.
    let page_def = portal.pages.get(
        request
            .page
            .as_deref()
            .unwrap_or(&portal.settings.portal.home),
    );
    let page_id = page_def.map(|p| p.id.clone());
    let page_delivery = page_def.map(|p| p.delivery).unwrap_or_default();
    let delivery = asked_delivery.unwrap_or(page_delivery);
    if delivery != Delivery::Buffered {
        // Boxed, as the streamed page's future is large and would otherwise size every
        // buffered page's future (cache hits included) the same.
        return match Box::pin(engine.stream_page(request.clone(), delivery)).await {
            Ok(stream) => {
                let status = if stream.redirect.is_some() {
                    302
                } else {
                    stream.status
                };
                let done = page_id.map(|page| {
                    let ttfb = started.elapsed().as_secs_f64();
                    let metrics = state.registry.metrics();
                    metrics.page_ttfb(&page, ttfb);
                    PageDone {
                        metrics: metrics.clone(),
                        page,
                        status,
                        started,
                        delivery: match delivery {
                            Delivery::InOrder => "in-order",
                            _ => "out-of-order",
                        },
                    }
                });
                let timing = portal.settings.observability.server_timing;
                streamed(stream, headers, done, timing.then_some(started))
            }
            Err(e) => {
                let res = engine_error(state, &identity, &request, uri, e);
                observe_page(
                    state,
                    page_id.as_deref(),
                    res.status(),
                    started.elapsed(),
                    Served::Nothing,
                );
                res
            }
        };
    }
    let res = match engine.serve_page(&request).await {
        Ok(out) if out.redirect.is_some() => {
            Redirect::to(out.redirect.as_deref().unwrap_or("/")).into_response()
        }
        Ok(out) => {
            let head = Head::of(&out);
            let mut res = head.response(&out.html, headers);
            match (out.whole, page_id) {
                (Some(whole), Some(page_id)) => {
                    whole_page_served(state, &engine, &mut res, &page_id, started);
                    if guest {
                        let prepared = crate::guest::Prepared {
                            whole,
                            head,
                            page_id,
                        };
                        state
                            .guests
                            .keep(&engine, request.page.as_deref(), channel, prepared);
                    }
                }
                (_, page_id) => {
                    let elapsed = started.elapsed();
                    if portal.settings.observability.server_timing {
                        if let Some(v) = crate::timing::header(&out.slots, elapsed) {
                            res.headers_mut().insert(SERVER_TIMING, v);
                        }
                    }
                    let served = Served::Slots(&out.slots);
                    observe_page(state, page_id.as_deref(), res.status(), elapsed, served);
                }
            }
            return res;
        }
        Err(e) => engine_error(state, &identity, &request, uri, e),
    };
    observe_page(
        state,
        page_id.as_deref(),
        res.status(),
        started.elapsed(),
        Served::Nothing,
    );
    res
}

/// A buffered page's response head, as the page's facts decide it: made once per page
/// served whole from the cache and kept with it for guests (`guest`).
pub struct Head {
    status: StatusCode,
    /// The page's validator as sent, and as `If-None-Match` is compared with.
    etag: Option<HeaderValue>,
    cache_control: HeaderValue,
}

impl Head {
    fn of(out: &tessera_engine::PageOutput) -> Self {
        let cache_control = match (out.per_user, out.max_age.as_secs()) {
            (true, 0) => Ok(HeaderValue::from_static("private, max-age=0")),
            (false, 0) => Ok(HeaderValue::from_static("public, max-age=0")),
            (true, secs) => HeaderValue::try_from(format!("private, max-age={secs}")),
            (false, secs) => HeaderValue::try_from(format!("public, max-age={secs}")),
        };
        Self {
            status: StatusCode::from_u16(out.status).unwrap_or(StatusCode::OK),
            etag: HeaderValue::from_str(&out.etag).ok(),
            cache_control: cache_control.unwrap_or_else(|_| HeaderValue::from_static("no-store")),
        }
    }

    /// The page with this head for a request with `headers`: 304 when its
    /// `If-None-Match` names the page's ETag (or `*`) and the page is a 200.
    fn response(&self, markup: &std::sync::Arc<str>, headers: &HeaderMap) -> Response {
        let etag = self.etag.as_ref().map(|e| e.as_bytes());
        let not_modified = self.status == StatusCode::OK
            && headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(',')
                        .map(|t| t.trim().as_bytes())
                        .any(|t| Some(t) == etag || t == b"*")
                });
        let mut res = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            page_html(self.status, markup.clone())
        };
        let h = res.headers_mut();
        if let Some(v) = &self.etag {
            h.insert(header::ETAG, v.clone());
        }
        h.insert(header::CACHE_CONTROL, self.cache_control.clone());
        // The page differs by who asks.
        h.insert(header::VARY, HeaderValue::from_static("Cookie"));
        res
    }
}

/// Finishes the answer of a page served whole from the page cache: its `Server-Timing`
/// (when the portal sends it), its metrics and log line.
fn whole_page_served(
    state: &AppState,
    engine: &Engine,
    res: &mut Response,
    page_id: &str,
    started: Instant,
) {
    // One reading of the clock for both.
    let elapsed = started.elapsed();
    if engine.portal().settings.observability.server_timing {
        if let Some(v) = whole_page_timing(elapsed) {
            res.headers_mut().insert(SERVER_TIMING, v);
        }
    }
    observe_page(
        state,
        Some(page_id),
        res.status(),
        elapsed,
        Served::WholeFromCache,
    );
}

/// [`whole_page_timing`] for 0.0 to 0.9 ms.
const UNDER_A_MILLISECOND: [&str; 10] = [
    r#"page-cache;desc="hit", page;dur=0.0"#,
    r#"page-cache;desc="hit", page;dur=0.1"#,
    r#"page-cache;desc="hit", page;dur=0.2"#,
    r#"page-cache;desc="hit", page;dur=0.3"#,
    r#"page-cache;desc="hit", page;dur=0.4"#,
    r#"page-cache;desc="hit", page;dur=0.5"#,
    r#"page-cache;desc="hit", page;dur=0.6"#,
    r#"page-cache;desc="hit", page;dur=0.7"#,
    r#"page-cache;desc="hit", page;dur=0.8"#,
    r#"page-cache;desc="hit", page;dur=0.9"#,
];

/// A page served whole from the page cache has no fragment timings: nothing was
/// produced. `page-cache;desc="hit", page;dur=<ms>`.
fn whole_page_timing(elapsed: std::time::Duration) -> Option<HeaderValue> {
    // Tenths of a millisecond, rounded, written as integers (no float formatting on the
    // cache-hit path); under a millisecond, as most hits are, one of ten static values
    // (nothing formatted or allocated).
    use std::io::Write as _;
    let tenths = (elapsed.as_micros() + 50) / 100;
    if let Some(v) = usize::try_from(tenths)
        .ok()
        .and_then(|i| UNDER_A_MILLISECOND.get(i))
    {
        return Some(HeaderValue::from_static(v));
    }
    let mut buf = [0u8; 64];
    let mut w = &mut buf[..];
    write!(
        w,
        "page-cache;desc=\"hit\", page;dur={}.{}",
        tenths / 10,
        tenths % 10
    )
    .ok()?;
    let written = 64 - w.len();
    HeaderValue::from_bytes(&buf[..written]).ok()
}

/// What a buffered answer held, for its log line.
#[derive(Clone, Copy)]
enum Served<'a> {
    /// A page assembled from these slots.
    Slots(&'a [tessera_engine::Slot]),
    /// A page served whole from the page cache: no fragment was produced.
    WholeFromCache,
    /// An error page, a redirect.
    Nothing,
}

/// Records a buffered (or failed) page and writes its one log line. The request id and
/// trace id are on the request's span, around the line.
fn observe_page(
    state: &AppState,
    page: Option<&str>,
    status: StatusCode,
    elapsed: std::time::Duration,
    served: Served<'_>,
) {
    if let Some(page) = page {
        state
            .registry
            .metrics()
            .buffered_page(page, status.as_u16(), elapsed.as_secs_f64());
    }
    if let Served::WholeFromCache = served {
        tracing::info!(
            page = page.unwrap_or("-"),
            status = status.as_u16(),
            duration_ms = elapsed.as_millis() as u64,
            delivery = "buffered",
            page_cache = "whole",
            "page served"
        );
        return;
    }
    let count = |f: fn(Status) -> bool| match served {
        Served::Slots(s) => s.iter().filter(|s| f(s.result.status)).count(),
        _ => 0,
    };
    tracing::info!(
        page = page.unwrap_or("-"),
        status = status.as_u16(),
        duration_ms = elapsed.as_millis() as u64,
        delivery = "buffered",
        fragments_ok = count(|s| s == Status::Ok),
        fragments_stale = count(|s| s == Status::Stale),
        fragments_failed = count(|s| !matches!(
            s,
            Status::Ok | Status::Stale | Status::Minimized | Status::Forbidden
        )),
        "page served"
    );
}

/// Held by a streamed page's body until its last chunk went out (or the client left):
/// then the page's duration is recorded and its log line written. Fragment outcomes of
/// streamed pages are in the fragment metrics and spans, not in this line.
struct PageDone {
    metrics: std::sync::Arc<tessera_engine::Metrics>,
    page: String,
    status: u16,
    started: Instant,
    delivery: &'static str,
}

impl Drop for PageDone {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        self.metrics
            .page(&self.page, self.status, elapsed.as_secs_f64());
        tracing::info!(
            page = %self.page,
            status = self.status,
            duration_ms = elapsed.as_millis() as u64,
            delivery = self.delivery,
            "page served"
        );
    }
}

/// A streamed page's response; `timed_since` (the request's start) when it carries
/// `Server-Timing` (see `timing`: a header, and a trailer for clients that take one).
fn streamed(
    stream: tessera_engine::PageStream,
    headers: &HeaderMap,
    done: Option<PageDone>,
    timed_since: Option<Instant>,
) -> Response {
    if let Some(location) = &stream.redirect {
        return Redirect::to(location).into_response();
    }
    let gzip = crate::stream::accepts_gzip(headers);
    let trailer = timed_since.is_some() && crate::stream::accepts_trailers(headers);
    let head_timing = timed_since.and_then(|started| {
        crate::timing::stream_head(&stream.head_timing, started.elapsed(), trailer)
    });
    let trailers = timed_since.filter(|_| trailer).map(|started| {
        let (head, end) = (stream.head_timing, stream.timing);
        let fields: crate::stream::Trailers = Box::pin(async move {
            let value = crate::timing::stream_trailer(&head, &end.await.ok()?, started.elapsed())?;
            let mut fields = HeaderMap::new();
            fields.insert(SERVER_TIMING, value);
            Some(fields)
        });
        fields
    });
    let body = crate::stream::body_with_trailers(stream.body, gzip, done, trailers);
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::from_u16(stream.status).unwrap_or(StatusCode::OK);
    let h = res.headers_mut();
    if let Some(v) = head_timing {
        h.insert(SERVER_TIMING, v);
    }
    if trailer {
        h.insert(header::TRAILER, HeaderValue::from_static("server-timing"));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Parts are decided while the page streams: keep it out of shared caches.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Accept-Encoding"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // Proxies such as nginx buffer responses unless told not to.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

fn engine_error(
    state: &AppState,
    identity: &Identity,
    request: &PortalRequest,
    uri: &Uri,
    e: EngineError,
) -> Response {
    match e {
        EngineError::PageNotFound(_) => not_found_page(state, request),
        EngineError::Forbidden(_) if identity.user.is_none() => {
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&login_with_next(next)).into_response()
        }
        EngineError::Forbidden(_) => forbidden_page(state, request),
        e @ EngineError::Layout { .. } => {
            tracing::error!(error = %e, "layout failed");
            error_page(state, request)
        }
    }
}

/// `/login?next=<path>`, the path percent-encoded (slashes kept).
pub fn login_with_next(path: &str) -> String {
    format!("/login?next={}", url_encode(path))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The portal's 404 page (`errors/404.html`), or a plain one if the portal has none.
pub fn not_found_page(state: &AppState, request: &PortalRequest) -> Response {
    let body = state
        .engine()
        .render_portal_page("errors/404.html", request, minijinja::Value::UNDEFINED)
        .unwrap_or_else(|| format!("<!doctype html><title>Not found</title><h1>Not found</h1><p>There is no page at {}.</p>", tessera_fragments::escape_html(&request.path)));
    html(StatusCode::NOT_FOUND, body)
}

/// The portal's 403 page for a signed-in user without the page's tokens.
pub fn forbidden_page(state: &AppState, request: &PortalRequest) -> Response {
    let body = state
        .engine()
        .render_portal_page("errors/403.html", request, minijinja::Value::UNDEFINED)
        .unwrap_or_else(|| {
            "<!doctype html><title>Forbidden</title><h1>This page is not available to you</h1>"
                .to_owned()
        });
    html(StatusCode::FORBIDDEN, body)
}

/// The portal's 500 page. The detail is for operators and goes to the log; users see
/// that something failed, not internals.
pub fn error_page(state: &AppState, request: &PortalRequest) -> Response {
    let message = minijinja::context! { message => "This page could not be assembled. Please try again shortly." };
    let body = state
        .engine()
        .render_portal_page("errors/500.html", request, message)
        .unwrap_or_else(|| {
            "<!doctype html><title>Error</title><h1>Something went wrong</h1>".to_owned()
        });
    html(StatusCode::INTERNAL_SERVER_ERROR, body)
}

pub async fn fallback(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let identity = identify(&state, &headers).await;
    not_found_page(&state, &identity.request(None, Channel::Html, uri.path()))
}

/// Markup shared with the cache, as a response body without copying it.
struct SharedMarkup(std::sync::Arc<str>);

impl AsRef<[u8]> for SharedMarkup {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A page's markup as the response body, without a copy. The caller sets the page's
/// caching headers; the header map is sized for them and for what the middleware adds
/// (request id, trace context, server timing), so that it does not grow on the way out.
fn page_html(status: StatusCode, markup: std::sync::Arc<str>) -> Response {
    let mut res = Response::new(axum::body::Body::from(bytes::Bytes::from_owner(
        SharedMarkup(markup),
    )));
    *res.status_mut() = status;
    let mut headers = HeaderMap::with_capacity(12);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    *res.headers_mut() = headers;
    res
}

pub fn html(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Error pages and anything not given its own caching headers is not kept.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_whole_page_hit_is_timed_in_tenths_of_a_millisecond() {
        let header = |d| whole_page_timing(d).expect("a value");
        let micros = Duration::from_micros;
        for (elapsed, dur) in [
            (micros(1_249), "1.2"),
            (micros(1_250), "1.3"),
            (Duration::ZERO, "0.0"),
            (micros(949), "0.9"),
            (micros(950), "1.0"),
        ] {
            assert_eq!(
                header(elapsed),
                format!(r#"page-cache;desc="hit", page;dur={dur}"#).as_str()
            );
        }
        for (i, v) in UNDER_A_MILLISECOND.iter().enumerate() {
            assert_eq!(*v, format!(r#"page-cache;desc="hit", page;dur=0.{i}"#));
        }
        // The longest duration there is still fits the buffer.
        assert_eq!(
            header(Duration::MAX),
            r#"page-cache;desc="hit", page;dur=18446744073709551616000.0"#
        );
    }

    #[tokio::test]
    async fn a_page_body_is_the_markup_with_its_content_type() {
        let res = page_html(StatusCode::NOT_FOUND, std::sync::Arc::from("<p>hi</p>"));
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&body[..], b"<p>hi</p>");
    }
}
