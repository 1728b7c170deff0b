//! Typed descriptor definitions: what the rest of the engine consumes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::diag::Location;
use crate::path::PathTemplate;

/// How a backend's body is read into a fragment's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Parsed as JSON into the model.
    Json,
    /// Parsed as XML into the model (elements become maps, see docs/descriptors.md).
    Xml,
    /// Ready-made markup, embedded as is (the way ESI embeds fragments).
    Html,
    /// Plain text, escaped when rendered.
    Text,
}

impl Format {
    pub const NAMES: [&'static str; 4] = ["json", "xml", "html", "text"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "json" => Self::Json,
            "xml" => Self::Xml,
            "html" => Self::Html,
            "text" => Self::Text,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Xml => "xml",
            Self::Html => "html",
            Self::Text => "text",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A backend service (`services/*.xml`).
#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub id: String,
    pub location: Location,
    /// Scheme, host and port (and optional path prefix), without a trailing slash.
    /// Only operators set it: in the descriptor, or overridden in `tessera.toml`.
    pub base_url: String,
    /// Total time allowed for one call, from connecting to the last byte of the body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub format: Format,
    pub description: Option<String>,
    /// Bulkhead: calls in flight at once; more wait in the queue or are rejected.
    pub max_concurrent: u32,
    /// Calls that may wait for a bulkhead slot (0: reject at once when full).
    pub queue: u32,
    pub breaker: BreakerDef,
    pub retry: RetryDef,
    pub health: Option<HealthDef>,
    /// Longest wait between two reads of a response: a backend that trickles its body
    /// byte by byte fails here, long before its total timeout.
    pub read_timeout: Duration,
    /// Follow redirects the backend sends (to allowed hosts only); off by default.
    pub follow_redirects: bool,
}

/// How a breaker's sliding window is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowDef {
    /// The last N calls.
    Calls(u32),
    /// The calls of the last duration.
    Time(Duration),
}

/// Circuit-breaker policy (`<breaker>`); rates are fractions from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerDef {
    pub window: WindowDef,
    pub min_calls: u32,
    pub failure_rate: f64,
    pub slow_call: Option<Duration>,
    pub slow_call_rate: f64,
    pub open_for: Duration,
    pub half_open_probes: u32,
    pub consecutive_failures: Option<u32>,
}

impl Default for BreakerDef {
    fn default() -> Self {
        Self {
            window: WindowDef::Calls(20),
            min_calls: 10,
            failure_rate: 0.5,
            slow_call: None,
            slow_call_rate: 1.0,
            open_for: Duration::from_secs(5),
            half_open_probes: 3,
            consecutive_failures: None,
        }
    }
}

/// Retries of idempotent GETs (`<retry>`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryDef {
    /// Retries per call at most (0 disables retrying).
    pub attempts: u32,
    /// Retries may add at most this fraction of calls (over a 10 s window)...
    pub budget: f64,
    /// ...plus this many per second, so a quiet service can still retry.
    pub min_per_second: u32,
}

impl Default for RetryDef {
    fn default() -> Self {
        Self {
            attempts: 1,
            budget: 0.2,
            min_per_second: 1,
        }
    }
}

/// A health probe (`<health>`), run while the breaker is open or the service disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthDef {
    pub path: String,
    pub every: Duration,
    pub timeout: Duration,
}

/// What invalidating an entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalidate {
    /// Drop the entry; the next request fetches afresh.
    #[default]
    Evict,
    /// Keep serving the entry while it is fetched and rendered again in the background.
    Refresh,
}

/// How long a fragment's content stays usable (`<lifecycle>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LifecycleDef {
    /// Fresh for this long. `None`: as long as the backend's `Cache-Control` says
    /// (`max-age`/`s-maxage`; `no-store`/`no-cache` mean not at all), else not at all.
    pub ttl: Option<Duration>,
    /// After `ttl`, served stale for this long while one background refresh runs.
    pub stale_while_revalidate: Duration,
    /// After `ttl`, served stale for this long when the backend fails, times out, is
    /// disabled or its breaker is open.
    pub stale_if_error: Duration,
    /// Revalidate with the backend on every use (conditional request; a 304 keeps all
    /// derived stages).
    pub validate_always: bool,
    /// Browser `max-age` for pages holding this fragment (the page takes the minimum).
    pub max_age: Option<Duration>,
    pub on_invalidate: OnInvalidate,
}

/// A fragment's reference to a named lifecycle, with the attributes it overrides.
#[derive(Debug, Clone)]
pub struct LifecycleRef {
    pub id: String,
    pub location: Location,
    /// Attribute names given next to `ref`; they win over the named lifecycle's.
    pub overridden: Vec<String>,
}

