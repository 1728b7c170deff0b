//! `tessera.toml`: portal-wide settings that are not descriptors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::diag::{Diagnostic, Location};
use crate::duration::parse_duration;
use crate::xml::LineIndex;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    #[serde(default)]
    pub portal: PortalSettings,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub limits: Limits,
    /// Operator overrides per service id: where each backend really is in this
    /// deployment. Only operators edit this file; fragment descriptors never name URLs.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceOverride>,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub cache: CacheSettings,
    #[serde(default)]
    pub access: AccessSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub profile: ProfileSettings,
    #[serde(default)]
    pub observability: ObservabilitySettings,
    #[serde(default)]
    pub security: SecuritySettings,
}

/// What the portal lets backends and their data do.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecuritySettings {
    /// When set, backends (and redirects they send) may only be on these hosts:
    /// exact names (`news.internal`), wildcard suffixes (`*.internal`), addresses or
    /// networks (`10.0.0.0/8`, `::1`). Empty: any host a service descriptor names.
    #[serde(default)]
    pub backend_hosts: Vec<String>,
    /// Fragments whose ready-made HTML is embedded raw, unsanitized. Only operators edit
    /// this file; every other `html` backend's markup is sanitized.
    #[serde(default)]
    pub raw_html_fragments: Vec<String>,
}

impl SecuritySettings {
    /// Whether `host` is allowed by `backend-hosts` (always, when it is empty).
    pub fn allows_host(&self, host: &str) -> bool {
        if self.backend_hosts.is_empty() {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let ip: Option<std::net::IpAddr> = host.parse().ok();
        self.backend_hosts.iter().any(|rule| {
            let rule = rule.to_ascii_lowercase();
            if let Some(suffix) = rule.strip_prefix("*.") {
                return host.ends_with(&format!(".{suffix}"));
            }
            if let (Some(ip), Ok(net)) = (ip, rule.parse::<ipnet::IpNet>()) {
                return net.contains(&ip);
            }
            if let (Some(ip), Ok(one)) = (ip, rule.parse::<std::net::IpAddr>()) {
                return ip == one;
            }
            host == rule
        })
    }
}

/// Access tokens: what each role grants. Code never asks for a role or customer type,
/// only for tokens; a user's tokens are the union of their roles' tokens and their own
/// extra tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccessSettings {
    /// Tokens of visitors who are not signed in.
    #[serde(default = "default_anonymous_tokens")]
    pub anonymous: Vec<String>,
    /// Tokens every signed-in user has.
    #[serde(default)]
    pub authenticated: Vec<String>,
    /// Role name → tokens.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// The token that opens the operator console and admin API for a signed-in user.
    #[serde(default = "default_operator_token")]
    pub operator_token: String,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            anonymous: default_anonymous_tokens(),
            authenticated: Vec::new(),
            roles: BTreeMap::new(),
            operator_token: default_operator_token(),
        }
    }
}

fn default_anonymous_tokens() -> Vec<String> {
    vec!["public".into()]
}
fn default_operator_token() -> String {
    "portal.operate".into()
}

/// How users are identified.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthSettings {
    /// A session ends this long after its last use…
    #[serde(default = "default_idle", deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// …and at the latest this long after sign-in.
    #[serde(default = "default_absolute", deserialize_with = "duration")]
    pub absolute_timeout: Duration,
    /// Mark cookies `Secure` (set it when the portal is served over TLS).
    #[serde(default)]
    pub cookie_secure: bool,
    /// Failed sign-ins allowed per user and per client address within the window.
    #[serde(default = "default_max_failures")]
    pub max_login_failures: u32,
    #[serde(default = "default_failure_window", deserialize_with = "duration")]
    pub login_failure_window: Duration,
    /// Trust an identity header set by an upstream single-sign-on proxy (off unless set).
    #[serde(default)]
    pub header: Option<HeaderAuth>,
    /// How long a signed-in user's record and profile, once read from the store, are
    /// reused for their next requests ("0s": read them on every request). Changes made
    /// through a node take effect at once on every node; changes written to the store
    /// some other way within this time.
    #[serde(default = "default_identity_ttl", deserialize_with = "duration")]
    pub identity_cache_ttl: Duration,
    /// How many users' identities the cache above keeps at most.
    #[serde(default = "default_identity_cache_size")]
    pub identity_cache_size: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            idle_timeout: default_idle(),
            absolute_timeout: default_absolute(),
            cookie_secure: false,
            max_login_failures: default_max_failures(),
            login_failure_window: default_failure_window(),
            header: None,
            identity_cache_ttl: default_identity_ttl(),
            identity_cache_size: default_identity_cache_size(),
        }
    }
}

