//! Secret values taken out of what a guest reads from the network: a response body is scanned
//! as it streams, keeping back the last bytes of each chunk that could begin a secret split
//! across two chunks, so an echo of a credential is replaced by `[REDACTED]` wherever it falls.

use bytes::Bytes;
use http_body::{Body, Frame};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use wasmtime_wasi_http::Error;

/// The secret values to redact, longest first (a secret that contains another, or overlaps it,
/// is replaced whole before the shorter one is looked for), without empty or repeated ones.
pub(crate) fn secrets_to_redact<'a>(values: impl Iterator<Item = &'a String>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = values
        .filter(|v| !v.is_empty())
        .map(|v| v.as_bytes().to_vec())
        .collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Every occurrence of each secret in `buf` replaced by [`cordon_core::REDACTED`]; `secrets`
/// longest first ([`secrets_to_redact`]). `None` when there was nothing to replace.
pub(crate) fn redact_bytes(buf: &[u8], secrets: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let current = out.as_deref().unwrap_or(buf);
        if memchr::memmem::find(current, secret).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(current.len());
        let mut at = 0;
        for found in memchr::memmem::find_iter(current, secret) {
            if found < at {
                continue;
            }
            next.extend_from_slice(&current[at..found]);
            next.extend_from_slice(cordon_core::REDACTED.as_bytes());
            at = found + secret.len();
        }
        next.extend_from_slice(&current[at..]);
        out = Some(next);
    }
    out
}

/// Header (or trailer) values with the secrets redacted; a value that would not be a valid
/// header value afterwards is replaced whole.
pub(crate) fn redact_headers(fields: &mut http::HeaderMap, secrets: &[Vec<u8>]) {
    for value in fields.values_mut() {
        if let Some(clean) = redact_bytes(value.as_bytes(), secrets) {
            *value = http::HeaderValue::from_bytes(&clean)
                .unwrap_or(http::HeaderValue::from_static(cordon_core::REDACTED));
        }
    }
}

/// A body with the secrets redacted from its data.
pub(crate) struct RedactingBody<B> {
    inner: B,
    secrets: Arc<Vec<Vec<u8>>>,
    /// Redacted bytes not yet passed on: the end of the data so far, which a secret may start in.
    tail: Vec<u8>,
    /// Bytes to keep back: the longest secret, less one.
    keep: usize,
    /// A trailers frame that arrived while `tail` still had to go first.
    trailers: Option<Frame<Bytes>>,
    ended: bool,
}

impl<B> RedactingBody<B> {
    pub(crate) fn new(inner: B, secrets: Arc<Vec<Vec<u8>>>) -> Self {
        let keep = secrets
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        RedactingBody {
            inner,
            secrets,
            tail: Vec::new(),
            keep,
            trailers: None,
            ended: false,
        }
    }
}

impl<B> Body for RedactingBody<B>
where
    B: Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.ended {
                if !this.tail.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(std::mem::take(
                        &mut this.tail,
                    ))))));
                }
                return Poll::Ready(this.trailers.take().map(Ok));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                None => this.ended = true,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        let mut buf = std::mem::take(&mut this.tail);
                        buf.extend_from_slice(&data);
                        let buf = redact_bytes(&buf, &this.secrets).unwrap_or(buf);
                        let split = buf.len().saturating_sub(this.keep);
                        this.tail = buf[split..].to_vec();
                        if split > 0 {
                            let mut buf = buf;
                            buf.truncate(split);
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
                        }
                    }
                    Err(mut trailers) => {
                        if let Some(fields) = trailers.trailers_mut() {
                            redact_headers(fields, &this.secrets);
                        }
                        this.trailers = Some(trailers);
                        this.ended = true;
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.tail.is_empty() && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body of the given chunks.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    /// Everything `body` yields.
    fn collect(body: RedactingBody<Chunks>) -> String {
        let collected = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(body.collect());
        let Ok(collected) = collected else {
            panic!("the body failed");
        };
        String::from_utf8(collected.to_bytes().to_vec()).unwrap()
    }

    fn read(chunks: &[&str], secrets: &[&str]) -> String {
        collect(RedactingBody::new(
            Chunks(chunks.iter().map(|c| Bytes::from(c.to_string())).collect()),
            Arc::new(secrets.iter().map(|s| s.as_bytes().to_vec()).collect()),
        ))
    }

    #[test]
    fn a_secret_is_redacted_wherever_the_chunks_split_it() {
        let secret = "s3cr3t-t0ken";
        let text =
            format!("{{\"authorization\":\"Bearer {secret}\",\"again\":\"{secret}{secret}\"}}");
        let want = text.replace(secret, "[REDACTED]");
        // Every split of the text into two chunks, and byte by byte.
        for cut in 0..=text.len() {
            assert_eq!(
                read(&[&text[..cut], &text[cut..]], &[secret]),
                want,
                "cut at {cut}"
            );
        }
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(read(&refs, &[secret, "other"]), want);
        // One secret inside another: the longer is replaced whole.
        let long = "token-abc-and-more";
        let secrets = secrets_to_redact([String::from("abc"), String::from(long)].iter());
        let body = RedactingBody::new(
            Chunks([Bytes::from(format!("<{long}>"))].into_iter().collect()),
            Arc::new(secrets),
        );
        assert_eq!(collect(body), "<[REDACTED]>");
        // Nothing to redact: the bytes pass unchanged.
        assert_eq!(read(&["plain ", "text"], &[secret]), "plain text");
        assert_eq!(read(&[], &[secret]), "");
    }
}
