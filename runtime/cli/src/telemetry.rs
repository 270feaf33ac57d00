//! OpenTelemetry export of `cordon serve`'s traces and metrics over OTLP
//! (docs/observability.md), with the `opentelemetry` crates' SDK and exporter.
//!
//! Configured as every OpenTelemetry SDK is, by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, and
//! their per-signal forms), or by the same keys in the config file's `[otel]` section; a
//! variable wins over the file. Off unless an endpoint is set (or with `OTEL_SDK_DISABLED=true`),
//! and then nothing is built: no layer, no thread, no cost.
//!
//! Made in two steps around the process's confinement: [`Telemetry::new`] before it (the
//! server's tracer, installed as the global one, before anything makes a span), with a span
//! processor that is only a slot; [`Telemetry::start`] after it, which builds the exporters and the threads that send
//! (the batch processor's, the metric reader's, the gRPC client's), so that Landlock holds for
//! them as for every other thread.

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Spans the batch processor holds at most, unless configured (see [`Telemetry::start`]).
const QUEUE: usize = 8192;
/// Spans sent in one export at most, unless configured.
const BATCH: usize = 2048;

/// `[otel]` in the config file: the standard variables' names without `OTEL_`, in lower case.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelFile {
    pub exporter_otlp_endpoint: Option<String>,
    pub exporter_otlp_protocol: Option<String>,
    pub exporter_otlp_headers: Option<String>,
    pub service_name: Option<String>,
    pub resource_attributes: Option<String>,
    pub traces_sampler: Option<String>,
    pub traces_sampler_arg: Option<String>,
    pub bsp_schedule_delay: Option<u64>,
    pub bsp_max_queue_size: Option<usize>,
    pub bsp_max_export_batch_size: Option<usize>,
}

/// How spans and metrics travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `http/protobuf`: POST to `<endpoint>/v1/traces` and `/v1/metrics` (port 4318).
    Http,
    /// `grpc`: the collector's gRPC services (port 4317).
    Grpc,
}

