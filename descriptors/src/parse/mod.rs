//! Mapping positioned XML elements to typed definitions, collecting every problem.
//!
//! Each `parse_*` function returns a definition whenever the element has an id, even when
//! other attributes are wrong (defaults stand in for them), so that the whole set can
//! still be cross-checked and every problem reported in one run.

mod fragment;
pub(crate) mod lifecycle;
pub(crate) mod page;
pub(crate) mod service;

pub use fragment::parse_fragment;
pub use lifecycle::parse_named_lifecycle;
pub use page::parse_page;
pub use service::parse_service;

use std::time::Duration;

use crate::diag::{did_you_mean, Diagnostics};
use crate::duration::parse_duration;
use crate::xml::{Attr, Element};

/// Reports attributes and child elements that the schema does not know.
pub(crate) fn check_shape(
    el: &Element,
    attrs: &[&str],
    children: &[&str],
    diags: &mut Diagnostics,
) {
    for a in &el.attrs {
        if !attrs.contains(&a.name.as_str()) {
            diags.push(
                a.location.clone(),
                format!(
                    "unknown attribute \"{}\" on <{}>{}; expected one of: {}",
                    a.name,
                    el.name,
                    did_you_mean(&a.name, attrs.iter().copied()),
                    attrs.join(", ")
                ),
            );
        }
    }
    for c in &el.children {
        if !children.contains(&c.name.as_str()) {
            let expected = if children.is_empty() {
                "it takes no child elements".to_owned()
            } else {
                format!("expected one of: {}", children.join(", "))
            };
            diags.push(
                c.location.clone(),
                format!(
                    "unknown element <{}> in <{}>{}; {expected}",
                    c.name,
                    el.name,
                    did_you_mean(&c.name, children.iter().copied()),
                ),
            );
        }
    }
}

/// The attribute, or a "missing the required attribute" problem.
pub(crate) fn required<'a>(
    el: &'a Element,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<&'a Attr> {
    let attr = el.attr(name);
    if attr.is_none() {
        diags.push(
            el.location.clone(),
            format!("<{}> is missing the required attribute \"{name}\"", el.name),
        );
    }
    attr
}

/// An id: lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit.
pub(crate) fn id(el: &Element, diags: &mut Diagnostics) -> Option<String> {
    let attr = required(el, "id", diags)?;
    let v = &attr.value;
    let ok = v.len() <= 100
        && v.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && v.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !ok {
        diags.push(
            attr.location.clone(),
            format!("invalid id \"{v}\": use 1 to 100 lowercase letters, digits, \".\", \"_\" or \"-\", starting with a letter or digit"),
        );
    }
    Some(v.clone())
}

/// A duration attribute; `positive` rejects zero.
pub(crate) fn duration(
    el: &Element,
    name: &str,
    default: Duration,
    positive: bool,
    diags: &mut Diagnostics,
) -> Duration {
    let Some(attr) = el.attr(name) else {
        return default;
    };
    if attr.value.trim_start().starts_with('-') {
        diags.push(
            attr.location.clone(),
            format!(
                "attribute \"{name}\" must not be negative (\"{}\")",
                attr.value
            ),
        );
        return default;
    }
    match parse_duration(&attr.value) {
        Ok(d) if positive && d.is_zero() => {
            diags.push(
                attr.location.clone(),
                format!("attribute \"{name}\" must be longer than zero"),
            );
            default
        }
        Ok(d) => d,
        Err(e) => {
            diags.push(attr.location.clone(), format!("attribute \"{name}\": {e}"));
            default
        }
    }
}

/// A whole-number attribute.
pub(crate) fn integer(attr: &Attr, diags: &mut Diagnostics) -> Option<i64> {
    match attr.value.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            diags.push(
                attr.location.clone(),
                format!(
                    "attribute \"{}\": invalid number \"{}\": expected a whole number",
                    attr.name, attr.value
                ),
            );
            None
        }
    }
}

/// A whole-number attribute within bounds, or the default.
pub(crate) fn count(
    el: &Element,
    name: &str,
    default: u32,
    min: u32,
    max: u32,
    diags: &mut Diagnostics,
) -> u32 {
    let Some(attr) = el.attr(name) else {
        return default;
    };
    match attr.value.trim().parse::<i64>() {
        Ok(v) if v >= i64::from(min) && v <= i64::from(max) => v as u32,
        Ok(v) => {
            diags.push(
                attr.location.clone(),
                format!("attribute \"{name}\" must be between {min} and {max}, not {v}"),
            );
            default
        }
        Err(_) => {
            diags.push(
                attr.location.clone(),
                format!(
                    "attribute \"{name}\": invalid number \"{}\": expected a whole number",
                    attr.value
                ),
            );
            default
        }
    }
}

