//! Page assembly: every slot's fragment produced concurrently under one page deadline,
//! then the layout rendered around the results.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use minijinja::{context, Value};
use tessera_descriptors::{PageDef, Portal};
use tessera_fragments::cache::entry::PageValue;
use tessera_fragments::cache::{Deps, KeyHasher, StageValue};
use tessera_fragments::{result_value, FragmentResult, Fragments, RenderContext, Status};
use tokio::time::{timeout_at, Instant};
use tracing::Instrument;

use crate::error::EngineError;
use crate::page_cache::Instance;
use crate::personalize::Planned;
use crate::request::PortalRequest;

/// One slot of an assembled page.
#[derive(Debug, Clone)]
pub struct Slot {
    pub region: String,
    pub optional: bool,
    pub primary: bool,
    pub result: FragmentResult,
}

/// An assembled page: its slots' results and, for HTML, the rendered document.
#[derive(Debug, Clone)]
pub struct PageOutput {
    pub page_id: String,
    pub title: String,
    pub slots: Vec<Slot>,
    pub html: Arc<str>,
    /// A strong validator: equal when (and only when) every part of the page is equal.
    pub etag: String,
    /// Whether any part was produced for this user only (`Cache-Control: private`).
    pub per_user: bool,
    /// The browser max-age the page allows: the minimum of its fragments' and its own.
    pub max_age: Duration,
    /// Whether the assembled page came from the page cache.
    pub page_cached: bool,
    /// False when the page was served whole from the page cache
    /// ([`crate::page_cache::whole`]): its fragments were not produced and `slots` is
    /// empty.
    pub fragments_produced: bool,
    /// The HTTP status the primary fragments decide (200 without primaries).
    pub status: u16,
    /// A primary fragment's backend redirected: the page redirects there.
    pub redirect: Option<String>,
    /// Served whole from the page cache: the cached page, which later requests for the
    /// same instance may reuse while it is current.
    pub whole: Option<crate::page_cache::WholePage>,
}

/// The status primary fragments decide: the first failing primary's, by cause.
pub fn primary_status(slots: &[Slot]) -> (u16, Option<String>) {
    for s in slots.iter().filter(|s| s.primary) {
        if let Some(location) = &s.result.redirect {
            return (302, Some(location.clone()));
        }
        let status = match s.result.status {
            Status::Ok | Status::Stale | Status::Minimized => continue,
            Status::Fallback => s.result.cause.unwrap_or(Status::Error),
            other => other,
        };
        return (
            match status {
                Status::Timeout => 504,
                Status::Disabled | Status::Unavailable => 503,
                Status::Forbidden => 403,
                _ => 502,
            },
            None,
        );
    }
    (200, None)
}

/// Produces every slot of the user's page instance concurrently. Fragments not done by
/// the page deadline get a `timeout` result (or their fallback); their unfinished work is
/// dropped, which cancels its backend calls. Forbidden and minimized slots are neither
/// fetched nor rendered.
pub async fn produce_slots(
    fragments: &Fragments,
    page: &PageDef,
    request: &PortalRequest,
) -> Vec<Slot> {
    let planned = crate::personalize::plan(fragments.portal(), page, request);
    produce_planned(fragments, page, request, planned).await
}

/// [`produce_slots`] for slots already planned.
pub async fn produce_planned(
    fragments: &Fragments,
    page: &PageDef,
    request: &PortalRequest,
    planned: Vec<Planned<'_>>,
) -> Vec<Slot> {
    let deadline = Instant::now() + page.timeout;
    let ctx = RenderContext {
        viewer: &request.viewer,
        channel: request.channel.key(),
        profile: &request.profile,
        trace: request.trace.as_ref(),
    };
    let ctx = &ctx;
    let work = planned.into_iter().map(|p| async move {
        let result = if !p.allowed {
            fragments.placeholder(
                p.def,
                Status::Forbidden,
                Some("requires access you do not have".into()),
            )
        } else if p.minimized {
            fragments.placeholder(p.def, Status::Minimized, None)
        } else {
            let started = Instant::now();
            let span = fragment_span(&p.def.id);
            let produced = fragments
                .produce_in(p.def, p.params.into_owned(), ctx)
                .instrument(span.clone());
            let r = match timeout_at(deadline, produced).await {
                Ok(r) => r,
                Err(_) => fragments.failed(
                    p.def,
                    Status::Timeout,
                    format!(
                        "not ready within the page deadline of {}",
                        tessera_descriptors::format_duration(page.timeout)
                    ),
                    started.elapsed(),
                ),
            };
            fragment_done(&span, &r);
            r
        };
        Slot {
            region: p.region.to_owned(),
            optional: p.optional,
            primary: p.primary,
            result,
        }
    });
    join_all(work).await
}