/// What the variables and the file say, the variables first.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Set only from the file (a variable is read by the exporter itself).
    endpoint: Option<String>,
    transport: Transport,
    headers: Option<String>,
    file: OtelFile,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// The settings in force, or none when export is off (no endpoint anywhere, or turned off).
    pub fn resolve(file: Option<&OtelFile>) -> anyhow::Result<Option<Settings>> {
        let file = file.cloned().unwrap_or_default();
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let from_env = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .is_some();
        let endpoint = if from_env {
            None
        } else {
            match &file.exporter_otlp_endpoint {
                Some(e) => Some(e.clone()),
                None => return Ok(None),
            }
        };
        let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .or_else(|| file.exporter_otlp_protocol.clone())
            .unwrap_or_else(|| "http/protobuf".into());
        let transport = match protocol.trim() {
            "http/protobuf" => Transport::Http,
            "grpc" => Transport::Grpc,
            other => anyhow::bail!(
                "OTLP protocol {other:?} is not one cordon sends: use http/protobuf (port 4318) or grpc (port 4317) (OTEL_EXPORTER_OTLP_PROTOCOL, or exporter_otlp_protocol in [otel])"
            ),
        };
        let headers = if var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|| var("OTEL_EXPORTER_OTLP_HEADERS"))
            .is_some()
        {
            None
        } else {
            file.exporter_otlp_headers.clone()
        };
        Ok(Some(Settings {
            endpoint,
            transport,
            headers,
            file,
        }))
    }

    /// The resource: the SDK's (service name and attributes from the variables), then the
    /// file's where no variable set them; `cordon` when nothing names the service.
    fn resource(&self) -> Resource {
        let mut builder = Resource::builder();
        if var("OTEL_RESOURCE_ATTRIBUTES").is_none()
            && let Some(attrs) = &self.file.resource_attributes
        {
            builder = builder.with_attributes(key_values(attrs));
        }
        let named = var("OTEL_SERVICE_NAME").is_some()
            || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
        if !named {
            builder = builder.with_service_name(
                self.file
                    .service_name
                    .clone()
                    .unwrap_or_else(|| "cordon".into()),
            );
        }
        builder
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// The file's headers, as the exporters take them.
    fn header_map(&self) -> HashMap<String, String> {
        self.headers
            .as_deref()
            .map(|h| {
                key_values(h)
                    .into_iter()
                    .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `k1=v1,k2=v2` (the variables' format) as key-values.
fn key_values(text: &str) -> Vec<KeyValue> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty()).then(|| KeyValue::new(k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// A span processor that is a slot: spans end into nothing until [`Telemetry::start`] puts
/// the batch processor in it.
#[derive(Debug, Default)]
struct Deferred {
    inner: OnceLock<BatchSpanProcessor>,
    resource: OnceLock<Resource>,
}

impl SpanProcessor for Deferred {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        if let Some(p) = self.inner.get() {
            p.on_start(span, cx);
        }
    }
    fn on_end(&self, span: SpanData) {
        if let Some(p) = self.inner.get() {
            p.on_end(span);
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.get().map_or(Ok(()), |p| p.force_flush())
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner
            .get()
            .map_or(Ok(()), |p| p.shutdown_with_timeout(timeout))
    }
    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.resource.set(resource.clone());
    }
}

/// The slot, shared between the provider (which owns its processors) and [`Telemetry`].
#[derive(Debug, Clone, Default)]
struct Slot(Arc<Deferred>);

impl SpanProcessor for Slot {
    fn on_start(&self, span: &mut Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }
    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.0.resource.set(resource.clone());
    }
}

/// Export in force: the tracer provider, its slot, and what [`Telemetry::start`] made.
pub struct Telemetry {
    settings: Settings,
    provider: SdkTracerProvider,
    slot: Slot,
    meters: OnceLock<opentelemetry_sdk::metrics::SdkMeterProvider>,
    /// The runtime the gRPC client's connection lives on (gRPC only).
    grpc_runtime: OnceLock<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("transport", &self.settings.transport)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The provider (no thread yet), installed as the global one and handed to the server, and
    /// the propagator of W3C trace context.
    pub fn new(settings: Settings) -> Telemetry {
        let slot = Slot::default();
        let mut builder = SdkTracerProvider::builder()
            .with_span_processor(slot.clone())
            .with_resource(settings.resource());
        if var("OTEL_TRACES_SAMPLER").is_none()
            && let Some(sampler) = sampler(&settings.file)
        {
            builder = builder.with_sampler(sampler);
        }
        let provider = builder.build();
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        // The server makes its spans on the global provider's tracer (and the sandbox its
        // outbound requests' spans), from now on.
        opentelemetry::global::set_tracer_provider(provider.clone());
        cordon_server::trace::enable();
        Telemetry {
            settings,
            provider,
            slot,
            meters: OnceLock::new(),
            grpc_runtime: OnceLock::new(),
        }
    }

    /// After confinement: the exporters, the batch processor and the metric reader.
    pub fn start(&self) -> anyhow::Result<()> {
        // Both clients' TLS (rustls) with the process's crypto provider, ring, as cordon's
        // other clients.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (spans, metrics) = match self.settings.transport {
            Transport::Http => {
                let mut span = opentelemetry_otlp::SpanExporter::builder().with_http();
                let mut metric = opentelemetry_otlp::MetricExporter::builder().with_http();
                if let Some(endpoint) = &self.settings.endpoint {
                    let base = endpoint.trim_end_matches('/');
                    span = span.with_endpoint(format!("{base}/v1/traces"));
                    metric = metric.with_endpoint(format!("{base}/v1/metrics"));
                }
                if self.settings.headers.is_some() {
                    span = span.with_headers(self.settings.header_map());
                    metric = metric.with_headers(self.settings.header_map());
                }
                (span.build()?, metric.build()?)
            }
            Transport::Grpc => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("otlp-grpc")
                    .enable_all()
                    .build()?;
                let built = {
                    let _in = runtime.enter();
                    let mut span = opentelemetry_otlp::SpanExporter::builder().with_tonic();
                    let mut metric = opentelemetry_otlp::MetricExporter::builder().with_tonic();
                    if let Some(endpoint) = &self.settings.endpoint {
                        span = span.with_endpoint(endpoint.clone());
                        metric = metric.with_endpoint(endpoint.clone());
                    }
                    if self.settings.headers.is_some() {
                        let metadata = metadata(&self.settings.header_map());
                        span = span.with_metadata(metadata.clone());
                        metric = metric.with_metadata(metadata);
                    }
                    (span.build()?, metric.build()?)
                };
                let _ = self.grpc_runtime.set(runtime);
                built
            }
        };
        let mut config = BatchConfigBuilder::default();
        let file = &self.settings.file;
        if var("OTEL_BSP_SCHEDULE_DELAY").is_none()
            && let Some(ms) = file.bsp_schedule_delay
        {
            config = config.with_scheduled_delay(Duration::from_millis(ms));
        }
        // cordon's defaults where neither a variable nor the file sets them: a queue of 8,192
        // spans and batches of 2,048, four times the SDK's (2,048 and 512). A gateway makes
        // five or six spans a call, tens of thousands a second under load: the SDK's queue
        // fills in a tenth of a second of a collector's pause (its spans then dropped), and its
        // batches make fifty exports a second, each with its HTTP request. Larger batches cost
        // less CPU per span (the bench, docs/benchmarks.md); the queue holds about 4 MiB.
        let (queue, batch_size) = queue_and_batch(file);
        if var("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
            config = config.with_max_queue_size(queue);
        }
        if var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
            config = config.with_max_export_batch_size(batch_size);
        }
        let mut batch = BatchSpanProcessor::builder(spans)
            .with_batch_config(config.build())
            .build();
        if let Some(resource) = self.slot.0.resource.get() {
            batch.set_resource(resource);
        }
        let _ = self.slot.0.inner.set(batch);
        let meters = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_periodic_exporter(metrics)
            .with_resource(self.settings.resource())
            .build();
        opentelemetry::global::set_meter_provider(meters.clone());
        let _ = self.meters.set(meters);
        Ok(())
    }

    /// Sends what is left (at the end of `cordon serve`).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: the last spans were not all sent: {e}");
        }
        if let Some(meters) = self.meters.get()
            && let Err(e) = meters.shutdown()
        {
            eprintln!("warning: the last metrics were not all sent: {e}");
        }
        if let Some(runtime) = self.grpc_runtime.into_inner() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// The batch processor's queue and batch sizes where no variable sets them: the file's, or
/// cordon's defaults.
fn queue_and_batch(file: &OtelFile) -> (usize, usize) {
    (
        file.bsp_max_queue_size.unwrap_or(QUEUE),
        file.bsp_max_export_batch_size.unwrap_or(BATCH),
    )
}

/// The file's sampler (`OTEL_TRACES_SAMPLER`'s names and argument).
fn sampler(file: &OtelFile) -> Option<opentelemetry_sdk::trace::Sampler> {
    use opentelemetry_sdk::trace::Sampler;
    let ratio = || {
        file.traces_sampler_arg
            .as_deref()
            .and_then(|a| a.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0)
    };
    Some(match file.traces_sampler.as_deref()?.trim() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio())))
        }
        _ => return None,
    })
}

