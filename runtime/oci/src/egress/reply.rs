//! The answer to a forwarded plain-HTTP request. The guard forwards one request per connection
//! and closes the connection after its answer (nothing more the client sends reaches the
//! destination unparsed), so the answer must say that it closes. A registry that closes its
//! connections without sending `Connection: close` (small HTTP/1.1 servers do) would otherwise
//! leave the client believing the connection can carry its next request: the client sends the
//! next request of the pull into a connection the guard is closing, and it never reaches the
//! registry ("error sending request", one pull in six or so). So the guard rewrites the answer's
//! head to `Connection: close`, and notes a redirect in it for the client to follow
//! (`redirect.rs`).

use super::{Shared, counted_copy, within_budget};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The largest answer head read (a redirect to signed storage URLs takes a few kilobytes).
const MAX_ANSWER_HEAD: usize = 64 * 1024;
/// Interim (`1xx`) answers passed on before the final one.
const MAX_INTERIM: usize = 4;

/// An answer head as the guard passes it on.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    /// The `Location` header, when there is one.
    location: Option<String>,
    /// The head to send the client: the status line and headers, with the connection headers
    /// replaced by `Connection: close` (an interim answer's head unchanged).
    bytes: Vec<u8>,
}

/// Hop-by-hop headers about the connection, replaced in a final answer.
const CONNECTION_HEADERS: [&str; 3] = ["connection", "keep-alive", "proxy-connection"];

/// Reads an answer head (up to and with its blank line). `None` when it is not HTTP/1.x.
fn rewrite(head: &[u8]) -> Option<Head> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty());
    let status_line = lines.next()?;
    let status = std::str::from_utf8(status_line)
        .ok()
        .filter(|l| l.starts_with("HTTP/1."))
        .and_then(|l| l.split(' ').nth(1))
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse::<u16>().ok())?;
    let interim = (100..200).contains(&status);
    let mut bytes = Vec::with_capacity(head.len() + 20);
    bytes.extend_from_slice(status_line);
    bytes.extend_from_slice(b"\r\n");
    let mut location = None;
    for line in lines {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        let name = String::from_utf8_lossy(name);
        let name = name.trim();
        if name.eq_ignore_ascii_case("location") {
            location = Some(String::from_utf8_lossy(value).trim().to_owned());
        }
        if !interim
            && CONNECTION_HEADERS
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
    }
    if !interim {
        bytes.extend_from_slice(b"Connection: close\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    Some(Head {
        status,
        location,
        bytes,
    })
}

/// Passes the destination's answer to `request_url` on to the client: its head rewritten (after
/// any interim answers), a redirect in it expected, then the rest as it comes, every byte
/// counted against the pull's budget. Stops at the end of the answer, an unreadable head, or
/// the budget.
pub(super) async fn relay(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shared: &Shared,
    request_url: &str,
) {
    let mut buf = Vec::with_capacity(4096);
    for _ in 0..=MAX_INTERIM {
        let Some(end) = read_head(from, &mut buf, shared).await else {
            break;
        };
        let rest = buf.split_off(end);
        let Some(head) = rewrite(&buf) else {
            break;
        };
        if (300..400).contains(&head.status)
            && let Some(location) = &head.location
        {
            // Before the client sees the answer: it may follow the redirect at once.
            shared.redirects.expect(request_url, location);
        }
        if to.write_all(&head.bytes).await.is_err() {
            break;
        }
        buf = rest;
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        if to.write_all(&buf).await.is_ok() {
            counted_copy(from, to, shared).await;
            return;
        }
        break;
    }
    let _ = to.shutdown().await;
}

/// Reads until `buf` holds a whole head; its length. `None` at the end of the stream, past
/// [`MAX_ANSWER_HEAD`], or past the budget.
async fn read_head(from: &mut OwnedReadHalf, buf: &mut Vec<u8>, shared: &Shared) -> Option<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        if buf.len() > MAX_ANSWER_HEAD {
            return None;
        }
        let n = from.read(&mut chunk).await.ok().filter(|&n| n > 0)?;
        if !within_budget(shared, n) {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(head: &Head) -> &str {
        std::str::from_utf8(&head.bytes).unwrap()
    }

    #[test]
    fn a_final_answer_says_the_connection_closes() {
        let head = rewrite(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nDocker-Content-Digest: sha256:ab\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.location, None);
        assert_eq!(
            text(&head),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDocker-Content-Digest: sha256:ab\r\nConnection: close\r\n\r\n"
        );
        // Without any connection header (a server that closes without saying so).
        let head = rewrite(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(
            text(&head),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn a_redirect_is_read_and_an_interim_answer_passed_on_as_it_is() {
        let head = rewrite(
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation:  http://store.local/b?sig=a:b \r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(head.status, 307);
        assert_eq!(
            head.location.as_deref(),
            Some("http://store.local/b?sig=a:b")
        );
        let interim = rewrite(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n").unwrap();
        assert_eq!(interim.status, 103);
        assert_eq!(
            text(&interim),
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        );
    }

    #[test]
    fn a_head_that_is_not_http_is_not_passed_on() {
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
        ] {
            assert_eq!(rewrite(bad), None, "{bad:?}");
        }
    }
}
