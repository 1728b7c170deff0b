use std::collections::BTreeMap;
use std::time::Duration;

use super::{boolean, check_shape, duration, id, integer, required, template_name};
use crate::diag::Diagnostics;
use crate::model::{PageDef, ParamValue, RegionDef, SlotDef};
use crate::xml::Element;

const ATTRS: &[&str] = &[
    "id",
    "title",
    "layout",
    "timeout",
    "nav",
    "order",
    "customizable",
    "delivery",
];

/// Raw page-level parameter values; checked against the fragments' declarations once the
/// whole set is known.
pub type RawSlotParams = BTreeMap<(String, String), Vec<(String, String, crate::diag::Location)>>;

pub fn parse_page(
    el: &Element,
    default_timeout: Duration,
    diags: &mut Diagnostics,
) -> Option<(PageDef, RawSlotParams)> {
    check_shape(el, ATTRS, &["region", "lifecycle", "access"], diags);
    let access = super::access(el, diags);
    let customizable = boolean(el, "customizable", false, diags);
    let delivery = el
        .attr("delivery")
        .and_then(|a| {
            super::keyword(
                a,
                &crate::model::Delivery::NAMES,
                crate::model::Delivery::parse,
                diags,
            )
        })
        .unwrap_or_default();
    let max_age = super::at_most_one(el, "lifecycle", diags).and_then(|l| {
        check_shape(l, &["max-age"], &[], diags);
        l.attr("max-age")
            .map(|_| duration(l, "max-age", Duration::ZERO, false, diags))
    });
    let id = id(el, diags);
    let layout_attr = required(el, "layout", diags);
    let layout = layout_attr.and_then(|a| match template_name(&a.value) {
        Ok(n) => Some(n),
        Err(msg) => {
            diags.push(a.location.clone(), msg);
            None
        }
    });
    let timeout = duration(el, "timeout", default_timeout, true, diags);
    let nav = boolean(el, "nav", true, diags);
    let order = el
        .attr("order")
        .and_then(|a| integer(a, diags))
        .unwrap_or(0);

    let mut regions: Vec<RegionDef> = Vec::new();
    let mut raw_params = RawSlotParams::new();
    let mut placed: BTreeMap<String, crate::diag::Location> = BTreeMap::new();
    for r in el.children.iter().filter(|c| c.name == "region") {
        check_shape(r, &["name"], &["fragment"], diags);
        let Some(name) = required(r, "name", diags) else {
            continue;
        };
        if regions.iter().any(|x| x.name == name.value) {
            diags.push(
                name.location.clone(),
                format!("region \"{}\" is defined twice on this page", name.value),
            );
            continue;
        }
        let mut slots = Vec::new();
        for f in r.children.iter().filter(|c| c.name == "fragment") {
            check_shape(f, &["ref", "optional", "primary"], &["param"], diags);
            let Some(reference) = required(f, "ref", diags) else {
                continue;
            };
            if let Some(first) = placed.get(&reference.value) {
                diags.push(
                    reference.location.clone(),
                    format!(
                        "fragment \"{}\" is placed twice on this page; it is already placed at {first}",
                        reference.value
                    ),
                );
                continue;
            }
            placed.insert(reference.value.clone(), reference.location.clone());
            let mut values = Vec::new();
            for p in f.children.iter().filter(|c| c.name == "param") {
                check_shape(p, &["name", "value"], &[], diags);
                if let (Some(n), Some(v)) =
                    (required(p, "name", diags), required(p, "value", diags))
                {
                    values.push((n.value.clone(), v.value.clone(), n.location.clone()));
                }
            }
            raw_params.insert((name.value.clone(), reference.value.clone()), values);
            slots.push(SlotDef {
                fragment: reference.value.clone(),
                location: reference.location.clone(),
                optional: boolean(f, "optional", false, diags),
                primary: boolean(f, "primary", false, diags),
                params: BTreeMap::<String, ParamValue>::new(),
            });
        }
        regions.push(RegionDef {
            name: name.value.clone(),
            location: r.location.clone(),
            slots,
        });
    }
    let id = id?;
    Some((
        PageDef {
            // Set by `build`, which has the document's text.
            fingerprint: 0,
            title: el
                .attr("title")
                .map_or_else(|| id.clone(), |a| a.value.clone()),
            id,
            location: el.location.clone(),
            layout: layout.unwrap_or_default(),
            layout_location: layout_attr
                .map_or_else(|| el.location.clone(), |a| a.location.clone()),
            timeout,
            nav,
            order,
            regions,
            max_age,
            access,
            customizable,
            delivery,
        },
        raw_params,
    ))
}
