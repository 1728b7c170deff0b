//! The user's page instance: which fragments, where, with which parameters — from the
//! page descriptor, the user's arrangement (customizable pages), their access tokens and
//! their profile.

use std::borrow::Cow;

use tessera_descriptors::{FragmentDef, PageDef, Portal};
use tessera_fragments::Params;

use crate::request::PortalRequest;

/// One slot of a user's page instance.
#[derive(Debug)]
pub struct Planned<'a> {
    /// The region's name, as the page descriptor spells it.
    pub region: &'a str,
    pub def: &'a FragmentDef,
    /// The page's values, borrowed from the descriptor until the profile changes one.
    pub params: Cow<'a, Params>,
    pub optional: bool,
    pub primary: bool,
    pub minimized: bool,
    /// The user holds the fragment's tokens; otherwise it is neither fetched nor rendered.
    pub allowed: bool,
}

/// The slots of `page` for this request, in order.
pub fn plan<'a>(
    portal: &'a Portal,
    page: &'a PageDef,
    request: &PortalRequest,
) -> Vec<Planned<'a>> {
    let page_params = |fragment: &str| {
        page.slots()
            .find(|s| s.fragment == fragment)
            .map_or_else(|| Cow::Owned(Params::new()), |s| Cow::Borrowed(&s.params))
    };
    let mut out = Vec::with_capacity(match request.layout.as_ref() {
        Some(layout) if page.customizable => layout.slots.len(),
        _ => page.slots().count(),
    });
    match request.layout.as_ref().filter(|_| page.customizable) {
        Some(layout) => {
            for s in &layout.slots {
                // A saved arrangement may outlive a descriptor change: skip what no longer
                // exists or is no longer allowed rather than failing the page.
                let Some(def) = portal.fragments.get(&s.fragment) else {
                    continue;
                };
                let Some(region) = page.regions.iter().find(|r| r.name == s.region) else {
                    continue;
                };
                if !request.allows(&def.access) {
                    continue;
                }
                out.push(Planned {
                    region: &region.name,
                    def,
                    params: page_params(&s.fragment),
                    optional: false,
                    primary: page.slots().any(|p| p.fragment == s.fragment && p.primary),
                    minimized: s.minimized,
                    allowed: true,
                });
            }
        }
        None => {
            for region in &page.regions {
                for slot in &region.slots {
                    let Some(def) = portal.fragments.get(&slot.fragment) else {
                        continue;
                    };
                    out.push(Planned {
                        region: &region.name,
                        def,
                        params: Cow::Borrowed(&slot.params),
                        optional: slot.optional,
                        primary: slot.primary,
                        minimized: false,
                        allowed: request.allows(&def.access),
                    });
                }
            }
        }
    }
    for p in &mut out {
        apply_profile(p, request);
    }
    out
}

/// The user's parameter choices (`fragment.<id>.<param>` in the profile) win over the
/// page's and the descriptor's defaults. A stored value the descriptor no longer
/// accepts is ignored.
fn apply_profile(p: &mut Planned<'_>, request: &PortalRequest) {
    // Most requests (guests, users who chose nothing) have nothing to apply: no names
    // to format.
    if p.def.params.is_empty() || request.profile.values().is_empty() {
        return;
    }
    for decl in &p.def.params {
        let name = format!("fragment.{}.{}", p.def.id, decl.name);
        if let Some(raw) = request.profile.get(&name) {
            match decl.parse_value(raw) {
                Ok(v) => {
                    p.params.to_mut().insert(decl.name.clone(), v);
                }
                Err(e) => {
                    tracing::debug!(fragment = %p.def.id, error = %e, "ignoring a stored parameter value")
                }
            }
        }
    }
}

/// The fragments a user may add to a customizable page.
pub fn catalog<'a>(portal: &'a Portal, request: &PortalRequest) -> Vec<&'a FragmentDef> {
    portal
        .fragments
        .values()
        .filter(|f| f.catalog && request.allows(&f.access))
        .map(|f| f.as_ref())
        .collect()
}
