//! Where a server's pulls may connect: a proxy on loopback, for the duration of one pull, that
//! every request of the pull goes through (the registry, the token realm its `WWW-Authenticate`
//! names, and any host a blob download is redirected to). It resolves each destination itself,
//! checks every address against [`AddressRules`] and connects only to an address that passed,
//! so neither a redirect, a token realm nor a DNS answer that changes between two lookups takes
//! a pull to an address the rules refuse.
//!
//! `CONNECT host:port` (HTTPS) is tunnelled; a plain-HTTP request (a registry named insecure) is
//! forwarded as one `GET` or `HEAD` on a connection of its own, and only its answer comes back.
//! A plain-HTTP request carrying credentials (`Authorization`) goes only to a registry named
//! insecure: a token realm an HTTPS registry names over `http://` never gets them in clear.
//! Anything else is refused, and so is any request without the proxy credential made for this
//! pull (a random one, known only to the pull's client, compared in constant time), so another
//! process on the machine cannot use the guard while it runs. Every byte coming back is counted
//! against the pull's budget: a registry that sends more (an endless manifest, token or error
//! body) is cut off, whatever the client library reads whole.
//!
//! Written here rather than taken from a crate: what it must do (resolve, check with
//! `cordon_core::network::classify`, connect to the checked address) is the whole of it, and the
//! forward proxies available as crates do not let the caller decide on the resolved address.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cordon_core::network::classify;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which addresses a pull may reach: every globally routable address, and the ranges in
/// `allow_private` besides. Loopback, private, link-local (cloud metadata), and the other
/// special ranges `classify` names are refused unless listed.
#[derive(Debug, Clone, Default)]
pub struct AddressRules {
    pub allow_private: Vec<IpNet>,
}

impl AddressRules {
    /// `Ok` for an address a pull may connect to; otherwise why not.
    pub fn check(&self, addr: IpAddr) -> Result<(), String> {
        match classify(addr) {
            None => Ok(()),
            Some(_) if self.allow_private.iter().any(|n| n.contains(&addr)) => Ok(()),
            Some(class) => Err(format!("{addr} is {class}")),
        }
    }
}

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
/// How long a connection to a checked address may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running guard; stops when dropped.
pub(crate) struct Egress {
    url: String,
    refused: Arc<Mutex<Vec<String>>>,
    /// Bytes the pull's connections brought back so far.
    received: Arc<AtomicU64>,
    budget: u64,
    task: tokio::task::JoinHandle<()>,
}

/// What every connection of one guard shares.
struct Shared {
    rules: AddressRules,
    bounds: Bounds,
    credential: String,
    received: Arc<AtomicU64>,
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
        let received = Arc::new(AtomicU64::new(0));
        let budget = bounds.budget;
        let shared = Arc::new(Shared {
            rules,
            bounds,
            credential: format!("Basic {}", STANDARD.encode(format!("cordon:{secret}"))),
            received: received.clone(),
        });
        let refused = Arc::new(Mutex::new(Vec::new()));
        let noted = refused.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (shared, noted) = (shared.clone(), noted.clone());
                connections.spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if let Err(why) = serve(stream, &shared).await {
                        noted
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(why);
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Egress {
            url,
            refused,
            received,
            budget,
            task,
        })
    }

    /// The proxy URL for the client (`http://cordon:SECRET@127.0.0.1:PORT`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Bytes brought back so far, when over the budget (what a failed pull reports).
    pub(crate) fn over_budget(&self) -> Option<u64> {
        let received = self.received.load(Ordering::Acquire);
        (received > self.budget).then_some(received)
    }

    /// The first destination refused so far, if any (what a failed pull reports).
    pub(crate) fn first_refusal(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first()
            .cloned()
    }
}