impl LifecycleDef {
    /// `named`, with the `overridden` attributes taken from `self`.
    pub fn over(&self, named: &LifecycleDef, overridden: &[String]) -> LifecycleDef {
        let mut out = named.clone();
        for a in overridden {
            match a.as_str() {
                "ttl" => out.ttl = self.ttl,
                "stale-while-revalidate" => {
                    out.stale_while_revalidate = self.stale_while_revalidate
                }
                "stale-if-error" => out.stale_if_error = self.stale_if_error,
                "validate-always" => out.validate_always = self.validate_always,
                "max-age" => out.max_age = self.max_age,
                "on-invalidate" => out.on_invalidate = self.on_invalidate,
                _ => {}
            }
        }
        out
    }
}

/// A named lifecycle (`lifecycles/*.xml`) that fragments refer to and override.
#[derive(Debug, Clone)]
pub struct NamedLifecycle {
    pub id: String,
    pub location: Location,
    pub lifecycle: LifecycleDef,
}

/// A fragment's parameter type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    Int,
    Bool,
    /// A comma-separated list of strings.
    List,
}

impl ParamType {
    pub const NAMES: [&'static str; 4] = ["string", "int", "bool", "list"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "int" => Self::Int,
            "bool" => Self::Bool,
            "list" => Self::List,
            _ => return None,
        })
    }
}

/// A declared fragment parameter (`<param>`).
#[derive(Debug, Clone)]
pub struct ParamDef {
    pub name: String,
    pub location: Location,
    pub kind: ParamType,
    pub default: ParamValue,
    /// The values allowed (for `list`, each item must be one of them).
    pub choices: Option<Vec<String>>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// A resolved parameter value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    String(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl ParamValue {
    /// The value as it is substituted into a backend path (lists joined by commas).
    pub fn to_path_value(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            Self::Int(i) => i.to_string(),
            Self::Bool(b) => b.to_string(),
            Self::List(items) => items.join(","),
        }
    }
}

