//! Requests the harness makes itself, outside the measured runs: fetching one page to
//! check it, reading and changing a service's state through the admin API, and
//! warming a breaker open.

use std::time::{Duration, Instant};

use futures::future::join_all;
use http::HeaderMap;
use serde_json::Value;

use crate::node::Node;
use crate::BenchError;

/// Longest the harness waits for any one of its own requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for the harness's own requests.
#[derive(Debug, Clone)]
pub struct Probe {
    client: reqwest::Client,
}

/// One page fetched by the harness.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub took: Duration,
}

impl Fetched {
    /// A response header as text (empty when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// What warming a breaker open took.
#[derive(Debug, Clone, Copy)]
pub struct Warmup {
    pub pages: usize,
    /// The slowest of those pages: they were all served while the breaker was closed.
    pub max_latency: Duration,
    pub took: Duration,
}

/// The fragment cache's counters (`GET /admin/api/cache`) at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    /// Entries removed for size or expiry.
    pub evictions: u64,
}

impl CacheStats {
    /// What happened between `before` and `self`: hits, misses, inserts (entries and
    /// bytes are `self`'s).
    pub fn since(&self, before: &CacheStats) -> CacheStats {
        CacheStats {
            entries: self.entries,
            bytes: self.bytes,
            max_bytes: self.max_bytes,
            hits: self.hits.saturating_sub(before.hits),
            misses: self.misses.saturating_sub(before.misses),
            inserts: self.inserts.saturating_sub(before.inserts),
            evictions: self.evictions.saturating_sub(before.evictions),
        }
    }

    /// Hits among lookups (0 when there were none).
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// The `state` field of an admin API answer about a service.
fn state_of(json: Value) -> Result<String, BenchError> {
    json.get("state")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Http(format!("admin API: no \"state\" in {json}")))
}

impl Probe {
    pub fn new() -> Result<Probe, BenchError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| BenchError::Setup(format!("HTTP client: {e}")))?;
        Ok(Probe { client })
    }

    /// `GET url`, timed.
    pub async fn page(&self, url: &str) -> Result<Fetched, BenchError> {
        self.page_as(url, &[]).await
    }

    /// `GET url` with extra request headers (e.g. a single-sign-on identity), timed.
    pub async fn page_as(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Fetched, BenchError> {
        let started = Instant::now();
        let mut req = self.client.get(url);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let res = req
            .send()
            .await
            .map_err(|e| BenchError::Http(format!("GET {url}: {e}")))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res
            .text()
            .await
            .map_err(|e| BenchError::Http(format!("GET {url}: body: {e}")))?;
        Ok(Fetched {
            status,
            headers,
            body,
            took: started.elapsed(),
        })
    }

    /// The service's `state` from the admin API (`closed`, `open`, `half_open`, …).
    pub async fn service_state(&self, node: &Node, service: &str) -> Result<String, BenchError> {
        let req = self.client.get(node.service_url(service));
        state_of(self.admin(node, req).await?)
    }

    /// The fragment cache's figures from `GET /admin/api/cache`.
    pub async fn cache_stats(&self, node: &Node) -> Result<CacheStats, BenchError> {
        let token = node
            .admin_token()
            .ok_or_else(|| BenchError::Setup("the node has no admin token".into()))?;
        self.cache_stats_at(&node.cache_url(), token).await
    }

    /// `GET url` (a node's `/admin/api/cache`) with the admin `token`.
    pub async fn cache_stats_at(&self, url: &str, token: &str) -> Result<CacheStats, BenchError> {
        let json = self.admin_with(token, self.client.get(url)).await?;
        let field = |name: &str| {
            json.get(name)
                .and_then(Value::as_u64)
                .ok_or_else(|| BenchError::Http(format!("admin API: no {name:?} in {json}")))
        };
        Ok(CacheStats {
            entries: field("entries")?,
            bytes: field("bytes")?,
            hits: field("hits")?,
            misses: field("misses")?,
            inserts: field("inserts")?,
            max_bytes: field("max_bytes")?,
            evictions: field("evictions")?,
        })
    }

    /// `POST /admin/api/services/ID/ACTION` (`force-closed`, `enable`, `reset`, …);
    /// returns the service's state afterwards.
    pub async fn service_action(
        &self,
        node: &Node,
        service: &str,
        action: &str,
    ) -> Result<String, BenchError> {
        let req = self
            .client
            .post(format!("{}/{action}", node.service_url(service)))
            .header("content-type", "application/json")
            .body(r#"{"reason":"benchmark harness"}"#);
        state_of(self.admin(node, req).await?)
    }

    async fn admin(&self, node: &Node, req: reqwest::RequestBuilder) -> Result<Value, BenchError> {
        let token = node
            .admin_token()
            .ok_or_else(|| BenchError::Setup("the node has no admin token".into()))?;
        self.admin_with(token, req).await
    }

    async fn admin_with(
        &self,
        token: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, BenchError> {
        let res = req
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| BenchError::Http(format!("admin API: {e}")))?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| BenchError::Http(format!("admin API: body: {e}")))?;
        if !status.is_success() {
            return Err(BenchError::Http(format!(
                "admin API answered {status}: {text}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| BenchError::Http(format!("admin API: not JSON ({e}): {text}")))
    }

    /// Sends rounds of `concurrency` page requests until the admin API reports
    /// `service` `open`, for at most `limit`.
    pub async fn warm_breaker_open(
        &self,
        node: &Node,
        service: &str,
        concurrency: usize,
        limit: Duration,
    ) -> Result<Warmup, BenchError> {
        let started = Instant::now();
        let mut warmup = Warmup {
            pages: 0,
            max_latency: Duration::ZERO,
            took: Duration::ZERO,
        };
        loop {
            let state = self.service_state(node, service).await?;
            if state == "open" {
                warmup.took = started.elapsed();
                return Ok(warmup);
            }
            if started.elapsed() > limit {
                return Err(BenchError::BreakerNotOpen {
                    service: service.to_owned(),
                    state,
                    after: limit,
                });
            }
            let url = node.url();
            let round = join_all((0..concurrency).map(|_| self.page(&url))).await;
            for fetched in round {
                let fetched = fetched?;
                warmup.pages += 1;
                warmup.max_latency = warmup.max_latency.max(fetched.took);
            }
        }
    }
}
