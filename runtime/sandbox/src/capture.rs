//! Bounded capture of a guest's stdout or stderr.
//!
//! Writes always succeed from the guest's point of view (a tool that logs too much must not
//! crash because of it), but only the first `cap` bytes are kept. Every byte is counted, and the
//! stream remembers that it dropped some so the usage report can say so.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Largest single write the guest is offered; it only sizes the guest's own write chunks.
const WRITE_BUDGET: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    total: u64,
    truncated: bool,
}

/// A stdout/stderr sink that keeps at most `cap` bytes. Cloning shares the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe {
    cap: usize,
    inner: Arc<Mutex<Captured>>,
}

impl CappedPipe {
    pub(crate) fn new(cap: u64) -> Self {
        CappedPipe {
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            inner: Arc::default(),
        }
    }

    fn push(&self, data: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_add(data.len() as u64);
        let room = self.cap.saturating_sub(c.kept.len());
        if data.len() > room {
            c.truncated = true;
        }
        c.kept.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// (kept text, total bytes written, truncated?)
    pub(crate) fn finish(&self) -> (String, u64, bool) {
        let c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            String::from_utf8_lossy(&c.kept).into_owned(),
            c.total,
            c.truncated,
        )
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_cap_counts_all_and_flags_truncation() {
        let p = CappedPipe::new(4);
        p.push(b"ab");
        assert_eq!(p.finish(), ("ab".into(), 2, false));
        p.push(b"cdef");
        assert_eq!(p.finish(), ("abcd".into(), 6, true));
    }
}
