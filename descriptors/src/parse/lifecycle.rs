use std::time::Duration;

use super::{boolean, check_shape, duration, id, keyword};
use crate::diag::Diagnostics;
use crate::model::{LifecycleDef, LifecycleRef, NamedLifecycle, OnInvalidate};
use crate::xml::Element;

pub(crate) const ATTRS: &[&str] = &[
    "ttl",
    "stale-while-revalidate",
    "stale-if-error",
    "validate-always",
    "max-age",
    "on-invalidate",
];

/// The lifecycle attributes of `el`, each overriding the corresponding value of `base`.
pub(crate) fn lifecycle_attrs(
    el: &Element,
    base: &LifecycleDef,
    diags: &mut Diagnostics,
) -> LifecycleDef {
    let optional = |name: &str, current: Option<Duration>, diags: &mut Diagnostics| {
        el.attr(name)
            .map(|_| duration(el, name, Duration::ZERO, false, diags))
            .or(current)
    };
    LifecycleDef {
        ttl: optional("ttl", base.ttl, diags),
        stale_while_revalidate: duration(
            el,
            "stale-while-revalidate",
            base.stale_while_revalidate,
            false,
            diags,
        ),
        stale_if_error: duration(el, "stale-if-error", base.stale_if_error, false, diags),
        validate_always: boolean(el, "validate-always", base.validate_always, diags),
        max_age: optional("max-age", base.max_age, diags),
        on_invalidate: el
            .attr("on-invalidate")
            .and_then(|a| {
                keyword(
                    a,
                    &["evict", "refresh"],
                    |v| match v {
                        "evict" => Some(OnInvalidate::Evict),
                        "refresh" => Some(OnInvalidate::Refresh),
                        _ => None,
                    },
                    diags,
                )
            })
            .unwrap_or(base.on_invalidate),
    }
}

/// `<lifecycle ref="…" …/>` inside a fragment: the overrides now, the reference later.
pub(crate) fn fragment_lifecycle(
    el: &Element,
    diags: &mut Diagnostics,
) -> (LifecycleDef, Option<LifecycleRef>) {
    let mut attrs = vec!["ref"];
    attrs.extend_from_slice(ATTRS);
    check_shape(el, &attrs, &[], diags);
    let reference = el.attr("ref").map(|a| LifecycleRef {
        id: a.value.clone(),
        location: a.location.clone(),
        overridden: ATTRS
            .iter()
            .filter(|n| el.attr(n).is_some())
            .map(|n| (*n).to_owned())
            .collect(),
    });
    (
        lifecycle_attrs(el, &LifecycleDef::default(), diags),
        reference,
    )
}

pub fn parse_named_lifecycle(el: &Element, diags: &mut Diagnostics) -> Option<NamedLifecycle> {
    let mut attrs = vec!["id"];
    attrs.extend_from_slice(ATTRS);
    check_shape(el, &attrs, &["description"], diags);
    let id = id(el, diags)?;
    Some(NamedLifecycle {
        id,
        location: el.location.clone(),
        lifecycle: lifecycle_attrs(el, &LifecycleDef::default(), diags),
    })
}
