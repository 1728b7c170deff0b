//! Cached entries: immutable values with a unique version, plus the little state that
//! changes in place (revalidation time, soft invalidation).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

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
    /// Markup of a fragment.
    Markup(Arc<str>),
    /// An assembled page, with what a channel needs to answer with it whole.
    Page(Arc<PageValue>),
}

/// An assembled page as the page stage keeps it: the markup, the versions of the parts it
/// was built from, until when those parts stay fresh, and the page's own answer (status,
/// browser caching). The page's key says which page instance it is (page, slots, user,
/// portal version); this value says which content it holds.
#[derive(Debug)]
pub struct PageValue {
    pub html: Arc<str>,
    /// A hash of every slot's fragment, status and rendered entry version: the same parts
    /// give the same page, so a page whose parts are still these needs no new layout.
    pub parts: u64,
    /// When the first of its parts stops being fresh by its fragment's lifecycle, in
    /// milliseconds on the cache's clock ([`FragmentCache::now_ms`](super::FragmentCache::now_ms));
    /// `u64::MAX`: never by time. Renewed when the parts were produced again and are
    /// unchanged (a 304 renewed a source, say).
    fresh_until_ms: AtomicU64,
    /// The HTTP status the primary fragments decided (a forbidden primary: 403).
    pub status: u16,
    /// Some part was produced for this user only (`Cache-Control: private`).
    pub per_user: bool,
    /// The browser max-age the page allows.
    pub max_age: Duration,
}

impl PageValue {
    pub fn new(
        html: Arc<str>,
        parts: u64,
        fresh_until_ms: u64,
        status: u16,
        per_user: bool,
        max_age: Duration,
    ) -> Self {
        Self {
            html,
            parts,
            fresh_until_ms: AtomicU64::new(fresh_until_ms),
            status,
            per_user,
            max_age,
        }
    }

    pub fn fresh_until_ms(&self) -> u64 {
        self.fresh_until_ms.load(Ordering::Acquire)
    }

    /// Its parts were produced again and found unchanged, fresh until `until_ms`.
    pub fn renew(&self, until_ms: u64) {
        self.fresh_until_ms.store(until_ms, Ordering::Release);
    }
}

impl StageValue {
    /// The heap it holds, as the cache weighs it ([`super::weigh::value`]).
    pub fn weight(&self) -> usize {
        super::weigh::value(self)
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
    /// Gone from the cache, by any cause (set by the cache's removal listener): whoever
    /// still holds it holds a value the cache no longer serves.
    removed: AtomicBool,
    /// How long memory should keep it (lifecycle ttl + stale windows).
    pub retain_for: Duration,
    /// When memory stops keeping it by `retain_for`, on the cache's clock; never later
    /// than the cache's own expiry, which counts from the insert that follows.
    expires_ms: u64,
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
        // The value's heap, the key's, this entry's own allocation and the cache's and
        // the graph's bookkeeping (see `weigh`).
        let own = super::weigh::alloc(std::mem::size_of::<Entry>() + 16);
        let weight = (value.weight() + key_weight + own + super::weigh::BOOKKEEPING)
            .min(u32::MAX as usize) as u32;
        Self {
            version,
            value,
            validated_at_ms: AtomicU64::new(now_ms),
            stale: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            retain_for,
            expires_ms: now_ms
                .saturating_add(u64::try_from(retain_for.as_millis()).unwrap_or(u64::MAX)),
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

    pub fn page(&self) -> Option<&PageValue> {
        match &self.value {
            StageValue::Page(p) => Some(p),
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

    /// Whether the cache has let it go (size, expiry, replacement, invalidation).
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    /// See [`Entry::expires_ms`]'s field: past it, the cache no longer answers with it.
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
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
