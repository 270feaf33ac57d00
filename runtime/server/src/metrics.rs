//! Prometheus metrics at `/metrics`: invocations by tool and outcome, latency, fuel and memory
//! used, denials, rejected requests by reason, executions in flight, and the journal's group
//! commits (records per commit, time per commit).
//!
//! Recorded with the `prometheus` crate: every histogram is a fixed set of atomic bucket
//! counters, so recording costs no memory, however long the server runs and however rarely it is
//! scraped. (Round 1 used `metrics-exporter-prometheus`, whose histograms keep every sample until
//! they are folded, which nothing did unless `/metrics` was scraped: about 40 bytes per invoke,
//! for ever. Folding them every second still left a few bytes per invoke retained through its
//! epoch-based reclamation.)
//!
//! Who may read the endpoint is a server setting (`metrics` in `docs/configuration.md`). It
//! carries no secrets, tool inputs or outputs, only tool names, outcomes and counts.

use cordon_core::Execution;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;

/// Latency buckets in seconds: from a warm in-process call (tens of microseconds) to the
/// longest deadline a policy may set (60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];
/// Peak guest memory buckets in bytes: 1 MiB to the 1 GiB server cap.
const MEMORY_BUCKETS: &[f64] = &[
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// Records per group commit: 1 (a lone caller) to the journal's largest batch (512).
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
/// Time of one group commit (append, fsync, signature) in seconds: from a fast local disk to a
/// database that is struggling.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// Time of one decision of the operator's bundle, document included, in seconds: from a few
/// rules (microseconds) to one cut off at its 50 ms limit.
const DECISION_BUCKETS: &[f64] = &[
    0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.00025, 0.001, 0.005, 0.05,
];

struct Metrics {
    registry: Registry,
    invocations: IntCounterVec,
    duration: HistogramVec,
    fuel: IntCounterVec,
    memory: HistogramVec,
    denials: IntCounterVec,
    rejected: IntCounterVec,
    quota_refusals: IntCounterVec,
    in_flight: IntGauge,
    group_records: Histogram,
    commit_seconds: Histogram,
    decision_seconds: Histogram,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let counter = |name: &str, help: &str, labels: &[&str]| {
        let c = IntCounterVec::new(Opts::new(name, help), labels)?;
        registry.register(Box::new(c.clone()))?;
        Ok::<_, prometheus::Error>(c)
    };
    let histogram = |name: &str, help: &str, buckets: &[f64]| {
        let h = HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            &["tool"],
        )?;
        registry.register(Box::new(h.clone()))?;
        Ok::<_, prometheus::Error>(h)
    };
    let in_flight = IntGauge::new("cordon_executions_in_flight", "executions running now")?;
    registry.register(Box::new(in_flight.clone()))?;
    let plain = |name: &str, help: &str, buckets: &[f64]| {
        let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?;
        registry.register(Box::new(h.clone()))?;
        Ok::<_, prometheus::Error>(h)
    };
    let group_records = plain(
        "cordon_journal_group_records",
        "execution records committed together in one group commit",
        GROUP_BUCKETS,
    )?;
    let commit_seconds = plain(
        "cordon_journal_commit_seconds",
        "time of one group commit: append, fsync and the group's signature",
        COMMIT_BUCKETS,
    )?;
    let decision_seconds = plain(
        "cordon_decision_seconds",
        "time of one decision of the decisions bundle in force, its input document included",
        DECISION_BUCKETS,
    )?;
    Ok(Metrics {
        decision_seconds,
        invocations: counter(
            "cordon_invocations_total",
            "finished executions by tool and outcome",
            &["tool", "outcome"],
        )?,
        duration: histogram(
            "cordon_invocation_duration_seconds",
            "wall time of executions",
            LATENCY_BUCKETS,
        )?,
        fuel: counter(
            "cordon_fuel_consumed_total",
            "fuel units consumed by executions",
            &["tool"],
        )?,
        memory: histogram(
            "cordon_peak_memory_bytes",
            "peak guest memory of executions",
            MEMORY_BUCKETS,
        )?,
        denials: counter(
            "cordon_denials_total",
            "operations the host refused a tool, by kind",
            &["tool", "kind"],
        )?,
        rejected: counter(
            "cordon_rejected_requests_total",
            "requests refused, by error code",
            &["reason"],
        )?,
        quota_refusals: counter(
            "cordon_quota_refusals_total",
            "executions refused because a caller's quota was used up, by quota",
            &["quota"],
        )?,
        in_flight,
        group_records,
        commit_seconds,
        registry,
    })
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| match build() {
    Ok(m) => Some(m),
    Err(e) => {
        tracing::error!(error = %e, "metrics not available");
        None
    }
});