/// Single sign-on by a trusted proxy: the identity header counts only when the request
/// also carries the shared secret, so a client cannot claim an identity by itself.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HeaderAuth {
    #[serde(default = "default_user_header")]
    pub user_header: String,
    #[serde(default = "default_secret_header")]
    pub secret_header: String,
    pub secret: String,
}

fn default_idle() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_absolute() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn default_max_failures() -> u32 {
    5
}
fn default_failure_window() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_identity_ttl() -> Duration {
    Duration::from_secs(5)
}
fn default_identity_cache_size() -> u64 {
    10_000
}
fn default_user_header() -> String {
    "X-Remote-User".into()
}
fn default_secret_header() -> String {
    "X-Tessera-Proxy-Secret".into()
}

/// Profile defaults below the users' own values: segment defaults, then portal defaults
/// (then the descriptors' parameter defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileSettings {
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Checked in order; a user's explicit segment wins, else the first that matches.
    #[serde(default)]
    pub segments: Vec<SegmentRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SegmentRule {
    pub name: String,
    /// Matches users having any of these roles (any user when empty)…
    #[serde(default)]
    pub roles: Vec<String>,
    /// …and all of these attribute values.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
}

/// The fragment cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheSettings {
    /// The most memory cached entries may weigh (bytes of keys and values); beyond it
    /// the least valuable entries are evicted.
    #[serde(default = "default_cache_bytes")]
    pub max_bytes: u64,
    /// The backend response header that lists the object keys a response depends on.
    #[serde(default = "default_object_key_header")]
    pub object_key_header: String,
    /// Object keys taken from one response; more are dropped (and logged once).
    #[serde(default = "default_max_object_keys")]
    pub max_object_keys: usize,
    /// Longest object-key header read; the rest is dropped (and logged once).
    #[serde(default = "default_max_object_key_header_bytes")]
    pub max_object_key_header_bytes: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: default_cache_bytes(),
            object_key_header: default_object_key_header(),
            max_object_keys: default_max_object_keys(),
            max_object_key_header_bytes: default_max_object_key_header_bytes(),
        }
    }
}

fn default_cache_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_object_key_header() -> String {
    "Surrogate-Key".into()
}
fn default_max_object_keys() -> usize {
    64
}
fn default_max_object_key_header_bytes() -> usize {
    4096
}

/// The operator console (`/admin`) and the admin API (`/admin/api/`).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminSettings {
    /// A static bearer token for the admin API. Without one (here or in the
    /// `TESSERA_ADMIN_TOKEN` environment variable) the admin API answers 503.
    #[serde(default)]
    pub token: Option<String>,
    /// A separate listen address for `/admin` (console and admin API). When set,
    /// `tessera serve` answers `/admin` only there — a port a firewall can keep
    /// internal — and the public listener answers it with 404. `None`: `/admin` is
    /// served on the public listener.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

// Secrets never reach logs, not even through `{:?}`.
impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("listen", &self.listen)
            .finish()
    }
}

impl std::fmt::Debug for HeaderAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderAuth")
            .field("user_header", &self.user_header)
            .field("secret_header", &self.secret_header)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Shortest admin token accepted: long enough that guessing it is hopeless.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Why an admin token is unacceptable, if it is.
pub fn check_admin_token(token: &str) -> Option<String> {
    if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
        Some(format!(
            "must be at least {MIN_ADMIN_TOKEN_LEN} characters long"
        ))
    } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain spaces or control characters".into())
    } else {
        None
    }
}

