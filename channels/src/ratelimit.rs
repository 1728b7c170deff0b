//! Rate limiting per session (or per client address without one): a keyed token bucket
//! (governor's GCRA). Beyond the limit: 429 with `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::cookies;

/// Whom a bucket belongs to. A value, not text: every request makes one, and formatting
/// an address into a `String` per request showed in the cache-hit profile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// A session, by a hash of its cookie (the limiter never holds secrets).
    Session(u64),
    Addr(IpAddr),
    Unknown,
}

#[derive(Clone)]
pub struct Limiter {
    inner: Arc<DefaultKeyedRateLimiter<Key>>,
    seen: Arc<AtomicU64>,
}

impl Limiter {
    /// `None` when `per_second` is 0 (rate limiting off).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Some(Self {
            inner: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            seen: Arc::default(),
        })
    }
}

pub async fn limit(State(limiter): State<Limiter>, request: Request, next: Next) -> Response {
    let key = match cookies::read(request.headers(), cookies::SESSION) {
        Some(s) => Key::Session(
            tessera_fragments::cache::KeyHasher::default()
                .bytes(s.as_bytes())
                .finish(),
        ),
        None => match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => Key::Addr(addr.ip()),
            None => Key::Unknown,
        },
    };
    // Forget idle keys now and then, so the map stays bounded by active clients.
    if limiter.seen.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        limiter.inner.retain_recent();
    }
    match limiter.inner.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut res = (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests; please slow down.",
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
    }
}
