//! Lifecycle rules: how fresh a cached source is for a given fragment, how long memory
//! keeps it, and what the backend's own headers say.
//!
//! Freshness is judged per fragment at use, not stored: one source entry shared by two
//! fragments with different lifecycles is fresh for one and stale for the other.

use std::time::Duration;

use http::HeaderMap;
use tessera_descriptors::LifecycleDef;

use crate::cache::{Entry, SourceData};

/// How a cached source may be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it and refresh it in the background (stale-while-revalidate).
    Revalidate,
    /// Fetch again; serve it only if the fetch fails (stale-if-error).
    OnErrorOnly,
    /// Fetch again; it may still help a conditional request (validators).
    Expired,
}

/// The time a source stays fresh: the descriptor's `ttl`, else the backend's
/// `Cache-Control`, else none; `validate-always` makes it zero.
pub fn ttl(lifecycle: &LifecycleDef, source: &SourceData) -> Duration {
    if lifecycle.validate_always {
        return Duration::ZERO;
    }
    match lifecycle.ttl {
        Some(t) => t,
        None if source.no_store => Duration::ZERO,
        None => source.backend_max_age.unwrap_or_default(),
    }
}

pub fn freshness(entry: &Entry, lifecycle: &LifecycleDef, now_ms: u64) -> Freshness {
    let Some(source) = entry.source() else {
        return Freshness::Fresh;
    };
    let age = Duration::from_millis(now_ms.saturating_sub(entry.validated_at_ms()));
    let ttl = ttl(lifecycle, source);
    if !entry.is_stale() && age < ttl {
        return Freshness::Fresh;
    }
    // A soft-invalidated entry is past its freshness whatever its age.
    let past = if entry.is_stale() { age.max(ttl) } else { age };
    if !entry.is_stale() && past < ttl + lifecycle.stale_while_revalidate {
        Freshness::Revalidate
    } else if past < ttl + lifecycle.stale_if_error {
        Freshness::OnErrorOnly
    } else {
        Freshness::Expired
    }
}

/// Until when [`freshness`] says `Fresh` for this entry under this lifecycle, unless the
/// entry changes (a revalidation moves it later, a soft invalidation ends it): in
/// milliseconds on the cache's clock. 0 when it is not fresh by time at all
/// (soft-invalidated, no ttl); `u64::MAX` for entries that are not sources (they do not
/// age by a lifecycle of their own).
pub fn fresh_until_ms(entry: &Entry, lifecycle: &LifecycleDef) -> u64 {
    let Some(source) = entry.source() else {
        return u64::MAX;
    };
    let ttl = ttl(lifecycle, source);
    if entry.is_stale() || ttl.is_zero() {
        return 0;
    }
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    entry.validated_at_ms().saturating_add(ttl_ms)
}

/// Whether a fresh response is worth keeping at all, and for how long memory keeps it.
pub fn retention(lifecycle: &LifecycleDef, source: &SourceData) -> Option<Duration> {
    if source.no_store && lifecycle.ttl.is_none() {
        return None;
    }
    let ttl = ttl(lifecycle, source);
    let stale = lifecycle
        .stale_while_revalidate
        .max(lifecycle.stale_if_error);
    let has_validators = source.etag.is_some() || source.last_modified.is_some();
    // With validators an expired entry still saves a body transfer: keep it a while.
    let revalidation = if has_validators {
        Duration::from_secs(600)
    } else {
        Duration::ZERO
    };
    let keep = ttl + stale.max(revalidation);
    (!keep.is_zero()).then_some(keep)
}

