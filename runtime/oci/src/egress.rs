//! Where a server's pulls may connect: a proxy on loopback, for the duration of one pull, that
//! every request of the pull goes through (the registry, the token realm its `WWW-Authenticate`
//! names, and any host a manifest or blob download is redirected to). It resolves each
//! destination itself, checks every address against [`AddressRules`] and connects only to an
//! address that passed (`resolve.rs`), so neither a redirect, a token realm nor a DNS answer
//! that changes between two lookups takes a pull to an address the rules refuse.
//!
//! `CONNECT host:port` (HTTPS) is tunnelled; a plain-HTTP request (a registry named insecure) is
//! forwarded as one `GET` or `HEAD` on a connection of its own, and only its answer comes back,
//! marked as closing the connection (`reply.rs`). A plain-HTTP request carrying credentials
//! (`Authorization`) goes only to a registry named insecure: a token realm an HTTPS registry
//! names over `http://` never gets them in clear. Anything else is refused, and so is any
//! request without the proxy credential made for this pull (a random one, known only to the
//! pull's client, compared in constant time), so another process on the machine cannot use the
//! guard while it runs; the one exception is the plain-HTTP redirect the guard saw answered to
//! the pull and its client follows without the credential (`redirect.rs`). Every byte coming
//! back is counted against the pull's budget: a registry that sends more (an endless manifest,
//! token or error body) is cut off, whatever the client library reads whole.
//!
//! What the guard refused, and which hosts it could not resolve or reach, it notes before
//! answering (`record.rs`): the pull reports a failure by that, not by what the client library
//! made of a `403` or a tunnel that did not open.
//!
//! Written here rather than taken from a crate: what it must do (resolve, check with
//! `cordon_core::network::classify`, connect to the checked address) is the whole of it, and the
//! forward proxies available as crates do not let the caller decide on the resolved address.

mod record;
mod redirect;
mod reply;
mod request;
mod resolve;

pub(crate) use record::Note;
pub use resolve::AddressRules;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use record::Record;
use request::Request;
use resolve::{Found, Opened, find, open};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What one pull's guard enforces besides the addresses.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    /// Most bytes all of the pull's connections together may bring back.
    pub(crate) budget: u64,
    /// `host:port` of the registries named insecure: the only plain-HTTP destinations a request
    /// with credentials may go to.
    pub(crate) plain_http_with_credentials: Vec<String>,
}

/// The largest request head the proxy reads: a client's proxy request is a line and a few
/// headers.
const MAX_HEAD: usize = 16 * 1024;

