use std::time::Duration;

use super::{at_most_one, check_shape, duration, id, keyword, required};
use crate::diag::Diagnostics;
use crate::model::{Format, ServiceDef};
use crate::xml::Element;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

const ATTRS: &[&str] = &["id", "base-url", "timeout", "connect-timeout", "format"];
const CHILDREN: &[&str] = &["description"];

pub fn parse_service(el: &Element, diags: &mut Diagnostics) -> Option<ServiceDef> {
    check_shape(el, ATTRS, CHILDREN, diags);
    let id = id(el, diags);
    let base_url = required(el, "base-url", diags).and_then(|a| match check_base_url(&a.value) {
        Ok(url) => Some(url),
        Err(msg) => {
            diags.push(a.location.clone(), msg);
            None
        }
    });
    let timeout = duration(el, "timeout", DEFAULT_TIMEOUT, true, diags);
    let connect_timeout = duration(el, "connect-timeout", DEFAULT_CONNECT_TIMEOUT, true, diags);
    if connect_timeout > timeout {
        if let Some(a) = el.attr("connect-timeout") {
            diags.push(
                a.location.clone(),
                "attribute \"connect-timeout\" must not be longer than \"timeout\"",
            );
        }
    }
    let format = el
        .attr("format")
        .and_then(|a| keyword(a, &Format::NAMES, Format::parse, diags))
        .unwrap_or(Format::Json);
    let description = at_most_one(el, "description", diags).map(|d| d.text.clone());
    Some(ServiceDef {
        id: id?,
        location: el.location.clone(),
        base_url: base_url.unwrap_or_default(),
        timeout,
        connect_timeout,
        format,
        description,
    })
}

/// Accepts `http(s)://host[:port][/prefix]`, returned without a trailing slash.
pub fn check_base_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    match (rest, host) {
        (Some(r), Some(h))
            if !h.is_empty()
                && !h.contains('@')
                && !r.contains(['?', '#'])
                && !r.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(raw.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "invalid base-url \"{raw}\": expected http:// or https:// followed by a host, an optional port and an optional path, with no credentials, query or fragment"
        )),
    }
}