impl ParamDef {
    /// Parses and checks a value given as text (descriptor default, page override, user
    /// setting) against this declaration. The error is a sentence for the one who wrote it.
    pub fn parse_value(&self, raw: &str) -> Result<ParamValue, String> {
        let value = match self.kind {
            ParamType::String => ParamValue::String(raw.to_owned()),
            ParamType::Int => ParamValue::Int(raw.trim().parse().map_err(|_| {
                format!(
                    "parameter \"{}\" takes a whole number, not \"{raw}\"",
                    self.name
                )
            })?),
            ParamType::Bool => ParamValue::Bool(match raw.trim() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(format!(
                        "parameter \"{}\" takes true or false, not \"{raw}\"",
                        self.name
                    ))
                }
            }),
            ParamType::List => ParamValue::List(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        };
        self.check(&value)?;
        Ok(value)
    }

    fn check(&self, value: &ParamValue) -> Result<(), String> {
        if let ParamValue::Int(i) = value {
            if let Some(min) = self.min.filter(|m| i < m) {
                return Err(format!(
                    "parameter \"{}\" must be at least {min}, not {i}",
                    self.name
                ));
            }
            if let Some(max) = self.max.filter(|m| i > m) {
                return Err(format!(
                    "parameter \"{}\" must be at most {max}, not {i}",
                    self.name
                ));
            }
        }
        if let Some(choices) = &self.choices {
            let items: Vec<&str> = match value {
                ParamValue::List(items) => items.iter().map(String::as_str).collect(),
                ParamValue::String(s) => vec![s.as_str()],
                _ => Vec::new(),
            };
            if let Some(bad) = items.iter().find(|i| !choices.iter().any(|c| c == *i)) {
                return Err(format!(
                    "parameter \"{}\" does not allow \"{bad}\"; choose from: {}",
                    self.name,
                    choices.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Where a fragment's data comes from, when it has a backend.
#[derive(Debug, Clone)]
pub struct SourceDef {
    pub service: String,
    pub service_location: Location,
    pub path: PathTemplate,
    /// Overrides the service's format; `None` means "the service's".
    pub format: Option<Format>,
}

/// What a fragment shows when it has no good content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Rendered with `fragment`, `status` and `message`.
    Template(String),
    /// A plain message, escaped.
    Message(String),
}

/// A reference from a composite fragment to a child.
#[derive(Debug, Clone)]
pub struct Include {
    pub fragment: String,
    pub location: Location,
}

/// A fragment (`fragments/*.xml`).
#[derive(Debug, Clone)]
pub struct FragmentDef {
    pub id: String,
    pub location: Location,
    /// A hash of the descriptor's document: cached stages derived from this definition
    /// are keyed by it, so a changed definition never meets entries of the old one.
    pub fingerprint: u64,
    pub title: String,
    pub description: Option<String>,
    /// `None` for fragments without a backend (static content, request data).
    pub source: Option<SourceDef>,
    /// A dotted path selecting part of the parsed model (`items`, `summary.index`).
    pub select: Option<Vec<String>>,
    pub params: Vec<ParamDef>,
    /// The template that renders the model; optional only for `html` sources.
    pub template: Option<String>,
    pub template_location: Option<Location>,
    pub fallback: Option<Fallback>,
    pub fallback_location: Option<Location>,
    pub includes: Vec<Include>,
    pub lifecycle: LifecycleDef,
    /// `<lifecycle ref="…">`: resolved into `lifecycle` when the set is built.
    pub lifecycle_ref: Option<LifecycleRef>,
    /// Object keys this fragment's content depends on (`<depends-on object="…"/>`);
    /// invalidating one of them invalidates the fragment's entries.
    pub depends_on: Vec<String>,
    /// Access tokens a user needs, all of them, to see the fragment (`<access>`).
    pub access: Vec<String>,
    /// Users may add it to customizable pages (`catalog="true"`).
    pub catalog: bool,
    /// Stylesheets and scripts the fragment needs (`<asset css|js="…"/>`); a page lists
    /// each once in its head, however many fragments use it.
    pub assets: Vec<Asset>,
}

/// A stylesheet or script a fragment needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(tag = "kind", content = "href", rename_all = "lowercase")]
pub enum Asset {
    Css(String),
    Js(String),
}

/// How a page reaches the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// The whole page at once, when every fragment is done (or the deadline passed).
    #[default]
    Buffered,
    /// Streamed in document order: each part flushed as soon as everything before it is
    /// ready. No JavaScript needed.
    InOrder,
    /// The skeleton and ready fragments first; every other fragment streamed the moment
    /// it completes and moved into its slot by a small inline script (without
    /// JavaScript it shows at the end of the page).
    OutOfOrder,
}

impl Delivery {
    pub const NAMES: [&'static str; 3] = ["buffered", "in-order", "out-of-order"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "buffered" => Self::Buffered,
            "in-order" => Self::InOrder,
            "out-of-order" => Self::OutOfOrder,
            _ => return None,
        })
    }
}

impl FragmentDef {
    pub fn param(&self, name: &str) -> Option<&ParamDef> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The parameters' default values, by name.
    pub fn default_params(&self) -> BTreeMap<String, ParamValue> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.default.clone()))
            .collect()
    }
}

/// A fragment placed in a page region.
#[derive(Debug, Clone)]
pub struct SlotDef {
    pub fragment: String,
    pub location: Location,
    /// The layout may leave an optional slot out when it has no content.
    pub optional: bool,
    /// Page-level parameter values (checked against the fragment's declarations).
    pub params: BTreeMap<String, ParamValue>,
    /// The response status (and first flush) waits for primary fragments; their failure
    /// decides the status.
    pub primary: bool,
}

#[derive(Debug, Clone)]
pub struct RegionDef {
    pub name: String,
    pub location: Location,
    pub slots: Vec<SlotDef>,
}

/// A page (`pages/*.xml`).
#[derive(Debug, Clone)]
pub struct PageDef {
    pub id: String,
    pub location: Location,
    /// A hash of the descriptor's document (see [`FragmentDef::fingerprint`]).
    pub fingerprint: u64,
    pub title: String,
    pub layout: String,
    pub layout_location: Location,
    /// The page deadline: no fragment is waited for longer.
    pub timeout: Duration,
    /// Listed in the navigation.
    pub nav: bool,
    /// Position in the navigation (lower first, then by id).
    pub order: i64,
    pub regions: Vec<RegionDef>,
    /// A browser `max-age` cap for the page (`<lifecycle max-age="…"/>`).
    pub max_age: Option<Duration>,
    /// Access tokens a user needs, all of them, to see the page (`<access>`).
    pub access: Vec<String>,
    /// Users may add, remove, reorder and minimize its fragments.
    pub customizable: bool,
    pub delivery: Delivery,
}

impl PageDef {
    pub fn slots(&self) -> impl Iterator<Item = &SlotDef> {
        self.regions.iter().flat_map(|r| r.slots.iter())
    }
}
