//! A registry stand-in, for what a real registry will not do on request: a small HTTP/1.1
//! server (one thread per connection) that serves one artifact's manifest for any tag or digest
//! and its blobs by digest, answers exactly one request per connection and then closes it
//! without saying so beforehand (no `Connection: close`, as small servers do; at once or a
//! little later), and, when a test
//! asks, redirects manifests or blobs, or asks for a Bearer token from a realm, wherever the
//! test says. It keeps every request line it was sent, so a test can tell what reached it.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the stand-in serves: a manifest (for every tag and digest of every repository) and the
/// blobs it names, each as `(digest, bytes)`.
#[derive(Debug, Clone, Default)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// How the stand-in answers besides serving the artifact.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Answer manifest requests with `307` to this base URL followed by the request's path.
    pub redirect_manifests: Option<String>,
    /// Answer blob requests with `307` to this base URL followed by the request's path.
    pub redirect_blobs: Option<String>,
    /// Answer every request without `Authorization` with `401` and a Bearer challenge naming this
    /// realm.
    pub realm: Option<String>,
    /// Send `Connection: close` with each answer (a server that says it closes).
    pub say_close: bool,
    /// How long a connection stays open after its answer before it is closed (unread requests
    /// and all): none by default.
    pub close_after: Duration,
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl StandIn {
    /// Listens on `ip` (a free port).
    pub fn start(ip: IpAddr, artifact: Artifact, behaviour: Behaviour) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((ip, 0))?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new((artifact, behaviour));
        let (noting, stopping) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (shared, noting) = (shared.clone(), noting.clone());
                std::thread::spawn(move || answer(stream, &shared.0, &shared.1, &noting));
            }
        });
        Ok(StandIn { addr, seen, stop })
    }

    /// `IP:PORT`, as references name it (`[v6]:PORT` for IPv6).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Every request line received so far (`GET /v2/...`).
    pub fn seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request, answers it, and closes the connection.
fn answer(stream: TcpStream, artifact: &Artifact, how: &Behaviour, seen: &Mutex<Vec<String>>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
        return;
    }
    let mut authorized = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, _)) = header.split_once(':') {
            authorized |= name.trim().eq_ignore_ascii_case("authorization");
        }
    }
    let line = line.trim().to_owned();
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line.clone());
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, headers, body): (&str, Vec<String>, Vec<u8>) =
        if how.realm.is_some() && !authorized {
            let realm = how.realm.as_deref().unwrap_or("");
            (
                "401 Unauthorized",
                vec![format!(
                    "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"stand-in\""
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}"#.to_vec(),
            )
        } else if path == "/v2/" || path == "/v2" {
            ("200 OK", Vec::new(), b"{}".to_vec())
        } else if path.contains("/manifests/") {
            match &how.redirect_manifests {
                Some(base) => redirect(base, path),
                None => (
                    "200 OK",
                    vec!["Content-Type: application/vnd.oci.image.manifest.v1+json".to_owned()],
                    artifact.manifest.clone(),
                ),
            }
        } else if let Some((_, digest)) = path.split_once("/blobs/") {
            match (
                &how.redirect_blobs,
                artifact.blobs.iter().find(|b| b.0 == digest),
            ) {
                (Some(base), _) => redirect(base, path),
                (None, Some((_, bytes))) => (
                    "200 OK",
                    vec!["Content-Type: application/octet-stream".to_owned()],
                    bytes.clone(),
                ),
                (None, None) => not_found(),
            }
        } else {
            not_found()
        };
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for header in headers {
        head.push_str(&header);
        head.push_str("\r\n");
    }
    if how.say_close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&body);
    }
    let _ = stream.flush();
    std::thread::sleep(how.close_after);
    // Dropped here: the connection closes after its one answer.
}

fn redirect(base: &str, path: &str) -> (&'static str, Vec<String>, Vec<u8>) {
    (
        "307 Temporary Redirect",
        vec![format!("Location: {base}{path}")],
        Vec::new(),
    )
}

fn not_found() -> (&'static str, Vec<String>, Vec<u8>) {
    (
        "404 Not Found",
        vec!["Content-Type: application/json".to_owned()],
        br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"not here"}]}"#.to_vec(),
    )
}