/// The span a fragment is produced in: its id now, its outcome when done.
pub fn fragment_span(id: &str) -> tracing::Span {
    tracing::debug_span!(
        "fragment",
        id,
        status = tracing::field::Empty,
        origin = tracing::field::Empty,
        elapsed_ms = tracing::field::Empty,
    )
}

/// Records a fragment's outcome on its span (and says it, at debug level).
pub fn fragment_done(span: &tracing::Span, r: &FragmentResult) {
    span.record("status", r.status.as_str());
    span.record("origin", r.origin.as_str());
    span.record("elapsed_ms", r.elapsed.as_millis() as u64);
    span.in_scope(|| tracing::debug!(message = r.message.as_deref(), "fragment produced"));
}

/// The page stage: the assembled page, cached under its instance (see
/// [`crate::page_cache`]) when every slot is cached (or deliberately empty); rendered
/// otherwise. A cached page whose parts are these slots' is used as it is.
pub fn page_stage(
    fragments: &Fragments,
    page: &PageDef,
    slots: Vec<Slot>,
    request: &PortalRequest,
    instance: &Instance<'_>,
) -> Result<PageOutput, EngineError> {
    let cache = fragments.cache();
    let per_user = instance.user.is_some() || slots.iter().any(|s| s.result.per_user);
    let max_age = slots
        .iter()
        .map(|s| s.result.max_age.unwrap_or_default())
        .chain(page.max_age)
        .min()
        .unwrap_or_default();
    let mut h = KeyHasher::default();
    for s in &slots {
        h.bytes(s.region.as_bytes())
            .bytes(s.result.id.as_bytes())
            .bytes(s.result.status.as_str().as_bytes())
            .u64(s.result.version.unwrap_or(0));
    }
    let parts = h.finish();
    let fresh_until_ms = slots
        .iter()
        .map(|s| s.result.fresh_until_ms)
        .min()
        .unwrap_or(u64::MAX);
    // A per-user part in an instance not keyed by user would be one user's content under
    // everybody's key. The instance's analysis rules that out; this keeps it so even if
    // the two ever disagreed.
    let keyed_right = instance.user.is_some() || !slots.iter().any(|s| s.result.per_user);
    let cacheable = keyed_right
        && slots.iter().all(|s| match s.result.status {
            Status::Ok => s.result.version.is_some(),
            Status::Forbidden | Status::Minimized => true,
            _ => false,
        });
    let (status, redirect) = primary_status(&slots);
    let output =
        |html: Arc<str>, version: Option<u64>, cached: bool, slots: Vec<Slot>| PageOutput {
            status,
            redirect: redirect.clone(),
            page_id: page.id.clone(),
            title: page.title.clone(),
            etag: match version {
                Some(v) => format!("\"p{v}\""),
                // Of the bytes themselves: the same page on any node has the same tag.
                // (xxh3: a page is tens of kilobytes, and is hashed on every request.)
                None => format!("\"h{:x}\"", xxhash_rust::xxh3::xxh3_64(html.as_bytes())),
            },
            slots,
            html,
            per_user,
            max_age,
            page_cached: cached,
            fragments_produced: true,
            whole: None,
        };
    if cacheable {
        // Looked up once already by the fast path (when it was tried): not counted again.
        if let Some(hit) = cache.peek(&instance.key) {
            if let Some(p) = hit.page().filter(|p| p.parts == parts && !hit.is_stale()) {
                p.renew(fresh_until_ms);
                return Ok(output(p.html.clone(), Some(hit.version), true, slots));
            }
        }
    }
    let html: Arc<str> = Arc::from(
        render_layout(
            fragments,
            page,
            &instance.layout,
            &slots,
            request,
            instance.reads,
        )?
        .as_str(),
    );
    if cacheable {
        let deps = Deps {
            entries: slots.iter().filter_map(|s| s.result.version).collect(),
            page: Some(Arc::from(page.id.as_str())),
            user: instance.user.clone(),
            templates: vec![Arc::from(&*instance.layout)],
            ..Deps::default()
        };
        let value = PageValue::new(
            html.clone(),
            parts,
            fresh_until_ms,
            status,
            per_user,
            max_age,
        );
        let entry = cache.insert(
            instance.key.clone(),
            StageValue::Page(Arc::new(value)),
            &deps,
            Duration::from_secs(3600),
        );
        return Ok(output(html, Some(entry.version), false, slots));
    }
    Ok(output(html, None, false, slots))
}