/// Serves one client connection. `Err` only for a destination the rules refused (the reason);
/// transport failures just close the connection.
async fn serve(mut client: TcpStream, shared: &Shared) -> Result<(), String> {
    let Some((head, rest)) = read_head(&mut client).await else {
        return Ok(());
    };
    let Some(request) = Request::parse(&head) else {
        let _ = answer(&mut client, "400 Bad Request", "not a proxy request").await;
        return Ok(());
    };
    if !request
        .credential
        .as_deref()
        .is_some_and(|c| same(c.as_bytes(), shared.credential.as_bytes()))
    {
        let _ = answer(&mut client, "407 Proxy Authentication Required", "").await;
        return Ok(());
    }
    let destination = format!("{}:{}", request.host, request.port);
    if !request.tunnel
        && request.authorization
        && !shared.bounds.plain_http_with_credentials.iter().any(|r| {
            r.eq_ignore_ascii_case(&destination)
                || (request.port == 80 && r.eq_ignore_ascii_case(&request.host))
        })
    {
        let why = format!(
            "{destination}: credentials over plain HTTP to a host that is not a registry named insecure"
        );
        let _ = answer(&mut client, "403 Forbidden", &why).await;
        return Err(why);
    }
    let mut upstream = match open(&request.host, request.port, &shared.rules).await {
        Ok(Some(stream)) => stream,
        Ok(None) => {
            let _ = answer(&mut client, "502 Bad Gateway", "cannot connect").await;
            return Ok(());
        }
        Err(why) => {
            let why = format!("{destination}: {why}");
            let _ = answer(&mut client, "403 Forbidden", &why).await;
            return Err(why);
        }
    };
    if request.tunnel {
        if client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return Ok(());
        }
    } else if upstream.write_all(&request.forward).await.is_err() {
        return Ok(());
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return Ok(());
    }
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    let back = counted_copy(&mut from_upstream, &mut to_client, shared);
    if request.tunnel {
        let forth = async {
            let _ = tokio::io::copy(&mut from_client, &mut to_upstream).await;
            let _ = to_upstream.shutdown().await;
        };
        // Both ways until the answer side ends (or the budget is spent).
        tokio::join!(back, forth);
    } else {
        // One request was forwarded: only its answer comes back, then the connection closes
        // (nothing more the client sends reaches the destination unparsed).
        back.await;
    }
    Ok(())
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
        let total = shared
            .received
            .fetch_add(n as u64, Ordering::AcqRel)
            .saturating_add(n as u64);
        if total > shared.bounds.budget || to.write_all(&buf[..n]).await.is_err() {
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

/// Resolves `host`, checks every address, and connects to the first that passes. `Err` when
/// none passes (naming the first refused); `Ok(None)` when none could be reached.
async fn open(host: &str, port: u16, rules: &AddressRules) -> Result<Option<TcpStream>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let (addrs, literal): (Vec<SocketAddr>, bool) = match bare.parse::<IpAddr>() {
        Ok(ip) => (vec![SocketAddr::new(ip, port)], true),
        Err(_) => match tokio::net::lookup_host((bare, port)).await {
            Ok(found) => (found.collect(), false),
            Err(_) => return Ok(None),
        },
    };
    let mut refusal = None;
    for addr in addrs {
        if let Err(why) = rules.check(addr.ip()) {
            // The address a name resolved to stays on the server: the answer says only that it
            // is not public, so a refusal does not map internal names to addresses.
            refusal.get_or_insert(if literal {
                why
            } else {
                "resolves to an address that is not public".to_owned()
            });
            continue;
        }
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
        {
            let _ = stream.set_nodelay(true);
            return Ok(Some(stream));
        }
    }
    match refusal {
        Some(why) => Err(why),
        None => Ok(None),
    }
}

/// A proxy request: a tunnel (`CONNECT host:port`) or one plain-HTTP `GET`/`HEAD` in absolute
/// form, rewritten to origin form with `Connection: close`.
struct Request {
    host: String,
    port: u16,
    tunnel: bool,
    /// For a forwarded request, the head to send upstream.
    forward: Vec<u8>,
    /// The `Proxy-Authorization` value the client sent.
    credential: Option<String>,
    /// Whether a forwarded request carries `Authorization` (credentials for the destination).
    authorization: bool,
}

