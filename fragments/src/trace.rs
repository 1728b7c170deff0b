//! The request's identity as backends see it: an `X-Request-Id` and a W3C `traceparent`
//! (<https://www.w3.org/TR/trace-context/>), made by the channel layer and carried
//! through the engine to every backend call of the request.
//!
//! A fetch shared by several requests (coalesced misses) carries the ids of the request
//! that started it; the others wait on it without a backend call of their own. A
//! background refresh (stale-while-revalidate) carries the ids of the request that
//! noticed the entry was stale.

use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};

/// The ids of one portal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTrace {
    /// Validated (at most 128 visible ASCII characters) or generated.
    pub request_id: Arc<str>,
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: Arc<str>,
    /// This portal request's span: 16 lowercase hex digits, not all zero. Backends see
    /// it as their parent.
    pub span_id: Arc<str>,
    /// The W3C `sampled` flag, kept from the caller's `traceparent` (set otherwise).
    pub sampled: bool,
}

impl RequestTrace {
    /// `00-<trace-id>-<span-id>-<flags>`.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            self.span_id,
            if self.sampled { "01" } else { "00" }
        )
    }

    /// The headers every backend request of this portal request carries.
    pub fn backend_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(2);
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            out.push((HeaderName::from_static("x-request-id"), v));
        }
        if let Ok(v) = HeaderValue::from_str(&self.traceparent()) {
            out.push((HeaderName::from_static("traceparent"), v));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_headers_carry_the_ids() {
        let t = RequestTrace {
            request_id: Arc::from("req-1"),
            trace_id: Arc::from("4bf92f3577b34da6a3ce929d0e0e4736"),
            span_id: Arc::from("00f067aa0ba902b7"),
            sampled: true,
        };
        let h = t.backend_headers();
        assert_eq!(h[0].1, "req-1");
        assert_eq!(
            h[1].1,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
