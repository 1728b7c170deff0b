//! The benchmark portal: one page (`home`) of [`FRAGMENTS`] fragments, each from its
//! own service, each rendering about 3 KB of JSON with the same simple template.
//!
//! Every scenario uses this same portal; only the backends behind it change (fast,
//! delayed, hanging). So the difference between two scenarios' numbers is the
//! backends' behaviour and nothing else.

use tessera_test_support::PortalDir;

/// Fragments (and services, and backends) on the benchmark page.
pub const FRAGMENTS: usize = 8;

/// Size of each backend's JSON body (issue #9: "eight fragments of about 3 KB each").
pub const FRAGMENT_BYTES: usize = 3 * 1024;

/// The admin API token written to the benchmark portal's `tessera.toml`.
pub const ADMIN_TOKEN: &str = "bench-admin-token";

/// `[limits] requests-per-second` (and `request-burst`) of the benchmark portal. The
/// harness's load all comes from 127.0.0.1, which the default per-address limit (50/s,
/// burst 100) would answer with 429 after the first hundred requests. A limit this
/// high is never reached, yet keeps the limiter in the request path (0 would remove
/// its layer), so the measured node pays what a deployed one pays.
pub const RATE_LIMIT_PER_SECOND: u32 = 1_000_000;

/// Every service's total timeout: the fragment timeout of issue #9 S3. The healthy
/// backends answer within 40 ms, so it only ever matters for a hanging one.
pub const SERVICE_TIMEOUT_MS: u64 = 200;

/// Every service's breaker: opens once at least 5 of the last 10 calls failed (timeouts
/// count), and stays open for an hour, i.e. for the whole run once it opened.
pub const BREAKER: &str =
    r#"<breaker window="10" min-calls="5" failure-rate="50%" open-for="1h"/>"#;

/// The layout: every slot with its id and status, so that a page can be checked.
/// `</div>` never occurs inside a fragment's markup (see [`FRAGMENT_TEMPLATE`]), which
/// is what lets [`crate::check`] find a slot's end.
const LAYOUT: &str = concat!(
    "<!doctype html><html><head><title>{{ page.title }}</title></head><body>\n",
    "{% for name, slots in regions|items %}",
    "<section id=\"region-{{ name }}\">\n",
    "{% for f in slots %}",
    "<div class=\"slot\" id=\"slot-{{ f.id }}\" data-status=\"{{ f.status }}\">{{ f.html }}</div>\n",
    "{% endfor %}",
    "</section>\n",
    "{% endfor %}",
    "</body></html>\n",
);

/// Renders a backend's items as a list of links.
const FRAGMENT_TEMPLATE: &str = concat!(
    "<ul>",
    "{% for item in model[\"items\"] %}",
    "<li><a href=\"{{ item.url }}\">{{ item.title }}</a> <small>{{ item.summary }}</small></li>",
    "{% endfor %}",
    "</ul>",
);

/// The id of fragment `i` (0-based), as it appears in the page (`slot-frag3`).
pub fn fragment_id(i: usize) -> String {
    format!("frag{}", i + 1)
}

/// The id of service `i` (0-based), as the admin API names it.
pub fn service_id(i: usize) -> String {
    format!("svc{}", i + 1)
}

/// The text fallback of fragment `i`, shown when its service fails or is short-circuited.
pub fn fallback_text(i: usize) -> String {
    format!("Fragment {} is unavailable right now.", i + 1)
}

/// What varies between the benchmark portals: everything else (page, layout,
/// templates, services, breakers, fallbacks) is the same in every scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalSpec {
    /// A `<lifecycle>` element written into every fragment (`None`: none, so the
    /// backends' `Cache-Control: no-store` keeps everything uncached).
    pub lifecycle: Option<&'static str>,
    /// The first this many fragments are per user: their backend path ends in
    /// `/{user.id}`, so their source, rendered markup and the page are per user.
    pub per_user_fragments: usize,
    /// `[auth.header] secret`: trust `X-Remote-User` on requests carrying this secret in
    /// `X-Tessera-Proxy-Secret` (single sign-on by a trusted proxy).
    pub sso_secret: Option<&'static str>,
    /// `[cache] max-bytes` (`None`: the default, 256 MiB).
    pub cache_max_bytes: Option<u64>,
    /// Services as a steady portal has them: a 5 s timeout and the default breaker,
    /// instead of [`SERVICE_TIMEOUT_MS`] and [`BREAKER`] (which open for an hour after a
    /// few slow calls — right for the hung-backend scenarios, wrong for a long warm-up on
    /// a busy machine, where a page slowed by something else would leave every later
    /// page with fallbacks); and a page deadline of 10 s instead of 1 s.
    pub steady_services: bool,
}