impl Request {
    fn parse(head: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        let name_of = |line: &str| line.split(':').next().unwrap_or("").trim().to_owned();
        let credential = headers
            .iter()
            .find(|l| name_of(l).eq_ignore_ascii_case("proxy-authorization"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned());
        let authorization = headers
            .iter()
            .any(|l| name_of(l).eq_ignore_ascii_case("authorization"));
        let (method, target, version) = (first.next()?, first.next()?, first.next()?);
        if first.next().is_some() || !version.starts_with("HTTP/1.") {
            return None;
        }
        if method == "CONNECT" {
            let (host, port) = split_authority(target, None)?;
            return Some(Request {
                host,
                port,
                tunnel: true,
                forward: Vec::new(),
                credential,
                authorization,
            });
        }
        if method != "GET" && method != "HEAD" {
            return None;
        }
        let rest = target.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_authority(authority, Some(80))?;
        let mut forward = format!("{method} {path} HTTP/1.1\r\n");
        for line in headers {
            let name = name_of(line);
            let hop = [
                "connection",
                "proxy-connection",
                "keep-alive",
                "proxy-authorization",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h));
            if !hop {
                forward.push_str(line);
                forward.push_str("\r\n");
            }
        }
        forward.push_str("Connection: close\r\n\r\n");
        Some(Request {
            host,
            port,
            tunnel: false,
            forward: forward.into_bytes(),
            credential,
            authorization,
        })
    }
}

