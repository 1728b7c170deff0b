//! `/admin/registry`: the running descriptor set's fragments and pages, and what each
//! depends on — which pages place a fragment (directly or inside a composite), which
//! service it calls, the object keys it declares (`<depends-on>`) and the object keys its
//! cached entries depend on now in the object dependency graph.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use minijinja::{context, Value};

use super::{render, Operator};
use crate::admin::cache::pages_placing;
use crate::AppState;

pub async fn page(
    State(state): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Response {
    let engine = state.engine();
    let portal = engine.portal();
    let seen = engine.fragments().cache().objects_by_fragment();
    let fragments: Vec<Value> = portal
        .fragments
        .values()
        .map(|f| {
            let used_by: Vec<String> =
                pages_placing(&engine, std::iter::once(f.id.as_str())).into_iter().collect();
            let included_by: Vec<&str> = portal
                .fragments
                .values()
                .filter(|p| p.includes.iter().any(|i| i.fragment == f.id))
                .map(|p| p.id.as_str())
                .collect();
            let declared: BTreeSet<&str> = f.depends_on.iter().map(String::as_str).collect();
            // Keys the graph knows that the descriptor does not declare: sent by the
            // backend (object-key header).
            let learnt: Vec<&str> = seen
                .get(&f.id)
                .map(|s| {
                    s.iter()
                        .map(String::as_str)
                        .filter(|o| !declared.contains(o))
                        .collect()
                })
                .unwrap_or_default();
            context! {
                id => &f.id,
                title => &f.title,
                service => f.source.as_ref().map(|s| &s.service),
                path => f.source.as_ref().map(|s| &s.path.raw),
                template => &f.template,
                depends_on => &f.depends_on,
                objects_seen => seen.get(&f.id).map(|s| s.iter().collect::<Vec<_>>()).unwrap_or_default(),
                learnt,
                includes => f.includes.iter().map(|i| &i.fragment).collect::<Vec<_>>(),
                included_by,
                used_by,
                access => &f.access,
                catalog => f.catalog,
            }
        })
        .collect();
    let pages: Vec<Value> = portal
        .pages
        .values()
        .map(|p| {
            let regions: Vec<Value> = p
                .regions
                .iter()
                .map(|r| {
                    context! {
                        name => &r.name,
                        fragments => r.slots.iter().map(|s| context! {
                            id => &s.fragment, optional => s.optional, primary => s.primary
                        }).collect::<Vec<_>>(),
                    }
                })
                .collect();
            context! {
                id => &p.id,
                title => &p.title,
                layout => &p.layout,
                delivery => Value::from_serialize(p.delivery),
                timeout => tessera_descriptors::format_duration(p.timeout),
                access => &p.access,
                customizable => p.customizable,
                regions,
            }
        })
        .collect();
    // Which fragments call each service: the other direction of the same edges.
    let mut by_service: BTreeMap<&str, Vec<&str>> = portal
        .services
        .keys()
        .map(|s| (s.as_str(), Vec::new()))
        .collect();
    for f in portal.fragments.values() {
        if let Some(src) = &f.source {
            by_service
                .entry(src.service.as_str())
                .or_default()
                .push(f.id.as_str());
        }
    }
    let services: Vec<Value> = by_service
        .into_iter()
        .map(|(id, fragments)| context! { id, fragments })
        .collect();
    render(
        &state,
        Some(&operator),
        "registry.html",
        StatusCode::OK,
        context! { current => "registry", fragments, pages, services },
    )
}
