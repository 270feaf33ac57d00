//! Prometheus metrics at `/metrics`: invocations by tool and outcome, latency, fuel and memory
//! used, denials, rejected requests by reason, executions in flight.
//!
//! Recorded through the `metrics` facade; `metrics-exporter-prometheus` renders the text format.
//! The endpoint needs no API key (scrapers rarely carry one); it carries no secrets, tool inputs
//! or outputs, and the server listens on loopback unless told otherwise.

use cordon_core::Execution;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: from a warm in-process call (tens of microseconds) to the
/// longest deadline a policy may set (60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];
const MEMORY_BUCKETS: &[f64] = &[
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// Installs the process-wide recorder (once; later calls reuse it).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("cordon_invocation_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("cordon_peak_memory_bytes".into()),
                    MEMORY_BUCKETS,
                )
            });
        match builder.and_then(|b| b.install_recorder()) {
            Ok(handle) => handle,
            Err(e) => {
                tracing::error!(error = %e, "metrics recorder not installed");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// The Prometheus text exposition.
pub fn render() -> String {
    install().render()
}

/// Records one finished execution.
pub fn execution(tool: &str, exec: &Execution) {
    let outcome = exec.outcome.as_str();
    metrics::counter!("cordon_invocations_total", "tool" => tool.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("cordon_invocation_duration_seconds", "tool" => tool.to_owned())
        .record(exec.usage.wall_time_us as f64 / 1e6);
    metrics::counter!("cordon_fuel_consumed_total", "tool" => tool.to_owned())
        .increment(exec.usage.fuel_consumed);
    metrics::histogram!("cordon_peak_memory_bytes", "tool" => tool.to_owned())
        .record(exec.usage.peak_memory_bytes as f64);
    for d in &exec.usage.denials {
        let kind = match d.kind {
            cordon_core::DenialKind::Network => "network",
            cordon_core::DenialKind::Filesystem => "filesystem",
            _ => "env",
        };
        metrics::counter!("cordon_denials_total", "tool" => tool.to_owned(), "kind" => kind)
            .increment(1);
    }
}

/// Records a refused request by its error code.
pub fn rejected(code: &'static str) {
    metrics::counter!("cordon_rejected_requests_total", "reason" => code).increment(1);
}

/// Tracks executions in flight.
pub fn in_flight(delta: f64) {
    metrics::gauge!("cordon_executions_in_flight").increment(delta);
}
