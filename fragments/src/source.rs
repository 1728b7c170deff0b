//! The source stage: a backend response, cached under its resolved request.
//!
//! Concurrent misses of the same source share one fetch ([`Inflight`]): a shared future
//! registered weakly, so that if every waiter gives up (page deadlines) the fetch is
//! dropped with them and no work outlives its requests. Background refreshes hold it
//! strongly from a task of their own. Expired entries with validators are revalidated;
//! a 304 keeps the entry (and so every stage derived from it) and only renews its age.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, Shared, WeakShared};
use futures::FutureExt;
use http::header::{
    HeaderName, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use tessera_descriptors::settings::CacheSettings;
use tessera_descriptors::LifecycleDef;
use tessera_service_access::{BackendRequest, BackendResponse, CallError, ServiceAccess};

use crate::cache::{Deps, Entry, FragmentCache, SourceData, StageKey, StageValue};
use crate::lifecycle::{cache_control, retention};

/// The outcome of one fetch, as every request that joined it sees it.
pub type Fetched = Result<Fetch, CallError>;

/// One fetch's answer.
#[derive(Clone)]
pub struct Fetch {
    pub entry: Arc<Entry>,
    pub kind: FetchKind,
    /// For a response that is not stored ([`FetchKind::Transient`]): the stages the
    /// requests that joined the fetch derive from it, computed by the first of them and
    /// shared with the rest ([`Derived`]).
    pub derived: Option<Arc<Derived>>,
}

/// How many derived stages one transient response keeps: one model and a rendering per
/// distinct template, parameters, channel and viewer among the requests that joined its
/// fetch. Beyond it, later requests derive their own.
const DERIVED_STAGES: usize = 16;

/// The model and renderings derived from one response that is not stored.
///
/// A stored response's derived stages are cached under keys that name it (its version);
/// a transient one's cannot be, yet every request that joined its fetch derives the same
/// stages from it: eight concurrent pages on one uncached fragment would parse its body
/// and render its template eight times, all at the moment the response arrives. The
/// first computes them, the others take them from here, under the same keys the cache
/// would use (so a rendering is shared exactly where a cached one would be). It lives
/// as long as the fetch's answer: until the last request that joined it is done.
#[derive(Default)]
pub struct Derived {
    stages: Mutex<Vec<(StageKey, StageValue)>>,
}

impl Derived {
    /// The stage under `key`, if a request derived it already.
    pub fn get(&self, key: &StageKey) -> Option<StageValue> {
        let stages = self.stages.lock().ok()?;
        stages
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Keeps a stage derived from the response (the first one under a key stays).
    pub fn put(&self, key: StageKey, value: StageValue) {
        if let Ok(mut stages) = self.stages.lock() {
            if stages.len() < DERIVED_STAGES && !stages.iter().any(|(k, _)| *k == key) {
                stages.push((key, value));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// A new response, stored.
    Stored,
    /// A new response not worth storing (no lifecycle, no validators, or no-store).
    Transient,
    /// A 304: the previous entry, renewed.
    Revalidated,
}

type SharedFetch = Shared<BoxFuture<'static, Fetched>>;

/// Fetches in flight, by source key.
#[derive(Default)]
pub struct Inflight {
    map: Mutex<HashMap<StageKey, WeakShared<BoxFuture<'static, Fetched>>>>,
}

impl Inflight {
    /// Requests waiting on fetches in flight (each fetch counts its waiters), for tests
    /// and metrics.
    pub fn waiters(&self) -> usize {
        self.map.lock().map_or(0, |m| {
            m.values()
                .filter_map(WeakShared::upgrade)
                // The upgraded handle itself is one of the counted references.
                .map(|s| s.strong_count().unwrap_or(1).saturating_sub(1))
                .sum()
        })
    }

    /// Fetches in flight.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .map_or(0, |m| m.values().filter(|w| w.upgrade().is_some()).count())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How long a fetched response is kept.
#[derive(Debug, Clone)]
pub enum Keep {
    /// As the fragment's lifecycle says (with the backend's headers).
    Lifecycle(LifecycleDef),
    /// As long as the entry it refreshes.
    Like(Duration),
}

/// Everything a fetch needs, owned, so it can run in a task of its own.
#[derive(Clone)]
pub struct FetchPlan {
    pub key: StageKey,
    pub service: Arc<str>,
    pub path: Arc<str>,
    pub user: Option<Arc<str>>,
    pub previous: Option<Arc<Entry>>,
    pub keep: Keep,
    /// Object keys from the descriptor (`depends-on`).
    pub objects: Vec<Arc<str>>,
    pub fragment: Option<Arc<str>>,
    pub refresh_on_invalidate: bool,
    pub request_headers: Vec<(HeaderName, HeaderValue)>,
}

/// What the source stage shares between requests.
pub struct SourceStage {
    pub services: Arc<ServiceAccess>,
    pub cache: Arc<FragmentCache>,
    pub inflight: Arc<Inflight>,
    pub keys: Arc<ObjectKeyPolicy>,
}

impl SourceStage {
    /// One fetch per key at a time; later callers join the one in flight.
    pub fn fetch(&self, plan: FetchPlan) -> SharedFetch {
        let mut map = match self.inflight.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if let Some(running) = map.get(&plan.key).and_then(WeakShared::upgrade) {
            return running;
        }
        let key = plan.key.clone();
        let map_key = plan.key.clone();
        let inflight = self.inflight.clone();
        let services = self.services.clone();
        let cache = self.cache.clone();
        let keys = self.keys.clone();
        let fut = async move {
            let out = fetch_once(&services, &cache, &keys, plan).await;
            if let Ok(mut m) = inflight.map.lock() {
                m.remove(&key);
            }
            out
        }
        .boxed()
        .shared();
        if let Some(weak) = fut.downgrade() {
            map.insert(map_key, weak);
        }
        fut
    }

    /// Refreshes in a task of its own; the request that noticed does not wait. The task
    /// stays in the noticing request's span, so its backend call is traced with it.
    pub fn refresh_in_background(&self, plan: FetchPlan) {
        use tracing::Instrument;
        let fetch = self.fetch(plan);
        tokio::spawn(
            async move {
                if let Err(e) = fetch.await {
                    tracing::debug!(error = %e, "background refresh failed");
                }
            }
            .instrument(tracing::Span::current()),
        );
    }
}

async fn fetch_once(
    services: &ServiceAccess,
    cache: &FragmentCache,
    keys: &ObjectKeyPolicy,
    plan: FetchPlan,
) -> Fetched {
    let mut headers = plan.request_headers.clone();
    if let Some(prev) = plan.previous.as_ref().and_then(|p| p.source()) {
        if let Some(v) = prev
            .etag
            .as_deref()
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            headers.push((IF_NONE_MATCH, v));
        }
        if let Some(v) = prev
            .last_modified
            .as_deref()
            .and_then(|e| HeaderValue::from_str(e).ok())
        {
            headers.push((IF_MODIFIED_SINCE, v));
        }
    }
    let request = BackendRequest {
        path_and_query: plan.path.to_string(),
        headers,
    };
    let response = services.call(&plan.service, &request).await?;
    if response.status == http::StatusCode::NOT_MODIFIED {
        return match plan.previous {
            Some(prev) => {
                prev.revalidated(cache.now_ms());
                Ok(Fetch {
                    entry: prev,
                    kind: FetchKind::Revalidated,
                    derived: None,
                })
            }
            None => Err(tessera_service_access::BadStatus {
                status: 304,
                location: None,
            }
            .into()),
        };
    }
    let data = source_data(&response, &plan, keys);
    let keep = match &plan.keep {
        Keep::Lifecycle(l) => retention(l, &data),
        Keep::Like(d) => Some(*d),
    };
    let value = StageValue::Source(data);
    match keep {
        Some(keep) => {
            let deps = Deps {
                objects: match &value {
                    StageValue::Source(d) => d.object_keys.clone(),
                    _ => Vec::new(),
                },
                fragment: plan.fragment.clone(),
                user: plan.user.clone(),
                ..Deps::default()
            };
            Ok(Fetch {
                entry: cache.insert(plan.key.clone(), value, &deps, keep),
                kind: FetchKind::Stored,
                derived: None,
            })
        }
        None => Ok(Fetch {
            entry: cache.transient(value),
            kind: FetchKind::Transient,
            derived: Some(Arc::default()),
        }),
    }
}

fn source_data(response: &BackendResponse, plan: &FetchPlan, keys: &ObjectKeyPolicy) -> SourceData {
    let header = |name: HeaderName| {
        response
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (backend_max_age, no_store) = cache_control(&response.headers);
    let mut object_keys = plan.objects.clone();
    for k in keys.read(&plan.service, &response.headers) {
        if !object_keys.contains(&k) {
            object_keys.push(k);
        }
    }
    SourceData {
        // An exact copy: the response's buffer may be larger than its body (it grew
        // while reading), and the cache must hold, and weigh, only what it keeps.
        body: bytes::Bytes::copy_from_slice(&response.body),
        content_type: response.content_type().map(str::to_owned),
        etag: header(ETAG),
        last_modified: header(LAST_MODIFIED),
        backend_max_age,
        no_store,
        object_keys,
        service: plan.service.clone(),
        path: plan.path.clone(),
        user: plan.user.clone(),
        refresh_on_invalidate: plan.refresh_on_invalidate,
    }
}

/// Reading object keys from backend responses (`Surrogate-Key: news news:42`), within
/// limits: a key list longer than allowed is cut, and said so once per service.
pub struct ObjectKeyPolicy {
    header: HeaderName,
    max_keys: usize,
    max_bytes: usize,
    warned: Mutex<HashSet<String>>,
}

impl ObjectKeyPolicy {
    pub fn new(settings: &CacheSettings) -> Self {
        Self {
            header: HeaderName::from_bytes(settings.object_key_header.as_bytes())
                .unwrap_or(HeaderName::from_static("surrogate-key")),
            max_keys: settings.max_object_keys,
            max_bytes: settings.max_object_key_header_bytes,
            warned: Mutex::default(),
        }
    }

    pub fn read(&self, service: &str, headers: &http::HeaderMap) -> Vec<Arc<str>> {
        let Some(value) = headers.get(&self.header).and_then(|v| v.to_str().ok()) else {
            return Vec::new();
        };
        let mut text = value;
        let mut cut = false;
        if text.len() > self.max_bytes {
            // Cut at the limit, and drop the key the cut went through.
            let mut end = self.max_bytes;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text = &text[..end];
            text = text
                .rsplit_once(char::is_whitespace)
                .map_or("", |(head, _)| head);
            cut = true;
        }
        let mut keys: Vec<Arc<str>> = Vec::new();
        for k in text.split_whitespace() {
            if keys.len() == self.max_keys {
                cut = true;
                break;
            }
            let k: Arc<str> = Arc::from(k);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if cut
            && self
                .warned
                .lock()
                .is_ok_and(|mut w| w.insert(service.to_owned()))
        {
            tracing::warn!(
                service,
                header = %self.header,
                max_keys = self.max_keys,
                max_bytes = self.max_bytes,
                "object-key header too long; keys beyond the limit are ignored (logged once per service)"
            );
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_keys: usize, max_bytes: usize) -> ObjectKeyPolicy {
        ObjectKeyPolicy::new(&CacheSettings {
            max_object_keys: max_keys,
            max_object_key_header_bytes: max_bytes,
            ..CacheSettings::default()
        })
    }

    fn headers(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("surrogate-key", v.parse().expect("header"));
        h
    }

    #[test]
    fn keys_are_read_deduplicated_and_cut_at_the_limits() {
        let keys = |p: &ObjectKeyPolicy, v: &str| -> Vec<String> {
            p.read("news", &headers(v))
                .iter()
                .map(|k| k.to_string())
                .collect()
        };
        let p = policy(3, 4096);
        assert_eq!(keys(&p, "news  news:1 news"), ["news", "news:1"]);
        assert_eq!(
            keys(&p, "a b c d e"),
            ["a", "b", "c"],
            "at most max-object-keys"
        );
        // The byte limit cuts through "news:42"; the partial key is dropped, not kept.
        let p = policy(64, 12);
        assert_eq!(keys(&p, "news sport news:42"), ["news", "sport"]);
        assert!(
            p.warned.lock().expect("lock").contains("news"),
            "logged once per service"
        );
        assert!(keys(&policy(64, 4096), "").is_empty());
    }
}