/// A running guard; stops when dropped.
pub(crate) struct Egress {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// What every connection of one guard shares.
struct Shared {
    rules: AddressRules,
    bounds: Bounds,
    credential: String,
    /// Bytes the pull's connections brought back so far.
    received: AtomicU64,
    record: Record,
    redirects: redirect::Expected,
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Egress {
    /// Listens on a free loopback port.
    pub(crate) async fn start(rules: AddressRules, bounds: Bounds) -> std::io::Result<Self> {
        let listener = TcpListener::bind((IpAddr::from([127, 0, 0, 1]), 0)).await?;
        let mut secret = [0u8; 16];
        getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
        let secret = hex::encode(secret);
        let url = format!("http://cordon:{secret}@{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            rules,
            bounds,
            credential: format!("Basic {}", STANDARD.encode(format!("cordon:{secret}"))),
            received: AtomicU64::new(0),
            record: Record::default(),
            redirects: redirect::Expected::default(),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                connections.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    serve(stream, &shared).await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Egress { url, shared, task })
    }

    /// The proxy URL for the client (`http://cordon:SECRET@127.0.0.1:PORT`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Bytes brought back so far, when over the budget (what a failed pull reports).
    pub(crate) fn over_budget(&self) -> Option<u64> {
        let received = self.shared.received.load(Ordering::Acquire);
        (received > self.shared.bounds.budget).then_some(received)
    }

    /// What the guard did that explains a failed pull, if anything: the first refusal, else the
    /// first host it could not resolve or reach, else the first plain-HTTP request that came
    /// without the pull's credential.
    pub(crate) fn explanation(&self) -> Option<Note> {
        self.shared.record.explanation()
    }
}

/// Serves one client connection.
async fn serve(mut client: TcpStream, shared: &Shared) {
    let Some((head, rest)) = read_head(&mut client).await else {
        return;
    };
    let Some(request) = Request::parse(&head) else {
        let _ = answer(&mut client, "400 Bad Request", "not a proxy request").await;
        return;
    };
    let credentialed = request
        .credential
        .as_deref()
        .is_some_and(|c| same(c.as_bytes(), shared.credential.as_bytes()));
    if !credentialed && (request.tunnel || !shared.redirects.take(&request.target)) {
        refuse_uncredentialed(&mut client, &request, shared).await;
        return;
    }
    let destination = request.destination();
    if !request.tunnel
        && request.authorization
        && !shared.bounds.plain_http_with_credentials.iter().any(|r| {
            r.eq_ignore_ascii_case(&destination)
                || (request.port == 80 && r.eq_ignore_ascii_case(&request.host))
        })
    {
        let why = "credentials over plain HTTP to a host that is not a registry named insecure";
        refuse(&mut client, shared, destination, why.to_owned()).await;
        return;
    }
    let mut upstream = match open(&request.host, request.port, &shared.rules).await {
        Opened::Connected(stream) => stream,
        Opened::Refused(why) => return refuse(&mut client, shared, destination, why).await,
        Opened::Unresolved(why) => {
            let body = format!("{destination}: cannot resolve the host name: {why}");
            shared.record.note(Note::Unresolved { destination, why });
            let _ = answer(&mut client, "502 Bad Gateway", &body).await;
            return;
        }
        Opened::NoConnection(why) => {
            let body = format!("{destination}: cannot connect: {why}");
            shared.record.note(Note::NoConnection { destination, why });
            let _ = answer(&mut client, "502 Bad Gateway", &body).await;
            return;
        }
    };
    if request.tunnel {
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    } else if upstream.write_all(&request.forward).await.is_err() {
        return;
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return;
    }
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    if request.tunnel {
        let back = counted_copy(&mut from_upstream, &mut to_client, shared);
        let forth = async {
            let _ = tokio::io::copy(&mut from_client, &mut to_upstream).await;
            let _ = to_upstream.shutdown().await;
        };
        // Both ways until the answer side ends (or the budget is spent).
        tokio::join!(back, forth);
    } else {
        // One request was forwarded: only its answer comes back, then the connection closes
        // (nothing more the client sends reaches the destination unparsed).
        reply::relay(&mut from_upstream, &mut to_client, shared, &request.target).await;
    }
}

/// Notes a refused destination, then answers `403` with why.
async fn refuse(client: &mut TcpStream, shared: &Shared, destination: String, why: String) {
    let body = format!("{destination}: {why}");
    shared.record.note(Note::Refused { destination, why });
    let _ = answer(client, "403 Forbidden", &body).await;
}

/// A request without the pull's credential. A tunnel is always someone else's (the client sends
/// the credential with every `CONNECT`): `407`, nothing looked up. A plain-HTTP one is what the
/// pull's client sends after an HTTPS answer redirected it to plain HTTP on another host; its
/// destination is looked up and checked (never connected to), so that a redirect to an address
/// the rules refuse is reported as that, and anything else is noted as a request the guard did
/// not take.
async fn refuse_uncredentialed(client: &mut TcpStream, request: &Request, shared: &Shared) {
    if !request.tunnel {
        let destination = request.destination();
        if let Found::Refused(why) = find(&request.host, request.port, &shared.rules).await {
            return refuse(client, shared, destination, why).await;
        }
        shared.record.note(Note::Uncredentialed { destination });
    }
    let _ = answer(client, "407 Proxy Authentication Required", "").await;
}

/// Counts `n` more bytes brought back; whether the pull is still within its budget.
fn within_budget(shared: &Shared, n: usize) -> bool {
    let total = shared
        .received
        .fetch_add(n as u64, Ordering::AcqRel)
        .saturating_add(n as u64);
    total <= shared.bounds.budget
}

/// Copies what the destination sends back to the client, counting it against the pull's
/// budget; stops when either side closes or the budget is spent.
async fn counted_copy(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    shared: &Shared,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !within_budget(shared, n) || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Constant-time equality of two byte strings (the length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads up to the end of the request head; returns it and whatever followed it.
async fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

async fn answer(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(text.as_bytes()).await
}

#[cfg(test)]
mod tests;