/// Where persistent state lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreSettings {
    /// `sqlite://path/to/file.db` (relative to the working directory) or
    /// `postgres://…`; `TESSERA_DATABASE_URL` overrides it.
    #[serde(default = "default_store_url")]
    pub url: String,
    /// Whether the node stays ready (`/readyz` 200) while the store is unreachable or
    /// its cluster bus reconnects, serving from its cache and last known state. Off: a
    /// load balancer takes such a node out of rotation — all of them, when the database
    /// itself is down (see `docs/operations.md`).
    #[serde(default)]
    pub optional: bool,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: default_store_url(),
            optional: false,
        }
    }
}

fn default_store_url() -> String {
    "sqlite://data/tessera.db".into()
}

/// How a node takes part in a cluster of nodes sharing a PostgreSQL store (see
/// `docs/operations.md`). Without PostgreSQL there is no cluster and this is unused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSettings {
    /// This node's id in cluster messages, logs and `pg_stat_activity`
    /// (`tessera-bus:<id>`); `TESSERA_NODE_ID` overrides it. Unset: a random
    /// `node-xxxxxxxx` per start. At most 40 characters of `A-Z a-z 0-9 . _ -`.
    #[serde(default, deserialize_with = "node_id")]
    pub node_id: Option<String>,
    /// How often the node checks that its bus connection still answers (`SELECT 1`)
    /// and reconciles its toggles and descriptor set with the store (two small
    /// queries). A listening connection whose peer vanished without closing it (a
    /// failover, a partition) is noticed within twice this time, and a change whose
    /// announcement was lost (its node crashed right after saving it) within once.
    #[serde(default = "default_heartbeat", deserialize_with = "duration")]
    pub heartbeat: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            node_id: None,
            heartbeat: default_heartbeat(),
        }
    }
}

fn default_heartbeat() -> Duration {
    Duration::from_secs(5)
}

/// Longest node id: `tessera-bus:` and the id fit PostgreSQL's 63-byte
/// `application_name`.
pub const MAX_NODE_ID_LEN: usize = 40;

/// Why a node id is unacceptable, if it is.
pub fn check_node_id(id: &str) -> Option<String> {
    if id.is_empty() || id.len() > MAX_NODE_ID_LEN {
        return Some(format!("a node id has 1 to {MAX_NODE_ID_LEN} characters"));
    }
    id.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .map(|c| format!("a node id has only letters, digits, '.', '_' and '-', not {c:?}"))
}

