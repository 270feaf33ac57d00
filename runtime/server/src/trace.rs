//! Traces (docs/observability.md): the spans of a call, named and attributed as the
//! OpenTelemetry semantic conventions say (HTTP server spans; MCP's `mcp.method.name`,
//! `jsonrpc.request.id`, `gen_ai.tool.name`, `gen_ai.operation.name`, `error.type`), and the W3C
//! trace context a caller sends (`traceparent`, `tracestate`; in MCP also `_meta.traceparent`),
//! which they continue.
//!
//! Spans are `tracing` spans with target `cordon::trace`; the binary exports them when an OTLP
//! endpoint is configured (`cordon` crate, `telemetry.rs`). Off, they are disabled callsites and
//! the context is never read: nothing is paid. No span carries an argument, a result or a
//! credential.

use axum::http::HeaderMap;
use opentelemetry::propagation::Extractor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The target every span of a call has (what the exporter takes).
pub const TARGET: &str = "cordon::trace";

/// Headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// `_meta` of an MCP request as the propagator reads it.
struct Meta<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Makes `span` a child of the trace the request's headers carry, if any.
pub fn continue_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    if span.is_disabled() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(cx);
}

/// Makes `span` a child of the trace an MCP request's `_meta` carries (`traceparent`,
/// `tracestate`), if any: it wins over the HTTP request's, as the nearer caller's.
pub fn continue_from_meta(
    span: &tracing::Span,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) {
    let Some(meta) = meta else { return };
    if span.is_disabled() || !meta.contains_key("traceparent") {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Meta(meta)));
    let _ = span.set_parent(cx);
}

/// The span of one MCP `tools/call` (`{mcp.method.name} {gen_ai.tool.name}`), in the trace its
/// `_meta` names, or else the HTTP request's.
pub fn mcp_tool_call(
    tool: &str,
    request_id: Option<&str>,
    protocol: Option<&str>,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        "mcp.tools_call",
        otel.name = %format_args!("tools/call {tool}"),
        otel.kind = "server",
        mcp.method.name = "tools/call",
        mcp.protocol.version = tracing::field::Empty,
        jsonrpc.request.id = tracing::field::Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = tool,
        error.type = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if let Some(p) = protocol {
        span.record("mcp.protocol.version", p);
    }
    if let Some(id) = request_id {
        span.record("jsonrpc.request.id", id);
    }
    continue_from_meta(&span, meta);
    span
}

/// Records how an MCP call ended: on its span (`error.type` is `tool_error` for a result with
/// `isError`, the JSON-RPC error code for an error), and in the conventions' histogram
/// `mcp.server.operation.duration` (seconds), beside the Prometheus metrics. With export off
/// the histogram is OpenTelemetry's no-op one.
pub fn mcp_outcome(
    span: &tracing::Span,
    tool: &str,
    started: std::time::Instant,
    answer: &Result<rmcp::model::CallToolResponse, rmcp::ErrorData>,
) {
    let error = match answer {
        Ok(rmcp::model::CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
            Some("tool_error".to_owned())
        }
        Ok(_) => None,
        Err(e) => Some(e.code.0.to_string()),
    };
    if let Some(error) = &error {
        span.record("error.type", error.as_str());
        span.record("otel.status_code", "ERROR");
    }
    let mut attributes = vec![
        opentelemetry::KeyValue::new("mcp.method.name", "tools/call"),
        opentelemetry::KeyValue::new("gen_ai.tool.name", tool.to_owned()),
        opentelemetry::KeyValue::new("gen_ai.operation.name", "execute_tool"),
    ];
    if let Some(error) = error {
        attributes.push(opentelemetry::KeyValue::new("error.type", error));
    }
    operation_duration().record(started.elapsed().as_secs_f64(), &attributes);
}

/// `mcp.server.operation.duration`, made once from the meter in force (the exporter's, set
/// before the server starts, or the no-op one).
fn operation_duration() -> &'static opentelemetry::metrics::Histogram<f64> {
    static HISTOGRAM: std::sync::OnceLock<opentelemetry::metrics::Histogram<f64>> =
        std::sync::OnceLock::new();
    HISTOGRAM.get_or_init(|| {
        opentelemetry::global::meter("cordon")
            .f64_histogram("mcp.server.operation.duration")
            .with_unit("s")
            .with_description("Duration of an MCP request as the server saw it")
            .with_boundaries(vec![
                0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ])
            .build()
    })
}

/// The trace `span` is exported in, as 32 hex digits, when it is (export on, sampled).
pub fn sampled_trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let context = cx.span().span_context().clone();
    (context.is_valid() && context.is_sampled()).then(|| context.trace_id().to_string())
}

/// The W3C `traceparent` of `span` when it is exported and sampled: what a task keeps so that
/// its later work (a next round, an approved run, a poll or a cancellation, on any node) joins
/// the trace the call began in.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let context = cx.span().span_context().clone();
    (context.is_valid() && context.is_sampled()).then(|| {
        format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        )
    })
}

/// A stored `traceparent` as the propagator reads it.
struct Stored<'a>(&'a str);

impl Extractor for Stored<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The span of work done for a call after the request that began it (`operation`: a task's
/// next round, an approved call's run, a poll, a cancellation), named `{operation} {tool}`: a
/// child of the span the call began under (`stored`, its [`traceparent`]), so that the call
/// stays one trace across requests and nodes, and linked to the request doing it now (which may
/// be in the caller's own trace). Without a stored trace it is an ordinary child of the current
/// span.
pub fn resumed(
    operation: &'static str,
    tool: &str,
    execution_id: &str,
    stored: Option<&str>,
) -> tracing::Span {
    use opentelemetry::trace::TraceContextExt as _;
    let span = tracing::info_span!(
        target: TARGET,
        "cordon.resumed",
        otel.name = %format_args!("{operation} {tool}"),
        cordon.operation = operation,
        gen_ai.tool.name = tool,
        cordon.execution_id = execution_id,
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(stored) = stored {
        let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Stored(stored)));
        if cx.span().span_context().is_valid() {
            let now = tracing::Span::current()
                .context()
                .span()
                .span_context()
                .clone();
            let _ = span.set_parent(cx);
            span.add_link(now);
        }
    }
    span
}

/// The route of `path` for a span's name: the literal segments of cordon's routes kept, every
/// other segment (a tool's name, an execution id) `{}`, so that names stay few.
pub fn route(path: &str) -> String {
    const LITERALS: [&str; 28] = [
        "v1",
        "tools",
        "invoke",
        "resume",
        "policy",
        "quarantine",
        "release",
        "executions",
        "events",
        "receipt",
        "keys",
        "audit",
        "verify",
        "checkpoint",
        "key",
        "decisions",
        "approvals",
        "alerts",
        "test",
        "suspensions",
        "quotas",
        "whoami",
        "stats",
        "status",
        "openapi.json",
        "mcp",
        "healthz",
        "readyz",
    ];
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if LITERALS.contains(&segment) {
            out.push_str(segment);
        } else {
            out.push_str("{}");
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_keep_their_literals_and_hide_names_and_ids() {
        assert_eq!(super::route("/v1/tools/echo/invoke"), "/v1/tools/{}/invoke");
        assert_eq!(
            super::route("/v1/executions/ex_0123/events"),
            "/v1/executions/{}/events"
        );
        assert_eq!(super::route("/mcp"), "/mcp");
        assert_eq!(super::route("/"), "/");
    }
}