/// A percentage (`50%`) as a fraction from 0 to 1.
pub(crate) fn rate(el: &Element, name: &str, default: f64, diags: &mut Diagnostics) -> f64 {
    let Some(attr) = el.attr(name) else {
        return default;
    };
    let parsed = attr
        .value
        .trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite());
    match parsed {
        Some(p) if (0.0..=100.0).contains(&p) => p / 100.0,
        Some(p) => {
            diags.push(
                attr.location.clone(),
                format!("attribute \"{name}\" must be a percentage from 0% to 100%, not {p}%"),
            );
            default
        }
        None => {
            diags.push(
                attr.location.clone(),
                format!(
                    "attribute \"{name}\": invalid percentage \"{}\": expected a number followed by %, such as \"50%\"",
                    attr.value
                ),
            );
            default
        }
    }
}

/// A `true`/`false` attribute.
pub(crate) fn boolean(el: &Element, name: &str, default: bool, diags: &mut Diagnostics) -> bool {
    match el.attr(name) {
        None => default,
        Some(a) if a.value == "true" => true,
        Some(a) if a.value == "false" => false,
        Some(a) => {
            diags.push(
                a.location.clone(),
                format!(
                    "attribute \"{name}\": invalid value \"{}\": expected true or false",
                    a.value
                ),
            );
            default
        }
    }
}

/// One of a fixed set of words.
pub(crate) fn keyword<T>(
    attr: &Attr,
    names: &[&str],
    parse: impl Fn(&str) -> Option<T>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let v = parse(&attr.value);
    if v.is_none() {
        diags.push(
            attr.location.clone(),
            format!(
                "attribute \"{}\": unknown value \"{}\"{}; expected one of: {}",
                attr.name,
                attr.value,
                did_you_mean(&attr.value, names.iter().copied()),
                names.join(", ")
            ),
        );
    }
    v
}

/// Reports a child element that may appear only once, and returns the first.
pub(crate) fn at_most_one<'a>(
    el: &'a Element,
    child: &str,
    diags: &mut Diagnostics,
) -> Option<&'a Element> {
    let mut found = el.children.iter().filter(|c| c.name == child);
    let first = found.next();
    for extra in found {
        diags.push(
            extra.location.clone(),
            format!("<{}> may contain only one <{child}>", el.name),
        );
    }
    first
}

/// An object key (`news`, `news:42`): what backends and descriptors name data by.
pub fn object_key(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() || v.len() > 200 || !v.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "invalid object key \"{value}\": use 1 to 200 visible ASCII characters without spaces, such as \"news\" or \"news:42\""
        ));
    }
    Ok(v.to_owned())
}

/// `<access tokens="a b"/>`: the tokens, all required.
pub(crate) fn access(el: &Element, diags: &mut Diagnostics) -> Vec<String> {
    let Some(a) = at_most_one(el, "access", diags) else {
        return Vec::new();
    };
    check_shape(a, &["tokens"], &[], diags);
    let Some(tokens) = required(a, "tokens", diags) else {
        return Vec::new();
    };
    let list: Vec<String> = tokens
        .value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        diags.push(
            tokens.location.clone(),
            "attribute \"tokens\" names no token; leave <access> out to let everyone see it",
        );
    }
    for t in &list {
        if !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
        {
            diags.push(tokens.location.clone(), format!("invalid access token \"{t}\": use letters, digits, \".\", \"_\", \"-\" or \":\""));
        }
    }
    list
}

/// An asset URL: a path on this portal (`/static/…`) or an https URL; never a
/// `javascript:` or protocol-relative one.
pub(crate) fn asset_href(attr: &crate::xml::Attr, diags: &mut Diagnostics) -> Option<String> {
    let v = attr.value.trim();
    let ok = ((v.starts_with('/') && !v.starts_with("//")) || v.starts_with("https://"))
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    if ok {
        Some(v.to_owned())
    } else {
        diags.push(attr.location.clone(), format!("invalid asset \"{v}\": use a path on the portal (\"/static/news.css\") or an https:// URL"));
        None
    }
}

/// A template path: relative, `/`-separated, no `..`.
pub(crate) fn template_name(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty()
        || v.starts_with('/')
        || v.contains('\\')
        || v.split('/').any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "invalid template path \"{value}\": use a relative path inside the templates folder, such as \"fragments/news.html\""
        ));
    }
    Ok(v.to_owned())
}
