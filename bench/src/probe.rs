//! Requests the harness makes itself, outside the measured runs: fetching one page to
//! check it, reading and changing a service's state through the admin API, and
//! warming a breaker open.

use std::time::{Duration, Instant};

use futures::future::join_all;
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
    pub body: String,
    pub took: Duration,
}

/// What warming a breaker open took.
#[derive(Debug, Clone, Copy)]
pub struct Warmup {
    pub pages: usize,
    /// The slowest of those pages: they were all served while the breaker was closed.
    pub max_latency: Duration,
    pub took: Duration,
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
        let started = Instant::now();
        let res = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| BenchError::Http(format!("GET {url}: {e}")))?;
        let status = res.status().as_u16();
        let body = res
            .text()
            .await
            .map_err(|e| BenchError::Http(format!("GET {url}: body: {e}")))?;
        Ok(Fetched {
            status,
            body,
            took: started.elapsed(),
        })
    }

    /// The service's `state` from the admin API (`closed`, `open`, `half_open`, …).
    pub async fn service_state(&self, node: &Node, service: &str) -> Result<String, BenchError> {
        let req = self.client.get(node.service_url(service));
        self.admin(node, req).await
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
        self.admin(node, req).await
    }

    async fn admin(&self, node: &Node, req: reqwest::RequestBuilder) -> Result<String, BenchError> {
        let token = node
            .admin_token()
            .ok_or_else(|| BenchError::Setup("the node has no admin token".into()))?;
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
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| BenchError::Http(format!("admin API: not JSON ({e}): {text}")))?;
        json.get("state")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Http(format!("admin API: no \"state\" in {text}")))
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
