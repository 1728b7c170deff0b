//! The HTTP exchange with one backend: a GET below the service's base URL, the body read
//! up to a cap, redirects not followed, and only end-to-end headers kept.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tessera_descriptors::settings::SecuritySettings;
use tessera_descriptors::ServiceDef;

use crate::error::{BadStatus, BodyTooLarge, CallError, Transport};

/// What to ask a backend for.
#[derive(Debug, Clone, Default)]
pub struct BackendRequest {
    /// The path and query below the service's base URL, already encoded.
    pub path_and_query: String,
    /// Extra request headers (request id, conditional headers).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A usable backend answer.
#[derive(Debug, Clone)]
pub struct BackendResponse {
    pub status: StatusCode,
    /// End-to-end headers only: hop-by-hop headers and `Set-Cookie` are dropped here,
    /// so nothing a backend sets can reach a portal user's browser.
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
}

impl BackendResponse {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
}

/// Headers never kept from a backend response (RFC 9110 §7.6.1 hop-by-hop, plus cookies).
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
    "set-cookie2",
];

/// A client for one service: connect and between-bytes timeouts; redirects followed only
/// when the service allows it, at most three, and only to hosts the allow-list admits.
pub(crate) fn build_client(def: &ServiceDef, security: &SecuritySettings) -> reqwest::Client {
    let policy = if def.follow_redirects {
        let security = security.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            let host = attempt.url().host_str().unwrap_or_default().to_owned();
            if attempt.previous().len() >= 3 || !security.allows_host(&host) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        })
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .connect_timeout(def.connect_timeout)
        .read_timeout(def.read_timeout)
        .redirect(policy)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        // Building fails only when the TLS backend or resolver cannot initialise; we use
        // neither, so fall back to the default client rather than failing the portal.
        .unwrap_or_default()
}

/// A failed exchange by kind: reqwest's read timeout (no byte within `read_timeout`) is
/// a timeout like the total one, so callers (and breakers) see one kind of timeout.
fn failed(e: &reqwest::Error, read_timeout: Duration) -> CallError {
    if e.is_timeout() {
        CallError::Timeout(crate::error::Elapsed(read_timeout))
    } else if e.is_connect() {
        CallError::Connect(Transport(root_cause(e)))
    } else {
        CallError::Transport(Transport(root_cause(e)))
    }
}

pub(crate) async fn exchange(
    client: &reqwest::Client,
    base_url: &str,
    request: &BackendRequest,
    max_body: usize,
    read_timeout: Duration,
) -> Result<BackendResponse, CallError> {
    let started = tokio::time::Instant::now();
    let url = format!("{base_url}{}", request.path_and_query);
    let mut builder = client.get(&url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let mut response = builder.send().await.map_err(|e| failed(&e, read_timeout))?;
    let status = response.status();
    if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
        let location = status
            .is_redirection()
            .then(|| response.headers().get(http::header::LOCATION))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return Err(BadStatus {
            status: status.as_u16(),
            location,
        }
        .into());
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_body as u64)
    {
        return Err(BodyTooLarge { limit: max_body }.into());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(&e, read_timeout))?
    {
        if body.len() + chunk.len() > max_body {
            return Err(BodyTooLarge { limit: max_body }.into());
        }
        body.extend_from_slice(&chunk);
    }
    let mut headers = std::mem::take(response.headers_mut());
    for name in DROPPED {
        headers.remove(*name);
    }
    Ok(BackendResponse {
        status,
        headers,
        body: body.freeze(),
        elapsed: started.elapsed(),
    })
}

/// reqwest's top-level message is "error sending request for url (…)"; the cause
/// ("Connection refused") is what an operator needs.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