/// The lifecycle of `cached8` and S1: fresh for an hour, i.e. for the whole run once
/// warmed. A written `ttl` wins over the backends' `no-store`.
pub const LONG_LIFECYCLE: &str = r#"<lifecycle ttl="1h"/>"#;

/// Writes the benchmark portal with service `i` pointing at `backend_urls[i]`.
pub fn write(backend_urls: &[String]) -> PortalDir {
    write_with(backend_urls, &PortalSpec::default())
}

/// Writes the benchmark portal as `spec` says.
pub fn write_with(backend_urls: &[String], spec: &PortalSpec) -> PortalDir {
    let dir = PortalDir::new();
    let mut toml = format!(
        "[portal]\nname = \"Tessera bench\"\nhome = \"home\"\n\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n[limits]\nrequests-per-second = {RATE_LIMIT_PER_SECOND}\nrequest-burst = {RATE_LIMIT_PER_SECOND}\n"
    );
    if let Some(secret) = spec.sso_secret {
        toml.push_str(&format!("\n[auth.header]\nsecret = \"{secret}\"\n"));
    }
    if let Some(bytes) = spec.cache_max_bytes {
        toml.push_str(&format!("\n[cache]\nmax-bytes = {bytes}\n"));
    }
    dir.file("config/tessera.toml", &toml);
    dir.template("layouts/bench.html", LAYOUT);
    dir.template("fragments/items.html", FRAGMENT_TEMPLATE);
    let lifecycle = spec
        .lifecycle
        .map_or_else(String::new, |l| format!("  {l}\n"));
    let mut slots = String::new();
    for (i, url) in backend_urls.iter().enumerate() {
        let (service, fragment) = (service_id(i), fragment_id(i));
        let service_xml = if spec.steady_services {
            format!("<service id=\"{service}\" base-url=\"{url}\" timeout=\"5s\"/>\n")
        } else {
            format!(
                "<service id=\"{service}\" base-url=\"{url}\" timeout=\"{SERVICE_TIMEOUT_MS}ms\">{BREAKER}</service>\n"
            )
        };
        dir.file(&format!("config/services/{service}.xml"), &service_xml);
        let user = if i < spec.per_user_fragments {
            "/{user.id}"
        } else {
            ""
        };
        dir.fragment_xml(
            &fragment,
            &format!(
                "<fragment id=\"{fragment}\" service=\"{service}\" path=\"/items/{n}{user}\" title=\"Fragment {n}\">\n  <template>fragments/items.html</template>\n  <fallback>{fallback}</fallback>\n{lifecycle}</fragment>\n",
                n = i + 1,
                fallback = fallback_text(i),
            ),
        );
        slots.push_str(&format!("    <fragment ref=\"{fragment}\"/>\n"));
    }
    let page_timeout = if spec.steady_services { "10s" } else { "1s" };
    dir.page_xml(
        "home",
        &format!(
            "<page id=\"home\" title=\"Bench\" layout=\"layouts/bench.html\" timeout=\"{page_timeout}\">\n  <region name=\"main\">\n{slots}  </region>\n</page>\n"
        ),
    );
    dir
}

/// A JSON body `{"items": [...]}` of at least `bytes` bytes (and less than one item
/// more), the same for every backend so that fragments weigh the same.
pub fn payload(bytes: usize) -> String {
    let mut items = Vec::new();
    let mut len = "{\"items\":[]}".len();
    let mut n = 0;
    while len < bytes {
        let item = format!(
            "{{\"id\":{n},\"title\":\"Benchmark headline number {n}\",\"url\":\"https://example.invalid/news/{n}\",\"summary\":\"A short teaser text for item {n}, long enough to look like one.\"}}"
        );
        len += item.len() + usize::from(n > 0);
        items.push(item);
        n += 1;
    }
    format!("{{\"items\":[{}]}}", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_about_the_asked_size_and_valid_json() {
        let body = payload(FRAGMENT_BYTES);
        assert!(body.len() >= FRAGMENT_BYTES, "{}", body.len());
        assert!(body.len() < FRAGMENT_BYTES + 200, "{}", body.len());
        let value: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert!(value["items"].as_array().is_some_and(|a| a.len() > 10));
    }
}
