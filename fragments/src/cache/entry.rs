//! Cached entries: immutable values with a unique version, plus the little state that
//! changes in place (revalidation time, soft invalidation).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::model::Model;

/// A backend response as the source stage keeps it.
#[derive(Debug, Clone)]
pub struct SourceData {
    pub body: Bytes,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Freshness the backend declared (`Cache-Control: max-age`/`s-maxage`).
    pub backend_max_age: Option<Duration>,
    /// `Cache-Control: no-store` (or `private`): never kept.
    pub no_store: bool,
    /// Object keys from the backend's object-key header.
    pub object_keys: Vec<Arc<str>>,
    /// The request, so the entry can be revalidated or refreshed on its own.
    pub service: Arc<str>,
    pub path: Arc<str>,
    /// Set when the request names the user.
    pub user: Option<Arc<str>>,
    /// A fragment using it says `on-invalidate="refresh"`.
    pub refresh_on_invalidate: bool,
}

#[derive(Debug, Clone)]
pub enum StageValue {
    Source(SourceData),
    Model(Model),
    /// Markup of a fragment or a page.
    Markup(Arc<str>),
}

impl StageValue {
    pub fn weight(&self) -> usize {
        match self {
            Self::Source(s) => {
                s.body.len()
                    + s.content_type.as_ref().map_or(0, String::len)
                    + s.etag.as_ref().map_or(0, String::len)
                    + s.object_keys.iter().map(|k| k.len() + 16).sum::<usize>()
                    + s.path.len()
            }
            // Parsed data is a few times its text; twice the JSON text is a fair estimate.
            Self::Model(m) => 2 * m.to_json().to_string().len(),
            Self::Markup(m) => m.len(),
        }
    }
}

#[derive(Debug)]
pub struct Entry {
    /// Unique across the cache's lifetime: the identity of this value.
    pub version: u64,
    pub value: StageValue,
    /// When the value was fetched or last revalidated, in milliseconds since the cache's
    /// base instant (tokio's clock, so tests can pause time).
    validated_at_ms: AtomicU64,
    /// Soft-invalidated: no longer fresh, still usable under stale-if-error.
    stale: AtomicBool,
    /// How long memory should keep it (lifecycle ttl + stale windows).
    pub retain_for: Duration,
    pub weight: u32,
}

impl Entry {
    pub(crate) fn new(
        version: u64,
        value: StageValue,
        now_ms: u64,
        retain_for: Duration,
        key_weight: usize,
    ) -> Self {
        // 256 bytes of fixed overhead: the graph node, its edges and moka's bookkeeping.
        let weight = (value.weight() + key_weight + 256).min(u32::MAX as usize) as u32;
        Self {
            version,
            value,
            validated_at_ms: AtomicU64::new(now_ms),
            stale: AtomicBool::new(false),
            retain_for,
            weight,
        }
    }

    pub fn source(&self) -> Option<&SourceData> {
        match &self.value {
            StageValue::Source(s) => Some(s),
            _ => None,
        }
    }

    pub fn markup(&self) -> Option<&Arc<str>> {
        match &self.value {
            StageValue::Markup(m) => Some(m),
            _ => None,
        }
    }

    pub fn model(&self) -> Option<&Model> {
        match &self.value {
            StageValue::Model(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    pub(crate) fn mark_stale(&self) {
        self.stale.store(true, Ordering::Release);
    }

    /// A 304 made it fresh again.
    pub(crate) fn revalidated(&self, now_ms: u64) {
        self.validated_at_ms.store(now_ms, Ordering::Release);
        self.stale.store(false, Ordering::Release);
    }

    pub(crate) fn validated_at_ms(&self) -> u64 {
        self.validated_at_ms.load(Ordering::Acquire)
    }
}

/// Milliseconds since `base` on tokio's clock.
pub(crate) fn ms_since(base: Instant) -> u64 {
    Instant::now().saturating_duration_since(base).as_millis() as u64
}
