//! Redirects to another plain-HTTP host. A client following a redirect to another host drops
//! its credentials, the proxy's among them (reqwest removes `Proxy-Authorization` with
//! `Authorization` and cookies), so a plain-HTTP registry's redirect of a manifest or a blob to
//! another host arrives at the guard without the pull's credential. The guard forwards plain
//! HTTP itself and so sees the redirect go by: it expects that one URL, once, and takes the
//! request for it as the pull's own. The destination is then checked like any other; nothing
//! else comes in without the credential.
//!
//! Redirects inside an HTTPS tunnel are not seen: one from HTTPS to plain HTTP on another host
//! arrives without the credential and is refused (`Note::Uncredentialed`), as a downgrade
//! should be.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Redirects expected at once: a client follows at most ten in a row, one at a time.
const MAX_EXPECTED: usize = 16;

/// The redirect URLs a guard expects.
#[derive(Debug, Default)]
pub(super) struct Expected {
    urls: Mutex<VecDeque<String>>,
}

impl Expected {
    /// Notes the request a client will make without its credential after `request_url` was
    /// answered with a redirect to `location`: plain HTTP to another host or port.
    pub(super) fn expect(&self, request_url: &str, location: &str) {
        let Some(next) = follow_up(request_url, location) else {
            return;
        };
        let mut urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
        if urls.len() == MAX_EXPECTED {
            urls.pop_front();
        }
        urls.push_back(next);
    }

    /// Whether a request for `target` (the absolute URL of its request line) is an expected
    /// redirect; each is taken once.
    pub(super) fn take(&self, target: &str) -> bool {
        let mut urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
        match urls.iter().position(|u| u == target) {
            Some(i) => {
                urls.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The URL a client asks for after a redirect from `request_url` to `location`, resolved as
/// the client resolves it (WHATWG URL rules, no fragment), when it is plain HTTP on another host
/// or port (where the client no longer sends its proxy credential).
fn follow_up(request_url: &str, location: &str) -> Option<String> {
    let base = url::Url::parse(request_url).ok()?;
    let mut next = base.join(location.trim()).ok()?;
    next.set_fragment(None);
    let same_origin = next.host_str() == base.host_str()
        && next.port_or_known_default() == base.port_or_known_default();
    (next.scheme() == "http" && !same_origin).then(|| String::from(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_to_another_plain_http_host_is_expected_once() {
        let from = "http://reg.local:5000/v2/a/blobs/sha256:ab";
        for (location, expected) in [
            (
                "http://store.local/bucket/ab?sig=1#x",
                Some("http://store.local/bucket/ab?sig=1"),
            ),
            ("http://2130706433:9/x", Some("http://127.0.0.1:9/x")),
            ("http://0177.0.0.1:9/x", Some("http://127.0.0.1:9/x")),
            (
                "http://[::ffff:127.0.0.1]:9/x",
                Some("http://[::ffff:7f00:1]:9/x"),
            ),
            ("http://reg.local:5001/x", Some("http://reg.local:5001/x")),
            // Same host and port: the client keeps its credential.
            ("/v2/elsewhere", None),
            ("http://reg.local:5000/x", None),
            // HTTPS: a tunnel, opened with the credential.
            ("https://store.local/x", None),
            ("ftp://store.local/x", None),
            ("http://[bad", None),
        ] {
            assert_eq!(follow_up(from, location).as_deref(), expected, "{location}");
        }

        let expected = Expected::default();
        expected.expect(from, "http://store.local/b");
        assert!(!expected.take("http://store.local/other"));
        assert!(expected.take("http://store.local/b"));
        assert!(!expected.take("http://store.local/b"), "taken once");
        for i in 0..100 {
            expected.expect(from, &format!("http://store.local/{i}"));
        }
        assert!(
            !expected.take("http://store.local/0"),
            "only the newest kept"
        );
        assert!(expected.take("http://store.local/99"));
    }
}
