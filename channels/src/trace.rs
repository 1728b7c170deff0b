//! Request ids and trace context: every request gets an `X-Request-Id` (the caller's,
//! when it is at most 128 visible ASCII characters, otherwise a new one) and a W3C trace
//! context (the caller's trace id and sampled flag when it sent a valid version-00
//! `traceparent`, otherwise a new random trace id; always a new span id for this
//! request). The `observe` middleware puts them into the request's extensions, so
//! handlers read one normalized value ([`of`]) without parsing headers again, writes the
//! request id into the request's `X-Request-Id`, opens the request's span, counts the
//! response by status and echoes `X-Request-Id` on it.
//!
//! With OpenTelemetry export on (`src/main.rs` installs the layer), the request span is
//! the exported one: it continues the caller's trace (its parent is the caller's span),
//! and its exported trace id, span id and sampling decision become the request's, so
//! logs, backends and the collector agree ([`join_exported`]). Without the layer the ids
//! are the ones [`begin`] made.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use tessera_fragments::RequestTrace;
use tracing::Instrument;

use crate::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The longest request id accepted from a caller (longer ones are replaced).
pub const MAX_REQUEST_ID: usize = 128;

/// Whether a caller's request id can be passed on: 1 to 128 visible ASCII characters
/// (no spaces or controls, so it cannot split a log line or a header).
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Lower-case hex. On every request (request and trace ids), so written out rather than
/// one `format!` per byte, which showed up in the cache-hit profile (docs/benchmarks.md).
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let [hi, lo] = hex_digits(*b);
        out.push(char::from(hi));
        out.push(char::from(lo));
    }
    out
}

fn hex_digits(b: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]]
}

/// A new random id of `N` bytes as lower-case hex, made straight into the shared string
/// the request keeps (no intermediate `String`).
fn random_hex<const N: usize>() -> Arc<str> {
    let mut digits = [0u8; 64];
    let digits = &mut digits[..2 * N];
    for (pair, b) in digits.chunks_exact_mut(2).zip(random_nonzero::<N>()) {
        pair.copy_from_slice(&hex_digits(b));
    }
    Arc::from(std::str::from_utf8(digits).unwrap_or_default())
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    let mut rng = rand::rng();
    loop {
        let mut b = [0u8; N];
        rng.fill(&mut b[..]);
        // All zeros is invalid for trace and span ids; the loop runs again with odds
        // of 2^-64 at worst.
        if b.iter().any(|x| *x != 0) {
            return b;
        }
    }
}

/// The trace id, parent span id and sampled flag of a valid version-00 `traceparent`.
fn parse_traceparent(v: &str) -> Option<(&str, &str, bool)> {
    let parts: Vec<&str> = v.trim().split('-').collect();
    let [version, trace, parent, flags] = parts.as_slice() else {
        return None;
    };
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    if *version != "00"
        || !lower_hex(trace, 32)
        || !nonzero(trace)
        || !lower_hex(parent, 16)
        || !nonzero(parent)
        || !lower_hex(flags, 2)
    {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace, parent, flags & 1 == 1))
}

/// The ids of a new request, continuing the caller's request id and trace when valid.
pub fn begin(headers: &HeaderMap) -> RequestTrace {
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| valid_request_id(id))
        .map_or_else(random_hex::<16>, Arc::from);
    let caller = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent);
    let (trace_id, sampled) = match caller {
        Some((trace, _, sampled)) => (Arc::from(trace), sampled),
        None => (random_hex::<16>(), true),
    };
    RequestTrace {
        request_id,
        trace_id,
        span_id: random_hex::<8>(),
        sampled,
    }
}

/// The request's ids as the `observe` middleware left them in its extensions; `None`
/// when the request did not pass through it.
pub fn of(extensions: &Extensions) -> Option<RequestTrace> {
    extensions.get::<RequestTrace>().cloned()
}

/// Middleware: ids, the request's span, the response counted and its id echoed.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut trace = begin(req.headers());
    // The path only: query strings may carry what a user typed.
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %trace.request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let caller = req
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent);
    if let Some((trace_id, span_id, sampled)) = join_exported(&span, caller) {
        trace.trace_id = Arc::from(trace_id);
        trace.span_id = Arc::from(span_id);
        trace.sampled = sampled;
    }
    span.record("trace_id", &*trace.trace_id);
    span.record("span_id", &*trace.span_id);
    let id = HeaderValue::from_str(&trace.request_id).ok();
    if let Some(id) = &id {
        req.headers_mut().insert(REQUEST_ID, id.clone());
    }
    req.extensions_mut().insert(trace);
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "response failed");
        } else {
            tracing::debug!(status, latency_ms, "request finished");
        }
    });
    state.registry.metrics().response(status);
    if let Some(id) = id {
        res.headers_mut().insert(REQUEST_ID, id);
    }
    res
}

/// Makes `span` (a request span, not yet entered) continue the caller's trace in the
/// exported trace, and returns its exported trace id, span id and sampled flag; `None`
/// when no OpenTelemetry layer records the span (export off).
///
/// The caller's span becomes the remote parent, so the exported trace id is the
/// caller's; without a valid caller the exporter starts a trace of its own, whose id the
/// request then takes. The sampler (parent-based) keeps the caller's sampled flag.
fn join_exported(
    span: &tracing::Span,
    caller: Option<(&str, &str, bool)>,
) -> Option<(String, String, bool)> {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if let Some((trace, parent, sampled)) = caller {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        if let (Ok(trace), Ok(parent)) = (TraceId::from_hex(trace), SpanId::from_hex(parent)) {
            let remote = SpanContext::new(trace, parent, flags, true, TraceState::default());
            // Fails only without the layer (then the context below is empty too).
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
    }
    let cx = span.context();
    let span_ref = cx.span();
    let ids = span_ref.span_context();
    ids.is_valid().then(|| {
        (
            ids.trace_id().to_string(),
            ids.span_id().to_string(),
            ids.is_sampled(),
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(super::hex(&[]), "");
    }

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn a_valid_caller_id_and_trace_are_continued() {
        let t = begin(&headers(&[
            ("x-request-id", "abc-123"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        ]));
        assert_eq!(&*t.request_id, "abc-123");
        assert_eq!(&*t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(&*t.span_id, "00f067aa0ba902b7", "a span of our own");
        assert!(!t.sampled);
    }

    #[test]
    fn invalid_ids_are_replaced() {
        let long = "x".repeat(129);
        for bad_id in [long.as_str(), "has space", ""] {
            let t = begin(&headers(&[("x-request-id", bad_id)]));
            assert_ne!(&*t.request_id, bad_id);
            assert_eq!(t.request_id.len(), 32);
        }
        assert!(valid_request_id(&"x".repeat(128)));
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            let t = begin(&headers(&[("traceparent", bad)]));
            assert!(!bad.contains(&*t.trace_id), "{bad}");
            assert!(t.sampled);
        }
    }

    #[test]
    fn the_ids_read_back_from_the_extensions() {
        let t = begin(&HeaderMap::new());
        let mut e = Extensions::new();
        assert_eq!(of(&e), None);
        e.insert(t.clone());
        assert_eq!(of(&e), Some(t));
    }
}
