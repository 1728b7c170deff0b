//! The trace context a backend sees when OpenTelemetry export is on: the request's
//! `traceparent` (made by the channel layer, naming the request's span) is rewritten to
//! name the exported `backend_call` span, so the backend's spans are children of the
//! call in the collector, not of the whole request. Export off: nothing changes.

use http::{HeaderName, HeaderValue};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::client::BackendRequest;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// `request` with its `traceparent` naming `span`; `None` when there is nothing to
/// change: export off (no OpenTelemetry context on the span), or a request that carries
/// no trace context (an invalidation's refresh) and keeps carrying none.
pub(crate) fn name_exported_span(
    span: &tracing::Span,
    request: &BackendRequest,
) -> Option<BackendRequest> {
    if !request.headers.iter().any(|(name, _)| name == TRACEPARENT) {
        return None;
    }
    let cx = span.context();
    let span_ref = cx.span();
    let ids = span_ref.span_context();
    if !ids.is_valid() {
        return None;
    }
    let value = HeaderValue::from_str(&format!(
        "00-{}-{}-{:02x}",
        ids.trace_id(),
        ids.span_id(),
        ids.trace_flags().to_u8()
    ))
    .ok()?;
    let mut named = request.clone();
    for (name, v) in &mut named.headers {
        if *name == TRACEPARENT {
            *v = value.clone();
        }
    }
    Some(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporting_layer_nothing_changes() {
        let request = BackendRequest {
            path_and_query: "/x".into(),
            headers: vec![(
                TRACEPARENT,
                HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            )],
        };
        let span = tracing::info_span!("backend_call");
        assert!(name_exported_span(&span, &request).is_none());
    }
}