fn node_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = String::deserialize(d)?;
    match check_node_id(&id) {
        Some(problem) => Err(serde::de::Error::custom(problem)),
        None => Ok(Some(id)),
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;

    #[test]
    fn cluster_settings_default_and_node_ids_are_checked() {
        let s = Settings::parse("t.toml", "").expect("valid");
        assert_eq!(s.cluster.node_id, None);
        assert_eq!(s.cluster.heartbeat, Duration::from_secs(5));
        let s = Settings::parse(
            "t.toml",
            "[cluster]\nnode-id = \"web-1.eu_a\"\nheartbeat = \"2s\"\n",
        )
        .expect("valid");
        assert_eq!(s.cluster.node_id.as_deref(), Some("web-1.eu_a"));
        assert_eq!(s.cluster.heartbeat, Duration::from_secs(2));
        for (text, message) in [
            (
                "[cluster]\nnode-id = \"web 1\"\n",
                "t.toml:2:11: a node id has only letters, digits, '.', '_' and '-', not ' '",
            ),
            (
                "[cluster]\nnode-id = \"\"\n",
                "t.toml:2:11: a node id has 1 to 40 characters",
            ),
            (
                "[cluster]\nnode-id = \"nödé\"\n",
                "t.toml:2:11: a node id has only letters, digits, '.', '_' and '-', not 'ö'",
            ),
            (
                "[cluster]\nnode = \"a\"\n",
                "t.toml:2:1: unknown field `node`, expected `node-id` or `heartbeat`",
            ),
        ] {
            let e = Settings::parse("t.toml", text).expect_err(text);
            assert_eq!(e.to_string(), message, "{text}");
        }
        assert!(check_node_id(&"a".repeat(MAX_NODE_ID_LEN)).is_none());
        assert!(check_node_id(&"a".repeat(MAX_NODE_ID_LEN + 1)).is_some());
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortalSettings {
    /// Shown in page titles and the header.
    #[serde(default = "default_name")]
    pub name: String,
    /// The page served at `/`.
    #[serde(default = "default_home")]
    pub home: String,
    /// The page deadline for pages that do not set their own `timeout`.
    #[serde(default = "default_page_timeout", deserialize_with = "duration")]
    pub page_timeout: Duration,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            name: default_name(),
            home: default_home(),
            page_timeout: default_page_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerSettings {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// On SIGTERM, requests in flight get this long to finish before the node exits.
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            shutdown_grace: default_grace(),
        }
    }
}

/// Size limits. Each bounds what one untrusted input can make a node hold in memory.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Largest descriptor file accepted (a page with hundreds of slots is ~50 KB).
    #[serde(default = "default_max_descriptor_bytes")]
    pub max_descriptor_bytes: usize,
    /// Largest template file accepted.
    #[serde(default = "default_max_template_bytes")]
    pub max_template_bytes: usize,
    /// Deepest XML nesting accepted in descriptors (real ones need 4).
    #[serde(default = "default_max_xml_depth")]
    pub max_xml_depth: usize,
    /// Largest backend response body read; larger bodies make the fragment an `error`.
    #[serde(default = "default_max_backend_body_bytes")]
    pub max_backend_body_bytes: usize,
    /// Template instructions one render may execute; a runaway loop fails instead of
    /// holding a core (a rich homepage layout needs about ten thousand).
    #[serde(default = "default_max_template_fuel")]
    pub max_template_fuel: u64,
    /// Backend calls in flight at once across all services; beyond it calls are
    /// rejected at once, so a node's sockets and memory stay bounded whatever the load.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_backend_calls: u32,
    /// Largest request body accepted from users (forms, JSON); larger ones get 413.
    #[serde(default = "default_max_request_body")]
    pub max_request_body_bytes: usize,
    /// Requests per second allowed per session (or client address without one), with a
    /// burst of `request-burst`; beyond it 429 with `Retry-After`. 0 turns it off.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    #[serde(default = "default_burst")]
    pub request_burst: u32,
}

fn default_max_request_body() -> usize {
    64 * 1024
}
fn default_rps() -> u32 {
    50
}
fn default_burst() -> u32 {
    100
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_descriptor_bytes: default_max_descriptor_bytes(),
            max_template_bytes: default_max_template_bytes(),
            max_xml_depth: default_max_xml_depth(),
            max_backend_body_bytes: default_max_backend_body_bytes(),
            max_template_fuel: default_max_template_fuel(),
            max_in_flight_backend_calls: default_max_in_flight(),
            max_request_body_bytes: default_max_request_body(),
            requests_per_second: default_rps(),
            request_burst: default_burst(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceOverride {
    pub base_url: String,
}

fn default_name() -> String {
    "Tessera".into()
}
fn default_home() -> String {
    "home".into()
}
fn default_page_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_max_descriptor_bytes() -> usize {
    256 * 1024
}
fn default_max_template_bytes() -> usize {
    256 * 1024
}
fn default_max_xml_depth() -> usize {
    32
}
fn default_max_backend_body_bytes() -> usize {
    1024 * 1024
}

fn default_max_in_flight() -> u32 {
    4096
}
fn default_max_template_fuel() -> u64 {
    1_000_000
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

impl Settings {
    /// Parses `tessera.toml`; the error points at the offending key.
    pub fn parse(file: &str, text: &str) -> Result<Self, Diagnostic> {
        toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let location = LineIndex::new(text).location(file, offset);
            Diagnostic::new(location, e.message().trim().to_owned())
        })
    }

    /// Where `tessera.toml` problems that concern the file as a whole are reported.
    pub fn location(file: &str) -> Location {
        Location::file_start(file)
    }
}

/// What the portal shows of itself: `/metrics`, the `Server-Timing` header, logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObservabilitySettings {
    /// `Server-Timing` on HTML pages (one entry per fragment with its duration and
    /// origin). On by default; switch it off where visitors should not see which
    /// fragments are slow or cached.
    #[serde(default = "yes")]
    pub server_timing: bool,
    /// Serve Prometheus metrics at `/metrics`. On by default; switch it off, or keep the
    /// path off the public listener at the proxy, for public deployments.
    #[serde(default = "yes")]
    pub metrics: bool,
    /// `text` (human-readable, the default) or `json` (one JSON object per line). The
    /// `TESSERA_LOG_FORMAT` environment variable overrides it.
    #[serde(default)]
    pub log_format: LogFormat,
    /// The OpenTelemetry collector to export traces to (OTLP over HTTP/protobuf), as its
    /// base URL: `http://127.0.0.1:4318` sends to `http://127.0.0.1:4318/v1/traces`.
    /// `None` (the default): no export. The standard `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` environment variables override it.
    #[serde(default, deserialize_with = "otlp_endpoint")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans (`OTEL_SERVICE_NAME` overrides it).
    #[serde(default = "default_otlp_service_name")]
    pub otlp_service_name: String,
    /// The share of new traces exported, from 0.0 to 1.0. A trace continued from a
    /// caller's `traceparent` follows the caller's sampled flag instead.
    #[serde(default = "default_sampling_ratio", deserialize_with = "ratio")]
    pub otlp_sampling_ratio: f64,
}

