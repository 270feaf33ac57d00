//! Trace context in and out: W3C `traceparent`/`tracestate` read from a request's headers, from
//! an MCP request's `_meta`, and from what a task stored; and the `traceparent` a task stores,
//! so that a call's later work (on any node) joins the trace it began in.

use super::route::route;
use super::span::{Span, tracer};
use axum::http::HeaderMap;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _};
use opentelemetry::{Context, KeyValue, Value};

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

/// The caller's trace, when the request's headers carry a valid one.
pub(super) fn from_headers(headers: &HeaderMap) -> Option<Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    valid(opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&Headers(headers))
    }))
}

/// The caller's trace, when an MCP request's `_meta` carries a valid one.
pub(super) fn from_meta(
    meta: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<Context> {
    let meta = meta?;
    if !meta.contains_key("traceparent") {
        return None;
    }
    valid(opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&Meta(meta))
    }))
}

fn valid(cx: Context) -> Option<Context> {
    cx.span().span_context().is_valid().then_some(cx)
}

/// The W3C `traceparent` of the span being polled now, when it is exported and sampled: what a
/// task keeps so that its later work (a next round, an approved run, a poll or a cancellation,
/// on any node) joins the trace the call began in.
pub fn current_traceparent() -> Option<String> {
    tracer()?;
    Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        (context.is_valid() && context.is_sampled()).then(|| {
            format!(
                "00-{}-{}-{:02x}",
                context.trace_id(),
                context.span_id(),
                context.trace_flags().to_u8()
            )
        })
    })
}

/// The span of work done for a call after the request that began it (`operation`: a task's
/// next round, an approved call's run, a poll, a cancellation), named `{operation} {tool}`: a
/// child of the span the call began under (`stored`, its [`current_traceparent`]), so that the
/// call stays one trace across requests and nodes, and linked to the request doing it now (which
/// may be in the caller's own trace). Without a stored trace it is an ordinary child of the
/// current span.
pub fn resumed(
    operation: &'static str,
    tool: &str,
    execution_id: &str,
    stored: Option<&str>,
) -> Span {
    if tracer().is_none() {
        return Span(None);
    }
    let attributes = || {
        vec![
            KeyValue::new("cordon.operation", operation),
            KeyValue::new("gen_ai.tool.name", tool.to_owned()),
            KeyValue::new("cordon.execution_id", execution_id.to_owned()),
        ]
    };
    let name = format!("{operation} {tool}");
    let began = stored.and_then(|stored| {
        valid(opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&Stored(stored))
        }))
    });
    match began {
        Some(began) => {
            let now = Context::map_current(|cx| cx.span().span_context().clone());
            let links = if now.is_valid() {
                vec![Link::with_context(now)]
            } else {
                vec![]
            };
            Span::start(name, SpanKind::Internal, &began, attributes, links)
        }
        None => Span::child(name, attributes),
    }
}

/// The span of one HTTP request (`{method} {route}`, a server span), in the trace its
/// `traceparent` and `tracestate` headers carry, or the root of a new one.
pub fn request(
    headers: &HeaderMap,
    method: &axum::http::Method,
    path: &str,
    request_id: &str,
) -> Span {
    if tracer().is_none() {
        return Span(None);
    }
    let parent = from_headers(headers).unwrap_or_default();
    let route = route(path);
    let name = format!("{method} {route}");
    Span::start(
        name,
        SpanKind::Server,
        &parent,
        || {
            vec![
                KeyValue::new("http.request.method", method_name(method)),
                KeyValue::new("http.route", route),
                KeyValue::new("cordon.request_id", request_id.to_owned()),
            ]
        },
        vec![],
    )
}

/// A request method as an attribute: the conventions' known methods without a copy, `_OTHER`
/// for any other.
fn method_name(method: &axum::http::Method) -> Value {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    match KNOWN.iter().find(|k| **k == method.as_str()) {
        Some(k) => Value::from(*k),
        None => Value::from("_OTHER"),
    }
}