/// Builds the metrics (once; later calls do nothing). Recording works without it too.
pub fn install() {
    LazyLock::force(&METRICS);
}

/// The Prometheus text exposition.
pub fn render() -> String {
    let Some(m) = METRICS.as_ref() else {
        return String::new();
    };
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics not rendered");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Records one finished execution.
pub fn execution(tool: &str, exec: &Execution) {
    let Some(m) = METRICS.as_ref() else {
        return;
    };
    m.invocations
        .with_label_values(&[tool, exec.outcome.as_str()])
        .inc();
    m.duration
        .with_label_values(&[tool])
        .observe(exec.usage.wall_time_us as f64 / 1e6);
    m.fuel
        .with_label_values(&[tool])
        .inc_by(exec.usage.fuel_consumed);
    m.memory
        .with_label_values(&[tool])
        .observe(exec.usage.peak_memory_bytes as f64);
    for d in &exec.usage.denials {
        let kind = match d.kind {
            cordon_core::DenialKind::Network => "network",
            cordon_core::DenialKind::Filesystem => "filesystem",
            _ => "env",
        };
        m.denials.with_label_values(&[tool, kind]).inc();
    }
}

/// Records a call found `interrupted` after its node stopped (counted with the invocations).
pub fn interrupted(tool: &str) {
    if let Some(m) = METRICS.as_ref() {
        m.invocations
            .with_label_values(&[tool, cordon_core::Outcome::Interrupted.as_str()])
            .inc();
    }
}

/// Records a refused request by its error code.
pub fn rejected(code: &'static str) {
    if let Some(m) = METRICS.as_ref() {
        m.rejected.with_label_values(&[code]).inc();
    }
}

/// Records an execution refused by a quota (`executions_per_day`, `concurrent`,
/// `fuel_per_day`).
pub fn quota_refused(quota: &'static str) {
    if let Some(m) = METRICS.as_ref() {
        m.quota_refusals.with_label_values(&[quota]).inc();
    }
}

/// Tracks executions in flight.
pub fn in_flight(delta: i64) {
    if let Some(m) = METRICS.as_ref() {
        m.in_flight.add(delta);
    }
}

/// Records one group commit of the journal: how many records, and how long it took.
pub fn group_commit(records: usize, took: std::time::Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.group_records.observe(records as f64);
        m.commit_seconds.observe(took.as_secs_f64());
    }
}

/// Records the time one decision took.
pub fn decision(took: std::time::Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.decision_seconds.observe(took.as_secs_f64());
    }
}

/// Forgets the label sets of a tool that is no longer published, so the metric families do not
/// keep one series per deleted tool for ever.
pub fn forget_tool(tool: &str) {
    let Some(m) = METRICS.as_ref() else {
        return;
    };
    for outcome in cordon_core::Outcome::ALL {
        let _ = m.invocations.remove_label_values(&[tool, outcome.as_str()]);
    }
    let _ = m.duration.remove_label_values(&[tool]);
    let _ = m.fuel.remove_label_values(&[tool]);
    let _ = m.memory.remove_label_values(&[tool]);
    for kind in ["network", "filesystem", "env"] {
        let _ = m.denials.remove_label_values(&[tool, kind]);
    }
}
