use std::collections::BTreeSet;

use super::{at_most_one, boolean, check_shape, id, integer, keyword, required, template_name};
use crate::diag::Diagnostics;
use crate::model::{
    Fallback, Format, FragmentDef, Include, ParamDef, ParamType, ParamValue, SourceDef,
};
use crate::path::PathTemplate;
use crate::xml::Element;

const ATTRS: &[&str] = &[
    "id", "service", "path", "format", "select", "title", "catalog",
];
const CHILDREN: &[&str] = &[
    "description",
    "param",
    "template",
    "fallback",
    "include",
    "lifecycle",
    "depends-on",
    "access",
    "asset",
];
const PARAM_ATTRS: &[&str] = &["name", "type", "default", "choices", "min", "max"];

pub fn parse_fragment(el: &Element, diags: &mut Diagnostics) -> Option<FragmentDef> {
    check_shape(el, ATTRS, CHILDREN, diags);
    let id = id(el, diags);
    let params = params(el, diags);

    let source = match (el.attr("service"), el.attr("path")) {
        (Some(service), Some(path)) => match PathTemplate::parse(&path.value) {
            Ok(template) => {
                for name in template.params() {
                    if !params.iter().any(|p| p.name == name) {
                        diags.push(
                            path.location.clone(),
                            format!("path uses {{param.{name}}}, but the fragment declares no <param name=\"{name}\">"),
                        );
                    }
                }
                Some(SourceDef {
                    service: service.value.clone(),
                    service_location: service.location.clone(),
                    path: template,
                    format: el
                        .attr("format")
                        .and_then(|a| keyword(a, &Format::NAMES, Format::parse, diags)),
                })
            }
            Err(msg) => {
                diags.push(path.location.clone(), msg);
                None
            }
        },
        (Some(service), None) => {
            diags.push(
                service.location.clone(),
                "a fragment with a \"service\" also needs a \"path\" (the request below the service's base URL)",
            );
            None
        }
        (None, Some(path)) => {
            diags.push(
                path.location.clone(),
                "a fragment with a \"path\" also needs a \"service\": paths are relative to a service's base URL",
            );
            None
        }
        (None, None) => {
            for attr in ["format", "select"] {
                if let Some(a) = el.attr(attr) {
                    diags.push(
                        a.location.clone(),
                        format!(
                            "attribute \"{attr}\" applies only to a fragment with a \"service\""
                        ),
                    );
                }
            }
            None
        }
    };

    let select = el.attr("select").and_then(|a| {
        let parts: Vec<String> = a.value.split('.').map(str::to_owned).collect();
        if parts.iter().any(|p| p.is_empty()) {
            diags.push(
                a.location.clone(),
                format!("attribute \"select\": invalid path \"{}\": expected names separated by dots, such as \"items\" or \"summary.index\"", a.value),
            );
            None
        } else {
            Some(parts)
        }
    });

    let template_el = at_most_one(el, "template", diags);
    let template = template_el.and_then(|t| match template_name(&t.text) {
        Ok(name) => Some(name),
        Err(msg) => {
            diags.push(t.location.clone(), msg);
            None
        }
    });

    let fallback_el = at_most_one(el, "fallback", diags);
    let fallback = fallback_el.and_then(|f| {
        check_shape(f, &["template"], &[], diags);
        match (f.attr("template"), f.text.is_empty()) {
            (Some(t), true) => match template_name(&t.value) {
                Ok(name) => Some(Fallback::Template(name)),
                Err(msg) => {
                    diags.push(t.location.clone(), msg);
                    None
                }
            },
            (None, false) => Some(Fallback::Message(f.text.clone())),
            _ => {
                diags.push(
                    f.location.clone(),
                    "<fallback> takes either a \"template\" attribute or a text message, not both or neither",
                );
                None
            }
        }
    });

    let mut includes: Vec<Include> = Vec::new();
    for inc in el.children.iter().filter(|c| c.name == "include") {
        check_shape(inc, &["ref"], &[], diags);
        if let Some(r) = required(inc, "ref", diags) {
            if includes.iter().any(|i| i.fragment == r.value) {
                diags.push(
                    r.location.clone(),
                    format!("fragment \"{}\" is included twice", r.value),
                );
            } else {
                includes.push(Include {
                    fragment: r.value.clone(),
                    location: r.location.clone(),
                });
            }
        }
    }

    let (lifecycle, lifecycle_ref) = at_most_one(el, "lifecycle", diags)
        .map(|l| super::lifecycle::fragment_lifecycle(l, diags))
        .unwrap_or_default();
    let mut depends_on: Vec<String> = Vec::new();
    for d in el.children.iter().filter(|c| c.name == "depends-on") {
        check_shape(d, &["object"], &[], diags);
        if let Some(o) = required(d, "object", diags) {
            match super::object_key(&o.value) {
                Ok(key) if !depends_on.contains(&key) => depends_on.push(key),
                Ok(_) => {}
                Err(msg) => diags.push(o.location.clone(), msg),
            }
        }
    }
    let access = super::access(el, diags);
    let catalog = super::boolean(el, "catalog", false, diags);
    let mut assets = Vec::new();
    for a in el.children.iter().filter(|c| c.name == "asset") {
        check_shape(a, &["css", "js"], &[], diags);
        let asset = match (a.attr("css"), a.attr("js")) {
            (Some(c), None) => super::asset_href(c, diags).map(crate::model::Asset::Css),
            (None, Some(j)) => super::asset_href(j, diags).map(crate::model::Asset::Js),
            _ => {
                diags.push(
                    a.location.clone(),
                    "<asset> takes exactly one of \"css\" or \"js\"",
                );
                None
            }
        };
        if let Some(asset) = asset.filter(|x| !assets.contains(x)) {
            assets.push(asset);
        }
    }
    let id = id?;
    Some(FragmentDef {
        // Set by `build`, which has the document's text.
        fingerprint: 0,
        access,
        catalog,
        assets,
        lifecycle,
        lifecycle_ref,
        depends_on,
        title: el
            .attr("title")
            .map_or_else(|| id.clone(), |a| a.value.clone()),
        id,
        location: el.location.clone(),
        description: at_most_one(el, "description", diags).map(|d| d.text.clone()),
        source,
        select,
        params,
        template,
        template_location: template_el.map(|t| t.location.clone()),
        fallback,
        fallback_location: fallback_el.map(|f| f.location.clone()),
        includes,
    })
}

