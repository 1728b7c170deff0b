//! Page assembly: every slot's fragment produced concurrently under one page deadline,
//! then the layout rendered around the results.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use minijinja::{context, Value};
use tessera_descriptors::{PageDef, Portal};
use tessera_fragments::cache::{ChannelKey, Deps, KeyHasher, StageKey, StageValue};
use tessera_fragments::{result_value, FragmentResult, Fragments, Status};
use tokio::time::{timeout_at, Instant};

use crate::error::EngineError;
use crate::request::PortalRequest;

/// One slot of an assembled page.
#[derive(Debug, Clone)]
pub struct Slot {
    pub region: String,
    pub optional: bool,
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
}

/// Produces every slot of `page` concurrently. Fragments not done by the page deadline
/// get a `timeout` result (or their fallback); their unfinished work is dropped, which
/// cancels its backend calls.
pub async fn produce_slots(
    fragments: &Fragments,
    page: &PageDef,
    request: &PortalRequest,
) -> Vec<Slot> {
    let portal = fragments.portal();
    let deadline = Instant::now() + page.timeout;
    let work = page.regions.iter().flat_map(|region| {
        region.slots.iter().filter_map(move |slot| {
            let def = portal.fragments.get(&slot.fragment)?;
            Some(async move {
                let started = Instant::now();
                let produced = timeout_at(
                    deadline,
                    fragments.produce(def, slot.params.clone(), &request.viewer),
                )
                .await;
                let result = produced.unwrap_or_else(|_| {
                    fragments.failed(
                        def,
                        Status::Timeout,
                        format!(
                            "not ready within the page deadline of {}",
                            tessera_descriptors::format_duration(page.timeout)
                        ),
                        started.elapsed(),
                    )
                });
                Slot {
                    region: region.name.clone(),
                    optional: slot.optional,
                    result,
                }
            })
        })
    });
    join_all(work).await
}

/// The page stage: the assembled page, cached under the versions of its parts when every
/// slot has a cached version; rendered otherwise.
pub fn page_stage(
    fragments: &Fragments,
    page: &PageDef,
    slots: Vec<Slot>,
    request: &PortalRequest,
) -> Result<PageOutput, EngineError> {
    let renderer = fragments.renderer();
    let cache = fragments.cache();
    let layout_reads_user = renderer.reads_user(&page.layout);
    let per_user = layout_reads_user || slots.iter().any(|s| s.result.per_user);
    let max_age = slots
        .iter()
        .map(|s| s.result.max_age.unwrap_or_default())
        .chain(page.max_age)
        .min()
        .unwrap_or_default();
    let mut h = KeyHasher::default();
    for s in &slots {
        h.bytes(s.result.id.as_bytes())
            .bytes(s.result.status.as_str().as_bytes())
            .u64(s.result.version.unwrap_or(0));
    }
    let user_key: Option<Arc<str>> =
        layout_reads_user.then(|| Arc::from(request.viewer.id.as_str()));
    let key = StageKey::Page {
        page: Arc::from(page.id.as_str()),
        layout_version: renderer.version(&page.layout),
        channel: ChannelKey::Html,
        slots: h.finish(),
        user: user_key.clone(),
    };
    let cacheable = slots
        .iter()
        .all(|s| s.result.version.is_some() && s.result.status == Status::Ok);
    let output =
        |html: Arc<str>, version: Option<u64>, cached: bool, slots: Vec<Slot>| PageOutput {
            page_id: page.id.clone(),
            title: page.title.clone(),
            etag: match version {
                Some(v) => format!("\"p{v}\""),
                None => format!(
                    "\"h{:x}\"",
                    KeyHasher::default().bytes(html.as_bytes()).finish()
                ),
            },
            slots,
            html,
            per_user,
            max_age,
            page_cached: cached,
        };
    if cacheable {
        if let Some(hit) = cache.get(&key) {
            if let Some(html) = hit.markup() {
                return Ok(output(html.clone(), Some(hit.version), true, slots));
            }
        }
    }
    let html: Arc<str> =
        Arc::from(render_layout(fragments, page, &slots, request, layout_reads_user)?.as_str());
    if cacheable {
        let deps = Deps {
            entries: slots.iter().filter_map(|s| s.result.version).collect(),
            page: Some(Arc::from(page.id.as_str())),
            user: user_key,
            templates: vec![Arc::from(page.layout.as_str())],
            ..Deps::default()
        };
        let entry = cache.insert(
            key,
            StageValue::Markup(html.clone()),
            &deps,
            Duration::from_secs(3600),
        );
        return Ok(output(html, Some(entry.version), false, slots));
    }
    Ok(output(html, None, false, slots))
}

/// Renders the page's layout around its slots.
pub fn render_layout(
    fragments: &Fragments,
    page: &PageDef,
    slots: &[Slot],
    request: &PortalRequest,
    with_user: bool,
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
        if !slot.result.is_ok() {
            missing.push(value);
        }
    }
    let ctx = context! {
        portal => portal_value(portal),
        page => context! { id => &page.id, title => &page.title },
        user => if with_user { Value::from_serialize(&request.viewer) } else { Value::UNDEFINED },
        nav => nav(portal, Some(&page.id)),
        regions => regions,
        fragments => by_id,
        missing => missing,
    };
    fragments
        .renderer()
        .render(&page.layout, ctx)
        .map_err(|e| EngineError::Layout {
            page: page.id.clone(),
            detail: e.detail,
        })
}

pub fn portal_value(portal: &Portal) -> Value {
    context! { name => &portal.settings.portal.name, home => &portal.settings.portal.home }
}

/// The navigation: pages listed in it, in order, the current one marked.
pub fn nav(portal: &Portal, current: Option<&str>) -> Vec<Value> {
    portal
        .nav_pages()
        .into_iter()
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