impl Default for ObservabilitySettings {
    fn default() -> Self {
        Self {
            server_timing: true,
            metrics: true,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            otlp_service_name: default_otlp_service_name(),
            otlp_sampling_ratio: default_sampling_ratio(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_otlp_service_name() -> String {
    "tessera".to_owned()
}

fn default_sampling_ratio() -> f64 {
    1.0
}

fn otlp_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    check_otlp_endpoint(&s).map_err(serde::de::Error::custom)?;
    Ok(Some(s))
}

fn ratio<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let r = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(serde::de::Error::custom(format!(
            "{r} is not a ratio from 0.0 to 1.0"
        )))
    }
}

/// Whether `url` can be an OTLP/HTTP collector endpoint: `http://host[:port][/path]`.
/// `https` is refused here, at startup, rather than failing every export later: the
/// portal is built without TLS (a collector or agent on the same host or network is
/// the usual setup).
pub fn check_otlp_endpoint(url: &str) -> Result<(), String> {
    let example = "expected e.g. \"http://127.0.0.1:4318\"";
    if url.starts_with("https://") {
        return Err(format!("\"{url}\": https is not supported (this build has no TLS); send to a collector reachable over http, {example}"));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("\"{url}\" is not an http:// URL; {example}"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{url}\" contains spaces or control characters"));
    }
    if rest.contains(['?', '#']) {
        return Err(format!("\"{url}\" has a query or fragment; {example}"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "\"{url}\" carries credentials; set them as headers with OTEL_EXPORTER_OTLP_HEADERS"
        ));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => (h, p.strip_prefix(':')),
            _ => return Err(format!("\"{url}\" has an invalid IPv6 address")),
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let host_chars = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if host.is_empty() || (!authority.starts_with('[') && !host.chars().all(host_chars)) {
        return Err(format!("\"{url}\" has no valid host; {example}"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!(
                "\"{url}\": the port \"{p}\" is not a number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// `text` or `json` (any case); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values() {
        let s = Settings::parse(
            "t.toml",
            "[portal]\nname = \"Bank\"\npage-timeout = \"800ms\"\n",
        )
        .expect("valid");
        assert_eq!(s.portal.name, "Bank");
        assert_eq!(s.portal.home, "home");
        assert_eq!(s.portal.page_timeout, Duration::from_millis(800));
        assert_eq!(s.limits.max_descriptor_bytes, 256 * 1024);
    }

    #[test]
    fn unknown_keys_and_bad_values_point_at_the_line() {
        let e = Settings::parse("t.toml", "[portal]\nnmae = \"x\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:1: unknown field `nmae`"),
            "{e}"
        );
        let e = Settings::parse("t.toml", "[portal]\npage-timeout = \"fast\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:16: invalid duration \"fast\""),
            "{e}"
        );
    }
}

#[cfg(test)]
mod observability_tests {
    use super::*;

    #[test]
    fn observability_defaults_values_and_unknown_keys() {
        let s = Settings::parse("t.toml", "").expect("valid");
        assert!(s.observability.server_timing && s.observability.metrics);
        assert_eq!(s.observability.log_format, LogFormat::Text);
        let s = Settings::parse(
            "t.toml",
            "[observability]\nserver-timing = false\nlog-format = \"json\"\n",
        )
        .expect("valid");
        assert!(!s.observability.server_timing);
        assert_eq!(s.observability.log_format, LogFormat::Json);
        let e = Settings::parse("t.toml", "[observability]\nservertiming = false\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:1: unknown field `servertiming`"),
            "{e}"
        );
        let e = Settings::parse("t.toml", "[observability]\nlog-format = \"xml\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:14: unknown variant `xml`"),
            "{e}"
        );
    }