/// What a layout reads of the request; the rest is kept out of its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutReads {
    pub user: bool,
    pub profile: bool,
    pub csrf: bool,
}

/// Renders the page's layout around its slots.
pub fn render_layout(
    fragments: &Fragments,
    page: &PageDef,
    layout: &str,
    slots: &[Slot],
    request: &PortalRequest,
    reads: LayoutReads,
) -> Result<String, EngineError> {
    let portal = fragments.portal();
    let mut regions: BTreeMap<&str, Vec<Value>> = page
        .regions
        .iter()
        .map(|r| (r.name.as_str(), Vec::new()))
        .collect();
    let mut by_id = BTreeMap::new();
    let mut missing = Vec::new();
    for slot in slots {
        let value = result_value(&slot.result, slot.optional);
        regions
            .entry(slot.region.as_str())
            .or_default()
            .push(value.clone());
        by_id.insert(slot.result.id.as_str(), value.clone());
        if !matches!(
            slot.result.status,
            Status::Ok | Status::Minimized | Status::Forbidden
        ) {
            missing.push(value);
        }
    }
    let ctx = context! {
        portal => portal_value(portal),
        page => context! { id => &page.id, title => &page.title, customizable => page.customizable },
        user => if reads.user { Value::from_serialize(&request.viewer) } else { Value::UNDEFINED },
        profile => if reads.profile { request.profile.to_value() } else { Value::UNDEFINED },
        csrf => if reads.csrf { Value::from(request.csrf.clone()) } else { Value::UNDEFINED },
        customize => customize_value(portal, page, request, reads),
        nav => nav(portal, Some(&page.id), request),
        assets => assets_value(portal, slots),
        regions => regions,
        fragments => by_id,
        missing => missing,
    };
    fragments
        .renderer()
        .render(layout, ctx)
        .map_err(|e| EngineError::Layout {
            page: page.id.clone(),
            detail: e.detail,
        })
}

/// The customization panel's values, for signed-in users on customizable pages.
fn customize_value(
    portal: &Portal,
    page: &PageDef,
    request: &PortalRequest,
    reads: LayoutReads,
) -> Value {
    match (&request.csrf, page.customizable && reads.csrf) {
        (Some(csrf), true) => {
            let catalog: Vec<Value> = crate::personalize::catalog(portal, request)
                .into_iter()
                .map(|f| context! { id => &f.id, title => &f.title })
                .collect();
            context! {
                action => format!("/pages/{}/customize", page.id),
                csrf => csrf,
                catalog => catalog,
                regions => page.regions.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            }
        }
        _ => Value::UNDEFINED,
    }
}

/// Every stylesheet and script the page's fragments need, each once, in order.
pub fn assets_value(portal: &Portal, slots: &[Slot]) -> Value {
    let (mut css, mut js): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for s in slots
        .iter()
        .filter(|s| !matches!(s.result.status, Status::Forbidden | Status::Minimized))
    {
        let Some(def) = portal.fragments.get(&s.result.id) else {
            continue;
        };
        for a in &def.assets {
            let (list, href) = match a {
                tessera_descriptors::Asset::Css(h) => (&mut css, h.as_str()),
                tessera_descriptors::Asset::Js(h) => (&mut js, h.as_str()),
            };
            if !list.contains(&href) {
                list.push(href);
            }
        }
    }
    context! { css => css, js => js }
}

pub fn portal_value(portal: &Portal) -> Value {
    context! { name => &portal.settings.portal.name, home => &portal.settings.portal.home }
}

/// The navigation: pages listed in it that the user may see, in order, the current one
/// marked.
pub fn nav(portal: &Portal, current: Option<&str>, request: &PortalRequest) -> Vec<Value> {
    portal
        .nav_pages()
        .into_iter()
        .filter(|p| request.allows(&p.access))
        .map(|p| {
            let href = if p.id == portal.settings.portal.home {
                "/".to_owned()
            } else {
                format!("/pages/{}", p.id)
            };
            context! { id => &p.id, title => &p.title, href => href, current => current == Some(p.id.as_str()) }
        })
        .collect()
}

/// How long the whole page took, for logs.
pub fn total(slots: &[Slot]) -> Duration {
    slots
        .iter()
        .map(|s| s.result.elapsed)
        .max()
        .unwrap_or_default()
}
