//! `/metrics`: the node's figures in the Prometheus/OpenMetrics text format.
//!
//! Two sources, one scrape: what the engine and channels record as pages are served
//! (`tessera_engine::Metrics`: fragment outcomes and times, page times, HTTP statuses),
//! and figures that already exist and are read now rather than counted twice — per
//! service its statistics, latency histogram, breaker state, toggle and in-flight
//! calls; the fragment cache's counters and size; template renders. The operator
//! console (`console`) reads the same sources — `Service::view` and
//! `FragmentCache::settled_snapshot` — so it and `/metrics` cannot disagree. Every
//! metric is documented in `docs/observability.md`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tessera_engine::Engine;
use tessera_service_access::breaker::State as BreakerState;
use tessera_service_access::Toggle;

use crate::AppState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `/metrics` handler; 404 when `[observability] metrics = false`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    if !state.settings().observability.metrics {
        return StatusCode::NOT_FOUND.into_response();
    }
    match render(&state.engine()) {
        Ok(body) => {
            let mut res = body.into_response();
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The exposition text. A registry is assembled per scrape: the recorded families are
/// shared (cloning one shares its values), the rest is read by [`Live`].
pub fn render(engine: &Arc<Engine>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    engine.metrics().register(&mut registry);
    registry.register_collector(Box::new(Live {
        engine: engine.clone(),
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// Figures read at scrape time from the services, the cache and the renderer.
struct Live {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Vec<(&str, &str)>, u64)],
) -> std::fmt::Result {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        if labels.is_empty() {
            // An unlabelled metric has exactly one series.
            return ConstCounter::new(*v).encode(m);
        }
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Vec<(&str, &str)>, i64)],
) -> std::fmt::Result {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in series {
        if labels.is_empty() {
            // An unlabelled metric has exactly one series.
            return ConstGauge::new(*v).encode(m);
        }
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut encoder;
        let services: Vec<_> = self.engine.services().services().cloned().collect();
        let mut calls = Vec::new();
        let mut retries = Vec::new();
        let mut breaker = Vec::new();
        let mut disabled = Vec::new();
        let mut in_flight = Vec::new();
        for s in &services {
            let id = s.id();
            let st = s.stats().snapshot();
            for (outcome, v) in [
                ("success", st.successes),
                ("timeout", st.errors.timeout),
                ("bad_status", st.errors.status),
                ("connect_error", st.errors.connect),
                ("transport_error", st.errors.transport),
                ("too_large", st.errors.too_large),
                ("bulkhead_rejected", st.bulkhead_rejections),
                ("global_rejected", st.global_rejections),
                ("short_circuited", st.short_circuits),
                ("disabled", st.disabled_skips),
            ] {
                calls.push((vec![("service", id), ("outcome", outcome)], v));
            }
            retries.push((vec![("service", id)], st.retries));
            let state = s.breaker().state();
            for candidate in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
            ] {
                breaker.push((
                    vec![("service", id), ("state", candidate.as_str())],
                    i64::from(state == candidate),
                ));
            }
            disabled.push((
                vec![("service", id)],
                i64::from(matches!(s.toggle(), Toggle::Disabled { .. })),
            ));
            in_flight.push((vec![("service", id)], i64::from(s.in_flight())));
        }
        counter(
            e,
            "tessera_backend_calls",
            "Backend calls by service and outcome (rejected and short-circuited calls included)",
            &calls,
        )?;
        counter(
            e,
            "tessera_backend_retries",
            "Retried backend exchanges by service",
            &retries,
        )?;
        {
            let mut m = e.encode_descriptor(
                "tessera_backend_latency_seconds",
                "Latency of backend calls that reached the backend (timeouts included)",
                None,
                MetricType::Histogram,
            )?;
            for s in &services {
                let h = s.stats().latency_histogram();
                // The exposition wants per-bucket counts; the statistics are cumulative.
                let mut previous = 0;
                let buckets: Vec<(f64, u64)> = h
                    .buckets
                    .iter()
                    .map(|(bound, cumulative)| {
                        let own = cumulative.saturating_sub(previous);
                        previous = *cumulative;
                        (*bound, own)
                    })
                    .collect();
                let labels = [("service", s.id())];
                m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                    h.sum_seconds,
                    h.count,
                    &buckets,
                    None,
                )?;
            }
        }
        gauge(
            e,
            "tessera_breaker_state",
            "1 for the breaker's current state (closed, open, half_open), 0 for the others",
            &breaker,
        )?;
        gauge(
            e,
            "tessera_service_disabled",
            "1 while an operator has disabled the service",
            &disabled,
        )?;
        gauge(
            e,
            "tessera_backend_in_flight",
            "Backend calls in flight by service",
            &in_flight,
        )?;

        let fragments = self.engine.fragments();
        // The same settled figures the console and `/admin/api/cache` show.
        let c = fragments.cache().settled_snapshot();
        let none = Vec::new;
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        gauge(
            e,
            "tessera_cache_bytes",
            "Bytes held by the fragment cache (weighed entries)",
            &[(none(), g(c.bytes))],
        )?;
        gauge(
            e,
            "tessera_cache_max_bytes",
            "The fragment cache's byte bound ([cache] max-bytes)",
            &[(none(), g(c.max_bytes))],
        )?;
        gauge(
            e,
            "tessera_cache_entries",
            "Entries in the fragment cache (every stage of every chain)",
            &[(none(), g(c.entries))],
        )?;
        gauge(
            e,
            "tessera_cache_graph_nodes",
            "Nodes in the object dependency graph",
            &[(none(), g(c.graph_nodes as u64))],
        )?;
        counter(
            e,
            "tessera_cache_hits",
            "Fragment cache lookups that found an entry",
            &[(none(), c.hits)],
        )?;
        counter(
            e,
            "tessera_cache_misses",
            "Fragment cache lookups that found nothing",
            &[(none(), c.misses)],
        )?;
        counter(
            e,
            "tessera_cache_inserts",
            "Entries stored in the fragment cache",
            &[(none(), c.inserts)],
        )?;
        counter(
            e,
            "tessera_cache_evictions",
            "Entries the fragment cache removed for size or expiry",
            &[(none(), c.evictions)],
        )?;
        counter(
            e,
            "tessera_invalidations",
            "Invalidation requests carried out (dry runs excluded)",
            &[(none(), c.invalidations)],
        )?;
        counter(
            e,
            "tessera_invalidated_entries",
            "Cache entries removed by invalidations",
            &[(none(), c.invalidated_entries)],
        )?;
        gauge(
            e,
            "tessera_fetches_in_flight",
            "Backend fetches in flight for the fragment cache (coalesced misses count once)",
            &[(none(), g(fragments.inflight().len() as u64))],
        )?;
        counter(
            e,
            "tessera_template_renders",
            "Template renders of the current portal version (fragments, fallbacks, layouts, portal pages)",
            &[(none(), fragments.renderer().total_renders())],
        )?;
        Ok(())
    }
}