/// `Cache-Control` as far as a shared cache needs it: freshness and whether to store.
pub fn cache_control(headers: &HeaderMap) -> (Option<Duration>, bool) {
    let mut max_age = None;
    let mut s_maxage = None;
    let mut no_store = false;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(v) = value.to_str() else { continue };
        for directive in v.split(',') {
            let d = directive.trim().to_ascii_lowercase();
            let (name, arg) = d.split_once('=').map_or((d.as_str(), None), |(n, a)| {
                (n.trim(), Some(a.trim().trim_matches('"')))
            });
            let secs = || {
                arg.and_then(|a| a.parse::<u64>().ok())
                    .map(Duration::from_secs)
            };
            match name {
                "max-age" => max_age = secs().or(max_age),
                "s-maxage" => s_maxage = secs().or(s_maxage),
                "no-store" | "no-cache" | "private" => no_store = true,
                _ => {}
            }
        }
    }
    (s_maxage.or(max_age), no_store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::StageValue;
    use std::sync::Arc;

    fn source(max_age: Option<u64>) -> SourceData {
        SourceData {
            body: bytes::Bytes::new(),
            content_type: None,
            etag: None,
            last_modified: None,
            backend_max_age: max_age.map(Duration::from_secs),
            no_store: false,
            object_keys: Vec::new(),
            service: Arc::from("s"),
            path: Arc::from("/"),
            user: None,
            refresh_on_invalidate: false,
        }
    }

    fn lc(ttl: u64, swr: u64, sie: u64) -> LifecycleDef {
        LifecycleDef {
            ttl: Some(Duration::from_secs(ttl)),
            stale_while_revalidate: Duration::from_secs(swr),
            stale_if_error: Duration::from_secs(sie),
            ..LifecycleDef::default()
        }
    }

    #[test]
    fn windows_follow_each_other() {
        let e = Entry::new(
            1,
            StageValue::Source(source(None)),
            0,
            Duration::from_secs(1),
            0,
        );
        let l = lc(60, 30, 600);
        assert_eq!(freshness(&e, &l, 59_999), Freshness::Fresh);
        assert_eq!(freshness(&e, &l, 60_000), Freshness::Revalidate);
        assert_eq!(freshness(&e, &l, 89_999), Freshness::Revalidate);
        assert_eq!(freshness(&e, &l, 90_000), Freshness::OnErrorOnly);
        assert_eq!(freshness(&e, &l, 659_999), Freshness::OnErrorOnly);
        assert_eq!(freshness(&e, &l, 660_000), Freshness::Expired);
        e.mark_stale();
        assert_eq!(
            freshness(&e, &l, 1_000),
            Freshness::OnErrorOnly,
            "soft-invalidated: only on error"
        );
    }

    #[test]
    fn fresh_until_is_where_fresh_ends() {
        let e = Entry::new(
            1,
            StageValue::Source(source(Some(30))),
            1_000,
            Duration::from_secs(1),
            0,
        );
        let l = lc(60, 30, 600);
        let until = fresh_until_ms(&e, &l);
        assert_eq!(until, 61_000);
        assert_eq!(freshness(&e, &l, until - 1), Freshness::Fresh);
        assert_ne!(freshness(&e, &l, until), Freshness::Fresh);
        // Without a ttl of its own the backend's max-age decides, as for `freshness`.
        let backend = LifecycleDef::default();
        assert_eq!(fresh_until_ms(&e, &backend), 31_000);
        assert_eq!(freshness(&e, &backend, 30_999), Freshness::Fresh);
        assert_ne!(freshness(&e, &backend, 31_000), Freshness::Fresh);
        let always = LifecycleDef {
            validate_always: true,
            ..lc(60, 0, 0)
        };
        assert_eq!(fresh_until_ms(&e, &always), 0);
        // A revalidation moves it; a soft invalidation ends it.
        e.revalidated(10_000);
        assert_eq!(fresh_until_ms(&e, &l), 70_000);
        e.mark_stale();
        assert_eq!(fresh_until_ms(&e, &l), 0);
        let markup = Entry::new(
            2,
            StageValue::Markup(Arc::from("<p>")),
            0,
            Duration::ZERO,
            0,
        );
        assert_eq!(fresh_until_ms(&markup, &l), u64::MAX);
    }

    #[test]
    fn backend_headers_decide_without_a_ttl() {
        let mut h = HeaderMap::new();
        h.insert(
            "cache-control",
            "public, max-age=30, s-maxage=60".parse().expect("header"),
        );
        assert_eq!(cache_control(&h), (Some(Duration::from_secs(60)), false));
        h.insert("cache-control", "no-store".parse().expect("header"));
        assert_eq!(cache_control(&h), (None, true));
        let e = Entry::new(
            1,
            StageValue::Source(source(Some(30))),
            0,
            Duration::from_secs(1),
            0,
        );
        assert_eq!(
            freshness(&e, &LifecycleDef::default(), 29_999),
            Freshness::Fresh
        );
        assert_eq!(
            freshness(&e, &LifecycleDef::default(), 30_000),
            Freshness::Expired
        );
        let always = LifecycleDef {
            validate_always: true,
            ..lc(60, 0, 0)
        };
        assert_eq!(freshness(&e, &always, 0), Freshness::Expired);
    }

    #[test]
    fn nothing_worth_keeping_is_not_kept() {
        assert_eq!(retention(&LifecycleDef::default(), &source(None)), None);
        assert_eq!(
            retention(&lc(60, 30, 600), &source(None)),
            Some(Duration::from_secs(660))
        );
        let mut s = source(None);
        s.etag = Some("\"v1\"".into());
        assert_eq!(
            retention(&LifecycleDef::default(), &s),
            Some(Duration::from_secs(600))
        );
    }
}