/// `host:port`, `[v6]:port`, or (with a default port) a bare host.
fn split_authority(authority: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port?,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_a_tunnel_or_one_plain_get() {
        let connect = Request::parse(
            b"CONNECT ghcr.io:443 HTTP/1.1\r\nHost: ghcr.io:443\r\nProxy-Authorization: Basic abc\r\n\r\n",
        )
        .expect("connect");
        assert!(connect.tunnel);
        assert_eq!(connect.credential.as_deref(), Some("Basic abc"));
        assert_eq!((connect.host.as_str(), connect.port), ("ghcr.io", 443));
        let v6 = Request::parse(b"CONNECT [::1]:5000 HTTP/1.1\r\n\r\n").expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 5000));

        let get = Request::parse(
            b"GET http://reg.local:5000/v2/a/manifests/1 HTTP/1.1\r\nHost: reg.local:5000\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic abc\r\nAccept: */*\r\n\r\n",
        )
        .expect("get");
        assert!(!get.tunnel);
        assert_eq!(get.credential.as_deref(), Some("Basic abc"));
        assert_eq!((get.host.as_str(), get.port), ("reg.local", 5000));
        assert_eq!(
            String::from_utf8(get.forward).unwrap(),
            "GET /v2/a/manifests/1 HTTP/1.1\r\nHost: reg.local:5000\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let default_port = Request::parse(b"HEAD http://reg.local/v2/ HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(default_port.port, 80);
        assert_eq!(default_port.credential, None);

        for refused in [
            &b"POST http://reg.local/v2/ HTTP/1.1\r\n\r\n"[..],
            b"GET /v2/ HTTP/1.1\r\n\r\n",
            b"GET https://reg.local/v2/ HTTP/1.1\r\n\r\n",
            b"GET http://user@reg.local/ HTTP/1.1\r\n\r\n",
            b"CONNECT reg.local HTTP/1.1\r\n\r\n",
            b"CONNECT reg.local:99999 HTTP/1.1\r\n\r\n",
            b"CONNECT :443 HTTP/1.1\r\n\r\n",
            b"GET http://reg.local/ HTTP/2 extra\r\n\r\n",
            b"\xff\xfe",
        ] {
            assert!(Request::parse(refused).is_none(), "{refused:?}");
        }
    }

    #[test]
    fn only_public_addresses_pass_unless_a_range_is_listed() {
        let closed = AddressRules::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            let addr: IpAddr = refused.parse().unwrap();
            let why = closed.check(addr).unwrap_err();
            assert!(why.starts_with(refused), "{why}");
        }
        assert!(closed.check("93.184.216.34".parse().unwrap()).is_ok());
        let open = AddressRules {
            allow_private: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(open.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(open.check("10.1.2.3".parse().unwrap()).is_err());
    }

    /// Only the pull's own client, which holds the credential in its proxy URL, gets through.
    #[tokio::test]
    async fn a_request_without_the_pulls_credential_is_refused() {
        let (guard, addr, credential) = loopback_guard(1 << 20, &[]).await;
        let ask = |auth: Option<String>| {
            let (addr, auth) = (addr.to_owned(), auth);
            async move {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                let header = auth
                    .map(|a| format!("Proxy-Authorization: {a}\r\n"))
                    .unwrap_or_default();
                // A destination the rules allow: the guard's own port.
                s.write_all(format!("CONNECT {addr} HTTP/1.1\r\n{header}\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut first = [0u8; 12];
                s.read_exact(&mut first).await.unwrap();
                String::from_utf8_lossy(&first).into_owned()
            }
        };
        assert_eq!(ask(None).await, "HTTP/1.1 407");
        assert_eq!(
            ask(Some(format!("Basic {}", STANDARD.encode("cordon:guess")))).await,
            "HTTP/1.1 407"
        );
        assert_eq!(ask(Some(credential)).await, "HTTP/1.1 200");
        assert_eq!(guard.first_refusal(), None);
    }

    /// A guard allowing loopback, with `budget` bytes and `insecure` registries.
    async fn loopback_guard(budget: u64, insecure: &[&str]) -> (Egress, String, String) {
        let guard = Egress::start(
            AddressRules {
                allow_private: vec!["127.0.0.0/8".parse().unwrap()],
            },
            Bounds {
                budget,
                plain_http_with_credentials: insecure.iter().map(|s| s.to_string()).collect(),
            },
        )
        .await
        .unwrap();
        let (userinfo, addr) = guard
            .url()
            .trim_start_matches("http://")
            .split_once('@')
            .map(|(u, a)| (u.to_owned(), a.to_owned()))
            .unwrap();
        let credential = format!("Basic {}", STANDARD.encode(userinfo));
        (guard, addr, credential)
    }

    /// A server on loopback that answers every connection with `size` bytes after the head.
    async fn flood(size: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = [0u8; 1024];
                    let _ = s.read(&mut head).await;
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
                        )
                        .await;
                    let _ = s.write_all(&vec![b'x'; size]).await;
                });
            }
        });
        addr
    }

    async fn exchange(proxy: &str, request: String) -> Vec<u8> {
        let mut s = TcpStream::connect(proxy).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        got
    }

    #[tokio::test]
    async fn what_comes_back_is_cut_at_the_pulls_budget() {
        let upstream = flood(4 << 20).await;
        let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
        let got = exchange(
            &proxy,
            format!(
                "GET http://{upstream}/v2/ HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n"
            ),
        )
        .await;
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            &got[..got.len().min(40)]
        );
        assert!(
            got.len() <= (1 << 20) + 16 * 1024,
            "{} bytes passed",
            got.len()
        );
        assert!(guard.over_budget().is_some_and(|n| n > 1 << 20));
        // Within the budget nothing is cut.
        let small = flood(1000).await;
        let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
        let got = exchange(
            &proxy,
            format!("GET http://{small}/v2/ HTTP/1.1\r\nProxy-Authorization: {credential}\r\n\r\n"),
        )
        .await;
        assert!(got.ends_with(&[b'x'; 1000]), "{} bytes", got.len());
        assert_eq!(guard.over_budget(), None);
    }

    #[tokio::test]
    async fn credentials_go_over_plain_http_only_to_a_registry_named_insecure() {
        let upstream = flood(10).await;
        let request = |credential: &str| {
            format!(
                "GET http://{upstream}/token HTTP/1.1\r\nProxy-Authorization: {credential}\r\nAuthorization: Basic dTpw\r\n\r\n"
            )
        };
        let (guard, proxy, credential) = loopback_guard(1 << 20, &[]).await;
        let got = exchange(&proxy, request(&credential)).await;
        assert!(
            got.starts_with(b"HTTP/1.1 403"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        let why = guard.first_refusal().unwrap();
        assert!(why.contains("credentials over plain HTTP"), "{why}");
        let (guard, proxy, credential) = loopback_guard(1 << 20, &[upstream.as_str()]).await;
        let got = exchange(&proxy, request(&credential)).await;
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(guard.first_refusal(), None);
    }

    #[tokio::test]
    async fn a_refused_name_is_not_answered_with_its_address() {
        let why = open("localhost", 443, &AddressRules::default())
            .await
            .unwrap_err();
        assert_eq!(why, "resolves to an address that is not public");
        let why = open("127.0.0.1", 443, &AddressRules::default())
            .await
            .unwrap_err();
        assert_eq!(why, "127.0.0.1 is loopback");
    }

    #[test]
    fn the_credential_comparison_needs_every_byte() {
        assert!(same(b"Basic abc", b"Basic abc"));
        assert!(!same(b"Basic abc", b"Basic abd"));
        assert!(!same(b"Basic abc", b"Basic ab"));
        assert!(!same(b"", b"x"));
    }
}
