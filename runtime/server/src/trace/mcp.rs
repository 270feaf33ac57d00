//! The span of an MCP `tools/call` and the conventions' histogram of MCP operations
//! (`mcp.server.operation.duration`).

use super::context;
use super::span::{Span, tracer};
use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};

/// The span of one MCP `tools/call` (`{mcp.method.name} {gen_ai.tool.name}`, a server span), in
/// the trace its `_meta` names (the nearer caller's), or else the HTTP request's.
pub fn mcp_tool_call(
    tool: &str,
    request_id: Option<&str>,
    protocol: Option<&str>,
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Span {
    if tracer().is_none() {
        return Span(None);
    }
    let attributes = || {
        let mut attributes = vec![
            KeyValue::new("mcp.method.name", "tools/call"),
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", tool.to_owned()),
        ];
        if let Some(p) = protocol {
            attributes.push(KeyValue::new("mcp.protocol.version", p.to_owned()));
        }
        if let Some(id) = request_id {
            attributes.push(KeyValue::new("jsonrpc.request.id", id.to_owned()));
        }
        attributes
    };
    let name = format!("tools/call {tool}");
    match context::from_meta(meta) {
        Some(parent) => Span::start(name, SpanKind::Server, &parent, attributes, vec![]),
        None => {
            Context::map_current(|cx| Span::start(name, SpanKind::Server, cx, attributes, vec![]))
        }
    }
}

/// Records how an MCP call ended: on its span (`error.type` is `tool_error` for a result with
/// `isError`, the JSON-RPC error code for an error), and in the conventions' histogram
/// `mcp.server.operation.duration` (seconds), beside the Prometheus metrics. With export off
/// the histogram is OpenTelemetry's no-op one.
pub fn mcp_outcome(
    span: &Span,
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
        span.fail(error);
    }
    let mut attributes = vec![
        KeyValue::new("mcp.method.name", "tools/call"),
        KeyValue::new("gen_ai.tool.name", tool.to_owned()),
        KeyValue::new("gen_ai.operation.name", "execute_tool"),
    ];
    if let Some(error) = error {
        attributes.push(KeyValue::new("error.type", error));
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
