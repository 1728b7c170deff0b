//! The result object every fragment yields for its layout, whatever happened.

use std::time::Duration;

use serde::Serialize;

/// What became of a fragment. Layouts switch on it to say precisely what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fresh content.
    Ok,
    /// The backend (or the page deadline) did not answer in time.
    Timeout,
    /// The backend failed or sent something unusable; or the template failed.
    Error,
    /// A failure, covered by the fragment's declared fallback.
    Fallback,
    /// The service is disabled by an operator; it was not called.
    Disabled,
    /// The service's breaker is open or its limits are full; it was not called.
    Unavailable,
    /// The backend failed (or was not called); the last good content is shown.
    Stale,
    /// The user may not see it: it was neither fetched nor rendered.
    Forbidden,
    /// The user minimized it: only its title shows, nothing was fetched.
    Minimized,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::Fallback => "fallback",
            Self::Disabled => "disabled",
            Self::Unavailable => "unavailable",
            Self::Stale => "stale",
            Self::Forbidden => "forbidden",
            Self::Minimized => "minimized",
        }
    }
}

/// One fragment's outcome: its markup (content or fallback) and why it is not `ok`.
#[derive(Debug, Clone, Serialize)]
pub struct FragmentResult {
    pub id: String,
    pub title: String,
    pub status: Status,
    /// The rendered fragment, or its rendered fallback, or empty.
    pub html: String,
    /// Why the status is not `ok` (for people: operators and the layout's status line).
    pub message: Option<String>,
    /// The underlying failure when the status is `fallback` (`timeout`, `error`).
    pub cause: Option<Status>,
    pub elapsed: Duration,
    /// The data model the template rendered, for the JSON channel.
    #[serde(skip)]
    pub model: Option<serde_json::Value>,
    /// The cached rendered entry's version (`None`: not cached), for page keys and ETags.
    pub version: Option<u64>,
    /// Whether the content was produced for this user only.
    pub per_user: bool,
    /// How old the content is (0 when fetched for this request).
    pub age: Duration,
    /// Where the content came from.
    pub origin: Origin,
    /// The browser max-age this fragment allows (its lifecycle's `max-age`).
    pub max_age: Option<Duration>,
    /// Where the backend redirected (a primary fragment's redirect becomes the page's).
    pub redirect: Option<String>,
    /// Until when producing it again would give this same result unless something it
    /// depends on is invalidated or replaced: the moment the first source behind it stops
    /// being fresh by this fragment's lifecycle, in milliseconds on the cache's clock
    /// (`FragmentCache::now_ms`). `u64::MAX`: not by time (placeholders, fragments
    /// without a backend or ttl); 0: not reusable at all (not cached, stale, failed).
    /// A page assembled from cached fragments is served whole until the earliest of its
    /// slots'.
    #[serde(skip)]
    pub fresh_until_ms: u64,
}

/// Where a fragment's content came from, for timing headers and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A cached stage, fresh.
    Cache,
    /// Fetched from the backend for this request.
    Backend,
    /// Revalidated with the backend (304): cached stages kept.
    Revalidated,
    /// A stale stage (stale-while-revalidate or stale-if-error).
    Stale,
    /// No backend: rendered from the request alone.
    Local,
    /// Nothing usable: the fallback, or nothing.
    Fallback,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Backend => "backend",
            Self::Revalidated => "revalidated",
            Self::Stale => "stale",
            Self::Local => "local",
            Self::Fallback => "fallback",
        }
    }
}

impl FragmentResult {
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}
