//! Page assembly: every slot's fragment produced concurrently under one page deadline,
//! then the layout rendered around the results.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use minijinja::{context, Value};
use tessera_descriptors::{PageDef, Portal};
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
    pub html: String,
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

/// Renders the page's layout around its slots.
pub fn render_layout(
    fragments: &Fragments,
    page: &PageDef,
    slots: &[Slot],
    request: &PortalRequest,
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
        user => Value::from_serialize(&request.viewer),
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
