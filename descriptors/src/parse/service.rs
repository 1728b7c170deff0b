use std::time::Duration;

use super::{at_most_one, check_shape, count, duration, id, keyword, rate, required};
use crate::diag::Diagnostics;
use crate::duration::parse_duration;
use crate::model::{BreakerDef, Format, HealthDef, RetryDef, ServiceDef, WindowDef};
use crate::xml::Element;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// Enough for a busy portal node; a backend that needs more says so in its descriptor.
pub const DEFAULT_MAX_CONCURRENT: u32 = 64;

const ATTRS: &[&str] = &[
    "id",
    "base-url",
    "timeout",
    "connect-timeout",
    "format",
    "max-concurrent",
    "queue",
    "read-timeout",
    "follow-redirects",
];
const CHILDREN: &[&str] = &["description", "breaker", "retry", "health"];
const BREAKER_ATTRS: &[&str] = &[
    "window",
    "min-calls",
    "failure-rate",
    "slow-call",
    "slow-call-rate",
    "open-for",
    "half-open-probes",
    "consecutive-failures",
];

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
    let max_concurrent = count(
        el,
        "max-concurrent",
        DEFAULT_MAX_CONCURRENT,
        1,
        100_000,
        diags,
    );
    let queue = count(el, "queue", 0, 0, 100_000, diags);
    let breaker =
        at_most_one(el, "breaker", diags).map_or_else(BreakerDef::default, |b| breaker(b, diags));
    let retry = at_most_one(el, "retry", diags).map_or_else(RetryDef::default, |r| retry(r, diags));
    let health = at_most_one(el, "health", diags).and_then(|h| health(h, timeout, diags));
    let read_timeout = duration(
        el,
        "read-timeout",
        timeout.min(Duration::from_secs(1)),
        true,
        diags,
    );
    let follow_redirects = super::boolean(el, "follow-redirects", false, diags);
    Some(ServiceDef {
        id: id?,
        location: el.location.clone(),
        base_url: base_url.unwrap_or_default(),
        timeout,
        connect_timeout,
        format,
        description,
        max_concurrent,
        queue,
        breaker,
        retry,
        health,
        read_timeout,
        follow_redirects,
    })
}

fn breaker(el: &Element, diags: &mut Diagnostics) -> BreakerDef {
    check_shape(el, BREAKER_ATTRS, &[], diags);
    let d = BreakerDef::default();
    let window = match el.attr("window") {
        None => d.window,
        Some(a) => {
            let v = a.value.trim();
            if let Ok(n) = v.parse::<u32>() {
                if (1..=10_000).contains(&n) {
                    WindowDef::Calls(n)
                } else {
                    diags.push(
                        a.location.clone(),
                        format!("attribute \"window\" must count 1 to 10000 calls, not {n}"),
                    );
                    d.window
                }
            } else {
                match parse_duration(v) {
                    Ok(t)
                        if t >= Duration::from_secs(1)
                            && t <= Duration::from_secs(3600)
                            && t.subsec_nanos() == 0 =>
                    {
                        WindowDef::Time(t)
                    }
                    _ => {
                        diags.push(
                            a.location.clone(),
                            format!("attribute \"window\": \"{v}\" is neither a number of calls (\"20\") nor a whole number of seconds from 1s to 1h (\"10s\")"),
                        );
                        d.window
                    }
                }
            }
        }
    };
    let slow_call = el
        .attr("slow-call")
        .map(|_| duration(el, "slow-call", Duration::from_secs(1), true, diags));
    let def = BreakerDef {
        window,
        min_calls: count(el, "min-calls", d.min_calls, 1, 10_000, diags),
        failure_rate: rate(el, "failure-rate", d.failure_rate, diags),
        slow_call,
        slow_call_rate: rate(el, "slow-call-rate", d.slow_call_rate, diags),
        open_for: duration(el, "open-for", d.open_for, true, diags),
        half_open_probes: count(el, "half-open-probes", d.half_open_probes, 1, 1000, diags),
        consecutive_failures: el
            .attr("consecutive-failures")
            .map(|_| count(el, "consecutive-failures", 5, 1, 10_000, diags)),
    };
    for (name, value) in [
        ("failure-rate", def.failure_rate),
        ("slow-call-rate", def.slow_call_rate),
    ] {
        if value == 0.0 {
            if let Some(a) = el.attr(name) {
                diags.push(a.location.clone(), format!("attribute \"{name}\" must be above 0% (0% would open the breaker with no failures at all)"));
            }
        }
    }
    if let (WindowDef::Calls(n), Some(a)) = (def.window, el.attr("min-calls")) {
        if def.min_calls > n {
            diags.push(
                a.location.clone(),
                format!("min-calls ({}) is larger than the window ({n} calls): the breaker could never open", def.min_calls),
            );
        }
    }
    def
}

fn retry(el: &Element, diags: &mut Diagnostics) -> RetryDef {
    check_shape(el, &["attempts", "budget", "min-per-second"], &[], diags);
    let d = RetryDef::default();
    RetryDef {
        attempts: count(el, "attempts", d.attempts, 0, 3, diags),
        budget: rate(el, "budget", d.budget, diags),
        min_per_second: count(el, "min-per-second", d.min_per_second, 0, 1000, diags),
    }
}

fn health(el: &Element, service_timeout: Duration, diags: &mut Diagnostics) -> Option<HealthDef> {
    check_shape(el, &["path", "every", "timeout"], &[], diags);
    let path = required(el, "path", diags)?;
    if !path.value.starts_with('/')
        || path.value.starts_with("//")
        || path
            .value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        diags.push(
            path.location.clone(),
            format!(
                "health path \"{}\" must start with a single \"/\" and contain no spaces",
                path.value
            ),
        );
        return None;
    }
    Some(HealthDef {
        path: path.value.clone(),
        every: duration(el, "every", Duration::from_secs(2), true, diags),
        timeout: duration(el, "timeout", service_timeout, true, diags),
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