fn params(el: &Element, diags: &mut Diagnostics) -> Vec<ParamDef> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in el.children.iter().filter(|c| c.name == "param") {
        check_shape(p, PARAM_ATTRS, &[], diags);
        let Some(name) = required(p, "name", diags) else {
            continue;
        };
        if !seen.insert(name.value.clone()) {
            diags.push(
                name.location.clone(),
                format!("parameter \"{}\" is declared twice", name.value),
            );
            continue;
        }
        let kind = p
            .attr("type")
            .and_then(|a| keyword(a, &ParamType::NAMES, ParamType::parse, diags))
            .unwrap_or(ParamType::String);
        let min = p.attr("min").and_then(|a| integer(a, diags));
        let max = p.attr("max").and_then(|a| integer(a, diags));
        for a in ["min", "max"].iter().filter_map(|n| p.attr(n)) {
            if kind != ParamType::Int {
                diags.push(
                    a.location.clone(),
                    format!(
                        "attribute \"{}\" applies only to parameters of type int",
                        a.name
                    ),
                );
            }
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                if let Some(a) = p.attr("min") {
                    diags.push(
                        a.location.clone(),
                        format!("min ({lo}) is greater than max ({hi})"),
                    );
                }
            }
        }
        let choices = p.attr("choices").map(|a| {
            if matches!(kind, ParamType::Int | ParamType::Bool) {
                diags.push(
                    a.location.clone(),
                    "attribute \"choices\" applies only to parameters of type string or list",
                );
            }
            a.value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        let mut def = ParamDef {
            name: name.value.clone(),
            location: p.location.clone(),
            kind,
            default: empty_value(kind, min),
            choices,
            min,
            max,
        };
        match p.attr("default") {
            Some(d) => match def.parse_value(&d.value) {
                Ok(v) => def.default = v,
                Err(msg) => diags.push(d.location.clone(), format!("invalid default: {msg}")),
            },
            None if kind == ParamType::Bool => {
                def.default = ParamValue::Bool(boolean(p, "default", false, diags))
            }
            None => {}
        }
        out.push(def);
    }
    out
}

fn empty_value(kind: ParamType, min: Option<i64>) -> ParamValue {
    match kind {
        ParamType::String => ParamValue::String(String::new()),
        ParamType::Int => ParamValue::Int(min.unwrap_or(0).max(0)),
        ParamType::Bool => ParamValue::Bool(false),
        ParamType::List => ParamValue::List(Vec::new()),
    }
}
