//! The client span of a tool's outbound HTTP request (docs/observability.md): a child of the
//! call's span when the server makes spans (it attaches the call's OpenTelemetry context while
//! the call runs), and nothing otherwise. Where the request went and how it ended; never a
//! header, a body or a query.

use opentelemetry::propagation::Injector;
use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, Value};
use std::future::Future;

/// The span, ended when dropped.
pub(crate) struct ClientSpan(Option<Context>);

impl ClientSpan {
    /// A client span named by its method, under the span of the call being polled now, if any.
    pub(crate) fn start(
        method: &http::Method,
        authority: Option<&http::uri::Authority>,
    ) -> ClientSpan {
        let parent = Context::map_current(|cx| cx.has_active_span().then(|| cx.clone()));
        let Some(parent) = parent else {
            return ClientSpan(None);
        };
        // The server's tracer: the global provider, which the binary installs before it makes
        // spans at all (an active span means it did).
        let tracer = opentelemetry::global::tracer("cordon");
        let builder = SpanBuilder::from_name(method.as_str().to_owned())
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", method.as_str().to_owned()),
                KeyValue::new(
                    "server.address",
                    authority.map_or(String::new(), |a| a.host().to_owned()),
                ),
            ]);
        let span = tracer.build_with_context(builder, &parent);
        ClientSpan(Some(parent.with_span(span)))
    }

    /// Whether a span is made.
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Sets an attribute.
    pub(crate) fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// The context to run the request's future in.
    pub(crate) fn context(&self) -> Option<Context> {
        self.0.clone()
    }

    /// Writes this span's `traceparent` (and `tracestate`) with the process's propagator.
    pub(crate) fn inject(&self, headers: &mut dyn Injector) {
        if let Some(cx) = &self.0 {
            opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, headers));
        }
    }
}

impl Drop for ClientSpan {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}

/// `fut` boxed, with `cx` (when there is one) the current context whenever it is polled.
pub(crate) fn in_context<F>(
    fut: F,
    cx: Option<Context>,
) -> Box<dyn Future<Output = F::Output> + Send>
where
    F: Future + Send + 'static,
{
    use opentelemetry::context::FutureExt as _;
    match cx {
        Some(cx) => Box::new(fut.with_context(cx)),
        None => Box::new(fut),
    }
}
