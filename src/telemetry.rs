//! Logs and, when configured, OpenTelemetry trace export (OTLP over HTTP/protobuf).
//!
//! Export is off unless `[observability] otlp-endpoint` or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` names a collector
//! (`OTEL_SDK_DISABLED=true` switches it off again). Then the `request`, `fragment` and
//! `backend_call` spans go to the collector through the SDK's batch span processor:
//! spans are handed to a bounded queue (`try_send`, never waiting) and a thread of its
//! own exports them, so a collector that is slow or down costs a page nothing. When the
//! queue is full, new spans are dropped (and counted in one warning at shutdown).
//! [`Telemetry::shutdown`] flushes what is queued, waiting at most [`FLUSH_LIMIT`].

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tessera_descriptors::settings::{check_otlp_endpoint, LogFormat, ObservabilitySettings};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter, EnvFilter, Layer};

/// How long shutdown waits for the last spans to reach the collector. A healthy
/// collector takes milliseconds; a dead one must not hold up a restart for long (each
/// export attempt is bounded on its own by `OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default).
pub const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The spans exported: the portal's own, by name. Everything else (the HTTP client's,
/// the store's) stays in the logs.
const EXPORTED_SPANS: [&str; 3] = ["request", "fragment", "backend_call"];

/// Where and how traces are exported, once settings and environment are combined.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    pub traces_url: String,
    pub service_name: String,
    pub sampling_ratio: f64,
}

/// What an environment variable says, when it says anything.
fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Combines `[observability]` with the standard OpenTelemetry variables. The variables
/// win, as `TESSERA_LOG_FORMAT` and `TESSERA_DATABASE_URL` do: a deployment sets them
/// without editing the shipped file. `Err`: an endpoint from the environment that
/// cannot work, for a startup error.
pub fn resolve(
    settings: &ObservabilitySettings,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Export>, String> {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let traces_url = if let Some(url) = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        // The signal's own variable is the full URL, used as given.
        check_otlp_endpoint(&url)
            .map_err(|e| format!("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {e}"))?;
        url
    } else {
        let base = match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(url) => {
                check_otlp_endpoint(&url)
                    .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
                url
            }
            // Checked when tessera.toml was read.
            None => match &settings.otlp_endpoint {
                Some(url) => url.clone(),
                None => return Ok(None),
            },
        };
        format!("{}/v1/traces", base.trim_end_matches('/'))
    };
    Ok(Some(Export {
        traces_url,
        service_name: env("OTEL_SERVICE_NAME")
            .unwrap_or_else(|| settings.otlp_service_name.clone()),
        sampling_ratio: settings.otlp_sampling_ratio,
    }))
}

/// The tracer provider, kept to flush on shutdown; empty when export is off.
#[must_use = "shut it down to flush the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is still queued (at most [`FLUSH_LIMIT`]) and stops the exporter.
    /// Call it outside the async runtime: it blocks.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown_with_timeout(FLUSH_LIMIT) {
                eprintln!("tessera: the last spans were not all exported: {e}");
            }
        }
    }
}

fn provider(export: &Export) -> Result<SdkTracerProvider, String> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(&export.traces_url)
        .build()
        .map_err(|e| format!("cannot set up trace export to {}: {e}", export.traces_url))?;
    Ok(SdkTracerProvider::builder()
        // Batch size, queue bound and delay come from the standard OTEL_BSP_*
        // variables (defaults: 512 per export, 2,048 queued, every 5 s).
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            export.sampling_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(export.service_name.clone())
                .build(),
        )
        .build())
}

/// Installs logging (stderr, human-readable or JSON lines: `[observability] log-format`,
/// overridden by `TESSERA_LOG_FORMAT`; `RUST_LOG` filters) and, when configured, trace
/// export. Called once the settings are read, so even the first line has the
/// configured format. `Err`: export is configured but cannot be set up.
pub fn init(settings: &ObservabilitySettings, export: bool) -> Result<Telemetry, String> {
    let export = if export {
        resolve(settings, env)?
    } else {
        None
    };
    let provider = export.as_ref().map(provider).transpose()?;
    let format = env("TESSERA_LOG_FORMAT")
        .and_then(|v| LogFormat::parse(&v))
        .unwrap_or(settings.log_format);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into());
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        // One object per line with the event's fields and the spans around it
        // (request id, trace id, fragment, service).
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    // Its own filter, independent of RUST_LOG: the three span kinds (fragment and
    // backend call spans are `debug`, below the default log level) and the warnings and
    // errors inside them, which become span events.
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("tessera"))
            .with_filter(filter::filter_fn(|m| {
                if m.is_span() {
                    m.target().starts_with("tessera") && EXPORTED_SPANS.contains(&m.name())
                } else {
                    *m.level() <= Level::WARN
                }
            }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    if let Some(export) = &export {
        tracing::info!(
            endpoint = %export.traces_url,
            service = %export.service_name,
            sampling_ratio = export.sampling_ratio,
            "exporting traces (OTLP/HTTP)"
        );
    }
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>) -> ObservabilitySettings {
        ObservabilitySettings {
            otlp_endpoint: endpoint.map(str::to_owned),
            ..ObservabilitySettings::default()
        }
    }

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn off_unless_an_endpoint_is_configured() {
        assert_eq!(resolve(&settings(None), vars(&[])), Ok(None));
        let on = resolve(&settings(Some("http://collector:4318/")), vars(&[]))
            .expect("valid")
            .expect("on");
        assert_eq!(on.traces_url, "http://collector:4318/v1/traces");
        assert_eq!(on.service_name, "tessera");
        assert_eq!(
            resolve(
                &settings(Some("http://collector:4318")),
                vars(&[("OTEL_SDK_DISABLED", "true")])
            ),
            Ok(None)
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let on = resolve(
            &settings(Some("http://collector:4318")),
            vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://agent:4318"),
                ("OTEL_SERVICE_NAME", "portal-eu"),
            ]),
        )
        .expect("valid")
        .expect("on");
        assert_eq!(on.traces_url, "http://agent:4318/v1/traces");
        assert_eq!(on.service_name, "portal-eu");
        let on = resolve(
            &settings(None),
            vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://agent:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://agent:4318/custom",
                ),
            ]),
        )
        .expect("valid")
        .expect("on");
        assert_eq!(on.traces_url, "http://agent:4318/custom");
    }

    #[test]
    fn a_bad_endpoint_in_the_environment_is_a_startup_error() {
        let e = resolve(
            &settings(None),
            vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "OTEL_EXPORTER_OTLP_ENDPOINT: \"collector:4318\" is not an http:// URL; expected e.g. \"http://127.0.0.1:4318\""
        );
    }
}
