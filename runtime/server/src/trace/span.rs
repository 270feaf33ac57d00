//! A span of a call's work, made on the tracer the binary hands over (or nothing when it did
//! not), and the futures it is attached to while they are polled.

use futures_util::future::Either;
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

/// The tracer in force, once [`enable`] has been called.
static TRACER: OnceLock<BoxedTracer> = OnceLock::new();

/// Turns the spans of calls on, with the global tracer provider's `cordon` tracer: the binary
/// calls it once, after it has installed its provider, before the server starts.
pub fn enable() {
    let _ = TRACER.set(opentelemetry::global::tracer("cordon"));
}

/// The tracer, when spans are on.
pub(super) fn tracer() -> Option<&'static BoxedTracer> {
    TRACER.get()
}

/// A span of a call's work: ended when dropped (or with [`Span::end`]). Empty when spans are
/// off, and then every method does nothing.
#[must_use = "a span ends when it is dropped"]
#[derive(Debug, Default)]
pub struct Span(pub(super) Option<Context>);

impl Span {
    /// A span in `parent`'s trace (a child of its span, or a root when it has none), when spans
    /// are on; `attributes` is only called then.
    pub(super) fn start(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: &Context,
        attributes: impl FnOnce() -> Vec<KeyValue>,
        links: Vec<opentelemetry::trace::Link>,
    ) -> Span {
        let Some(tracer) = tracer() else {
            return Span(None);
        };
        let mut builder = SpanBuilder::from_name(name)
            .with_kind(kind)
            .with_attributes(attributes());
        if !links.is_empty() {
            builder = builder.with_links(links);
        }
        let span = tracer.build_with_context(builder, parent);
        Span(Some(parent.with_span(span)))
    }

    /// An internal span, a child of the span whose work is being polled now (or of nothing).
    pub fn child(
        name: impl Into<Cow<'static, str>>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Span {
        if tracer().is_none() {
            return Span(None);
        }
        Context::map_current(|cx| Span::start(name, SpanKind::Internal, cx, attributes, vec![]))
    }

    /// Whether this span is made (spans on): what decides whether an attribute is worth
    /// computing.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Sets an attribute.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Sets a text attribute, copied only when the span is made.
    pub fn set_str(&self, key: &'static str, value: &str) {
        if let Some(cx) = &self.0 {
            cx.span()
                .set_attribute(KeyValue::new(key, value.to_owned()));
        }
    }

    /// Marks the span failed: `error.type` as the conventions name it, and the span's status.
    pub fn fail(&self, error_type: &str) {
        if let Some(cx) = &self.0 {
            let span = cx.span();
            span.set_attribute(KeyValue::new("error.type", error_type.to_owned()));
            span.set_status(Status::error(""));
        }
    }

    /// `fut`, with this span the current one whenever it is polled: what it starts is nested in
    /// this span.
    pub fn instrument<F: std::future::Future>(&self, fut: F) -> Either<WithContext<F>, F> {
        match &self.0 {
            Some(cx) => Either::Left(fut.with_context(cx.clone())),
            None => Either::Right(fut),
        }
    }

    /// The trace this span is exported in, as 32 hex digits, when it is (spans on, sampled).
    pub fn sampled_trace_id(&self) -> Option<String> {
        let cx = self.0.as_ref()?;
        let span = cx.span();
        let context = span.span_context();
        (context.is_valid() && context.is_sampled()).then(|| context.trace_id().to_string())
    }

    /// Ends the span now.
    pub fn end(self) {
        drop(self);
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}

/// `fut`, carrying the span being polled now (for a task spawned to go on with its work).
pub fn carry<F: std::future::Future>(fut: F) -> Either<WithContext<F>, F> {
    if tracer().is_none() {
        return Either::Right(fut);
    }
    Either::Left(fut.with_current_context())
}