    #[test]
    fn otlp_export_is_off_by_default_and_its_settings_are_checked() {
        let s = Settings::parse("t.toml", "").expect("valid");
        assert_eq!(s.observability.otlp_endpoint, None);
        assert_eq!(s.observability.otlp_service_name, "tessera");
        assert_eq!(s.observability.otlp_sampling_ratio, 1.0);
        let s = Settings::parse(
            "t.toml",
            "[observability]\notlp-endpoint = \"http://127.0.0.1:4318\"\notlp-service-name = \"portal-eu\"\notlp-sampling-ratio = 0.25\n",
        )
        .expect("valid");
        assert_eq!(
            s.observability.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        assert_eq!(s.observability.otlp_service_name, "portal-eu");
        assert_eq!(s.observability.otlp_sampling_ratio, 0.25);
        for (value, message) in [
            ("\"127.0.0.1:4318\"", "t.toml:2:17: \"127.0.0.1:4318\" is not an http:// URL; expected e.g. \"http://127.0.0.1:4318\""),
            ("\"https://otel.example:4318\"", "t.toml:2:17: \"https://otel.example:4318\": https is not supported (this build has no TLS)"),
            ("\"http://:4318\"", "t.toml:2:17: \"http://:4318\" has no valid host"),
            ("\"http://collector:99999\"", "t.toml:2:17: \"http://collector:99999\": the port \"99999\" is not a number from 1 to 65535"),
            ("\"http://collector:4318/v1?x=1\"", "t.toml:2:17: \"http://collector:4318/v1?x=1\" has a query or fragment"),
            ("\"http://user:pw@collector:4318\"", "t.toml:2:17: \"http://user:pw@collector:4318\" carries credentials"),
        ] {
            let e = Settings::parse("t.toml", &format!("[observability]\notlp-endpoint = {value}\n"))
                .unwrap_err();
            assert!(e.to_string().starts_with(message), "{e}");
        }
        assert!(check_otlp_endpoint("http://[::1]:4318/otel").is_ok());
        assert!(check_otlp_endpoint("http://otel-collector.monitoring").is_ok());
        let e =
            Settings::parse("t.toml", "[observability]\notlp-sampling-ratio = 1.5\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:23: 1.5 is not a ratio from 0.0 to 1.0"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod admin_tests {
    use super::*;

    #[test]
    fn the_console_listens_where_admin_listen_says_or_on_the_public_listener() {
        let s = Settings::parse("t.toml", "").expect("valid");
        assert_eq!(s.admin.listen, None);
        let s = Settings::parse("t.toml", "[admin]\nlisten = \"127.0.0.1:9091\"\n").expect("valid");
        assert_eq!(
            s.admin.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9091)))
        );
        let e = Settings::parse("t.toml", "[admin]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:10: invalid socket address syntax"),
            "{e}"
        );
    }
}
