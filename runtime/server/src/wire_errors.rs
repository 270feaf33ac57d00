//! JSON bodies for the errors hyper answers by itself.
//!
//! A request hyper cannot parse (a malformed request line, HTTP/0.9, two `Content-Length`
//! headers, a NUL in a header: 400; too many or too large headers: 431; a URI too long: 414)
//! never reaches the router, and hyper answers it with an empty body and no `Content-Type`.
//! hyper offers no hook for those answers, so the connection's write side is wrapped: a response
//! head with one of those statuses and `content-length: 0` can only be hyper's own (every error
//! the router sends has a JSON body), and it is replaced on the way out by the documented error
//! shape, `{"error": {"code", "message", "request_id"}}`, with the same security headers as
//! every other response. The connection is closed after it, as hyper does.

use hyper::rt::{Read, ReadBufCursor, Write};
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// An I/O object whose automatic hyper error responses are rewritten (see the module docs).
#[derive(Debug)]
pub struct WireErrors<T> {
    inner: T,
    /// A replacement response being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
    /// Whether the connection has read since it last wrote: hyper's automatic answer follows
    /// the read of the bad request, so only a write right after a read can be one (never the
    /// rest of a response whose first part a partial write already sent).
    read_since_write: bool,
}

impl<T> WireErrors<T> {
    pub fn new(inner: T) -> Self {
        WireErrors {
            inner,
            pending: None,
            read_since_write: false,
        }
    }
}

/// The status of an automatic hyper error response in `head`, if it is one.
fn automatic_error(head: &[u8]) -> Option<u16> {
    let rest = head
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    let status = match rest.get(..4)? {
        b"400 " => 400,
        b"414 " => 414,
        b"431 " => 431,
        _ => return None,
    };
    let ends = head.ends_with(b"\r\n\r\n");
    let empty = head
        .windows(b"\r\ncontent-length: 0\r\n".len())
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    (ends && empty).then_some(status)
}

/// The JSON error response that replaces hyper's empty one.
fn replacement(status: u16) -> Vec<u8> {
    let (reason, code, message) = match status {
        414 => (
            "URI Too Long",
            "uri_too_long",
            "the request URI (path and query) is too long; send large inputs in the body",
        ),
        431 => (
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request has too many headers or headers too large (at most 100 headers); send fewer or smaller ones",
        ),
        _ => (
            "Bad Request",
            "malformed_request",
            "the request is not valid HTTP/1.1: check the request line, that every header is `Name: value` without control characters, and that Content-Length appears at most once",
        ),
    };
    let mut id = [0u8; 8];
    let _ = getrandom::fill(&mut id);
    let request_id = hex::encode(id);
    crate::metrics::rejected(code);
    crate::callers::refusals::note(code, crate::clock::now_ms());
    tracing::info!(request_id, status, code, "request refused before routing");
    let body = serde_json::json!({
        "error": {"code": code, "message": message, "request_id": request_id}
    })
    .to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\nx-request-id: {request_id}\r\nx-content-type-options: nosniff\r\n\
         x-frame-options: DENY\r\ncache-control: no-store\r\n\
         content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n\
         referrer-policy: no-referrer\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<T: Write + Unpin> WireErrors<T> {
    /// Writes out the rest of a pending replacement.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: Read + Unpin> Read for WireErrors<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) {
            this.read_since_write = true;
        }
        read
    }
}

impl<T: Write + Unpin> Write for WireErrors<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drive(cx))?;
        let fresh = std::mem::replace(&mut this.read_since_write, false);
        if let Some(status) = automatic_error(buf).filter(|_| fresh) {
            this.pending = Some((replacement(status), 0));
            // hyper's bytes are taken whole; the replacement goes out now or on the next flush.
            if let Poll::Ready(Err(e)) = this.drive(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drive(cx))?;
        // hyper's automatic responses have no body: one slice holding the whole head.
        let nonempty: Vec<&IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
        let fresh = std::mem::replace(&mut this.read_since_write, false);
        if let [only] = nonempty.as_slice()
            && let Some(status) = automatic_error(only).filter(|_| fresh)
        {
            this.pending = Some((replacement(status), 0));
            if let Poll::Ready(Err(e)) = this.drive(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(only.len()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drive(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drive(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_empty_error_heads_are_recognised() {
        let head =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_error(head), Some(431));
        assert_eq!(
            automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(400)
        );
        // A response of the router: it has a body.
        assert_eq!(
            automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 97\r\n\r\n"),
            None
        );
        assert_eq!(
            automatic_error(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        // Part of a head only.
        assert_eq!(
            automatic_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"),
            None
        );
    }

    #[test]
    fn the_replacement_is_the_documented_json_error() {
        let bytes = replacement(414);
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "uri_too_long");
        assert_eq!(v["error"]["request_id"].as_str().unwrap().len(), 16);
    }
}
