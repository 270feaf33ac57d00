//! An HTTP/2 request body that is read to its end after the API stops reading it.
//!
//! A refusal (a 401, a 413, a 429) is often answered before the request's body is read. Over
//! HTTP/1.1 hyper then closes or drains the connection itself. Over HTTP/2, dropping an unread
//! body makes the stream reset with `CANCEL` while the client may still be sending, and a
//! client such as curl reports a framing error instead of the answer it was given. Draining a
//! small remainder lets the stream end the ordinary way (RFC 9113 section 8.1: a response may
//! be complete before the request is); past the bounds below the stream is reset as before,
//! so a client cannot make the server read an endless body for nothing.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// At most this much of an unread body is read and thrown away: a refused upload larger than
/// this is cut off with a reset, which is what its client deserves.
pub const DRAIN_BYTES: usize = 256 * 1024;

/// And for at most this long.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// A request body that drains itself (within the bounds above) when dropped before its end.
#[derive(Debug)]
pub struct Draining {
    inner: Option<Incoming>,
}

impl Draining {
    pub fn new(body: Incoming) -> Self {
        Draining { inner: Some(body) }
    }
}

impl Body for Draining {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let drain = async {
                let mut read = 0usize;
                while let Some(Ok(frame)) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                    read = read.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                    if read > DRAIN_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        });
    }
}