/// Headers as gRPC metadata (the ones that are valid there).
fn metadata(
    headers: &HashMap<String, String>,
) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
    use ureq::http::{HeaderMap, HeaderName, HeaderValue};
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (k.parse::<HeaderName>(), HeaderValue::from_str(v)) {
            map.insert(k, v);
        }
    }
    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_attributes_read_as_the_variables_write_them() {
        let kv = key_values("api-key=s3cr3t, deployment.environment = prod,broken,=x");
        let pairs: Vec<(String, String)> = kv
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("api-key".to_owned(), "s3cr3t".to_owned()),
                ("deployment.environment".to_owned(), "prod".to_owned())
            ]
        );
    }

    #[test]
    fn the_batch_processor_holds_and_sends_more_than_the_sdks_unless_configured() {
        assert_eq!(queue_and_batch(&OtelFile::default()), (8192, 2048));
        let file = OtelFile {
            bsp_max_queue_size: Some(100),
            bsp_max_export_batch_size: Some(10),
            ..OtelFile::default()
        };
        assert_eq!(queue_and_batch(&file), (100, 10));
    }

    #[test]
    fn the_files_sampler_takes_the_variables_names_and_a_ratio_in_range() {
        let file = |name: &str, arg: &str| OtelFile {
            traces_sampler: Some(name.into()),
            traces_sampler_arg: Some(arg.into()),
            ..OtelFile::default()
        };
        use opentelemetry_sdk::trace::Sampler;
        assert!(matches!(
            sampler(&file("always_off", "")),
            Some(Sampler::AlwaysOff)
        ));
        assert!(matches!(
            sampler(&file("traceidratio", "0.25")),
            Some(Sampler::TraceIdRatioBased(r)) if r == 0.25
        ));
        // Out of range: every trace, as the SDK does for the variable.
        assert!(matches!(
            sampler(&file("traceidratio", "7")),
            Some(Sampler::TraceIdRatioBased(r)) if r == 1.0
        ));
        assert!(sampler(&file("jaeger_remote", "")).is_none());
        assert!(sampler(&OtelFile::default()).is_none());
    }
}
