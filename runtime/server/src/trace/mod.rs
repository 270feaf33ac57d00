//! Traces (docs/observability.md): the spans of a call, named and attributed as the
//! OpenTelemetry semantic conventions say (HTTP server spans; MCP's `mcp.method.name`,
//! `jsonrpc.request.id`, `gen_ai.tool.name`, `gen_ai.operation.name`, `error.type`), and the W3C
//! trace context a caller sends (`traceparent`, `tracestate`; in MCP also `_meta.traceparent`),
//! which they continue.
//!
//! Spans are made with the OpenTelemetry API itself, on the tracer the binary hands over with
//! [`enable`] when an OTLP endpoint is configured (`cordon` crate, `telemetry.rs`). A span's
//! context travels as OpenTelemetry's: attached to the futures of its work while they are polled
//! ([`Span::instrument`], [`carry`]), read with `Context::current()` by the work nested in it
//! (the sandbox's outbound requests included). `tracing` spans bridged by tracing-opentelemetry
//! did the same at about twice the cost per call (a registry entry, field visitors and an
//! enter and exit per poll for each span: docs/benchmarks.md), so they are deliberately not
//! used here.
//!
//! Off, [`enable`] is never called: no span is made, no context is attached or read, nothing
//! is paid beyond one check per span. No span carries an argument, a result or a credential.

mod context;
mod mcp;
mod route;
mod span;

pub use context::{current_traceparent, request, resumed};
pub use mcp::{mcp_outcome, mcp_tool_call};
pub use route::route;
pub use span::{Span, carry, enable};
