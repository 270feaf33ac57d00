//! Network policy under a hostile guest: allow-list matching on the parsed authority, SSRF
//! protection on every resolved address (including odd IP spellings and rebinding answers),
//! connections to the vetted address only, no redirects, request and response caps, and every
//! denial visible in the usage report.

use crate::common::temp_dir;
use cordon_core::{DenialKind, Execution, Limits, Outcome, Policy};
use cordon_sandbox::{Resolver, Sandbox, SandboxConfig};
use cordon_test_artifacts as guests;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Names the tests make resolve to chosen addresses, without DNS.
#[derive(Debug)]
struct FakeDns(HashMap<&'static str, Vec<IpAddr>>);

impl Resolver for FakeDns {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        _port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let answer = self.0.get(host).cloned();
        Box::pin(async move { answer.ok_or_else(|| std::io::Error::other("no such host")) })
    }
}

static NET: LazyLock<Sandbox> = LazyLock::new(|| {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let dns = FakeDns(HashMap::from([
        ("api.test", vec![ip("127.0.0.1")]),
        ("internal.test", vec![ip("10.0.0.5")]),
        ("metadata.test", vec![ip("169.254.169.254")]),
        ("mixed.test", vec![ip("93.184.216.34"), ip("192.168.1.1")]),
        ("v6local.test", vec![ip("::1")]),
    ]));
    Sandbox::new(SandboxConfig {
        cache_dir: Some(temp_dir("net-cache")),
        resolver: Arc::new(dns),
        ..SandboxConfig::default()
    })
    .unwrap()
});

/// A loopback HTTP server: `/hello` answers with the Host header it got, `/big` with 100 kB,
/// `/redirect` with a 302 to the cloud metadata address. Counts connections.
struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let host = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("host: ")
                            .or_else(|| l.strip_prefix("Host: "))
                    })
                    .unwrap_or("")
                    .to_owned();
                if path == "/chunked" {
                    let chunk = "c".repeat(50_000);
                    let n = chunk.len();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{n:x}\r\n{chunk}\r\n{n:x}\r\n{chunk}\r\n0\r\n\r\n"
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    return;
                }
                let (status, extra, body) = match path.as_str() {
                    "/hello" => ("200 OK", String::new(), format!("host={host}")),
                    "/big" => ("200 OK", String::new(), "b".repeat(100_000)),
                    "/redirect" => (
                        "302 Found",
                        "Location: http://169.254.169.254/latest/meta-data/\r\n".to_owned(),
                        "moved".to_owned(),
                    ),
                    _ => ("404 Not Found", String::new(), "no".to_owned()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Server { port, connections }
}

fn grants(policy: &str, limits: Limits) -> cordon_core::Grants {
    Policy::parse(policy, Path::new("net.toml"), Path::new("/"))
        .unwrap()
        .grants(limits, |_| None, Path::new("net.toml"))
        .unwrap()
}

async fn fetch(urls: &[String], policy: &str, limits: Limits) -> (Execution, Vec<Value>) {
    let tool = NET
        .load(&cordon_test_artifacts::bytes(guests::NET_PROBE))
        .unwrap();
    let exec = NET
        .call(
            &tool,
            &json!({ "urls": urls }).to_string(),
            &grants(policy, limits),
        )
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    let results = exec.output.clone().unwrap().as_array().unwrap().clone();
    (exec, results)
}

const LOOPBACK_OPEN: &str = "allow_private = [\"127.0.0.0/8\"]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_is_fetched_from_the_vetted_address() {
    let s = server().await;
    let policy = format!(
        "[network]\nallow = [\"http://api.test:{}\"]\n{LOOPBACK_OPEN}\n",
        s.port
    );
    let url = format!("http://api.test:{}/hello", s.port);
    let (exec, r) = fetch(&[url], &policy, Limits::default()).await;
    assert_eq!(r[0]["status"], 200, "{r:?}");
    // The connection went to the address the host resolved, with the guest's Host header.
    assert_eq!(r[0]["body"], format!("host=api.test:{}", s.port));
    assert_eq!(exec.usage.http_requests, 1);
    assert!(exec.usage.denials.is_empty());
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_the_allow_list_are_denied_and_reported() {
    let s = server().await;
    let p = s.port;
    let policy = format!("[network]\nallow = [\"http://api.test:{p}\"]\n{LOOPBACK_OPEN}\n");
    let urls: Vec<String> = vec![
        format!("http://api.test:{}/hello", p + 1), // wrong port
        format!("https://api.test:{p}/hello"),      // wrong scheme
        format!("http://api.test.evil.test:{p}/hello"), // suffix trick
        format!("http://evilapi.test:{p}/hello"),
        format!("http://api.test:{p}@127.0.0.1:{p}/hello"), // userinfo trick
        format!("http://127.0.0.1:{p}/hello"),              // the address itself is not the name
    ];
    let (exec, r) = fetch(&urls, &policy, Limits::default()).await;
    for (url, result) in urls.iter().zip(&r) {
        let error = result["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{url} was fetched: {result}"));
        assert!(error.contains("HTTP-request-denied"), "{url}: {error}");
    }
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        0,
        "a denied request connected"
    );
    assert_eq!(exec.usage.http_requests, urls.len() as u64);
    assert_eq!(exec.usage.denials.len(), urls.len());
    assert!(
        exec.usage
            .denials
            .iter()
            .all(|d| d.kind == DenialKind::Network)
    );
    assert_eq!(exec.usage.denials[0].target, urls[0]);
    assert_eq!(
        exec.usage.denials[0].reason,
        "not in the policy's network allow list"
    );
    // Credentials in a URL never reach the record: user information is shown as a marker.
    assert!(
        exec.usage
            .denials
            .iter()
            .all(|d| !d.target.contains(&format!("api.test:{p}@"))),
        "{:?}",
        exec.usage.denials
    );
    assert!(
        exec.usage
            .denials
            .iter()
            .any(|d| d.target.contains("<userinfo>@")),
        "{:?}",
        exec.usage.denials
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_answers_and_ip_literals_are_refused_without_connecting() {
    let s = server().await;
    let p = s.port;
    // Every host is on the allow list: only the SSRF check stands in the way.
    let hosts = [
        "internal.test",
        "metadata.test",
        "mixed.test",
        "v6local.test",
        "api.test",
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
    ];
    let allow: Vec<String> = hosts.iter().map(|h| format!("\"http://{h}:*\"")).collect();
    let policy = format!("[network]\nallow = [{}]\n", allow.join(", "));
    let urls: Vec<String> = hosts
        .iter()
        .map(|h| format!("http://{h}:{p}/hello"))
        .collect();
    let (exec, r) = fetch(&urls, &policy, Limits::default()).await;
    for (url, result) in urls.iter().zip(&r) {
        let error = result["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{url} was fetched: {result}"));
        assert!(
            error.contains("destination-IP-prohibited"),
            "{url}: {error}"
        );
    }
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        0,
        "a refused request connected"
    );
    let reasons: Vec<&str> = exec
        .usage
        .denials
        .iter()
        .map(|d| d.reason.as_str())
        .collect();
    assert_eq!(
        reasons[0],
        "resolves to 10.0.0.5, a private (10.0.0.0/8) address"
    );
    assert_eq!(
        reasons[1],
        "resolves to 169.254.169.254, a link-local (incl. cloud metadata) address"
    );
    assert_eq!(
        reasons[2],
        "resolves to 192.168.1.1, a private (192.168.0.0/16) address"
    );
    assert_eq!(reasons[7], "resolves to 127.0.0.1, a loopback address");
    assert_eq!(exec.usage.denials.len(), hosts.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_returned_not_followed() {
    let s = server().await;
    let policy = format!("[network]\nallow = [\"http://api.test:*\"]\n{LOOPBACK_OPEN}\n");
    let (exec, r) = fetch(
        &[format!("http://api.test:{}/redirect", s.port)],
        &policy,
        Limits::default(),
    )
    .await;
    assert_eq!(r[0]["status"], 302);
    assert_eq!(r[0]["body"], "moved");
    assert_eq!(exec.usage.http_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_count_and_response_size_are_capped() {
    let s = server().await;
    let p = s.port;
    let policy = format!("[network]\nallow = [\"http://api.test:*\"]\n{LOOPBACK_OPEN}\n");
    let limits = Limits {
        max_http_requests: 3,
        max_http_response_bytes: 10_000,
        ..Limits::default()
    };
    let urls = vec![
        format!("http://api.test:{p}/hello"),
        format!("http://api.test:{p}/big"),
        format!("http://api.test:{p}/chunked"),
        format!("http://api.test:{p}/hello"),
    ];
    let (exec, r) = fetch(&urls, &policy, limits).await;
    assert_eq!(r[0]["status"], 200);
    for cut in [&r[1], &r[2]] {
        let error = cut["error"].as_str().expect("an oversized body must fail");
        assert!(error.contains("body"), "{error}");
    }
    let last = r[3]["error"]
        .as_str()
        .expect("the fourth request is over the count");
    assert!(last.contains("HTTP-request-denied"), "{last}");
    assert_eq!(exec.usage.http_requests, 4);
    // Every refusal is a denial: both cut bodies (Content-Length and chunked) and the count.
    let reasons: Vec<&str> = exec
        .usage
        .denials
        .iter()
        .map(|d| d.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for (d, path) in exec.usage.denials[..2].iter().zip(["/big", "/chunked"]) {
        assert!(d.reason.contains("over the limit of 10000 bytes"), "{d:?}");
        assert!(d.target.ends_with(path), "{d:?}");
    }
    assert_eq!(reasons[2], "request limit of 3 reached");
}

/// A scheme other than http(s) is refused by the host, counted and recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_schemes_are_refused_counted_and_recorded() {
    let s = server().await;
    let policy = format!("[network]\nallow = [\"http://api.test:*\"]\n{LOOPBACK_OPEN}\n");
    let urls = vec![format!("ftp://127.0.0.1:{}/", s.port)];
    let (exec, r) = fetch(&urls, &policy, Limits::default()).await;
    assert!(r[0]["error"].is_string(), "{r:?}");
    assert_eq!(exec.usage.http_requests, 1);
    assert_eq!(exec.usage.denials.len(), 1, "{:?}", exec.usage.denials);
    let d = &exec.usage.denials[0];
    assert!(d.reason.contains("scheme \"ftp\" is not allowed"), "{d:?}");
    assert!(d.target.starts_with("ftp://"), "{d:?}");
    assert_eq!(
        s.connections.load(Ordering::SeqCst),
        0,
        "nothing was connected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sockets_and_name_lookups_are_closed_even_with_an_allow_list() {
    let s = server().await;
    let policy = format!("[network]\nallow = [\"http://api.test:*\"]\n{LOOPBACK_OPEN}\n");
    let tool = NET
        .load(&cordon_test_artifacts::bytes(guests::NET_PROBE))
        .unwrap();
    let input = json!({ "tcp": format!("127.0.0.1:{}", s.port), "lookup": "localhost" });
    let exec = NET
        .call(
            &tool,
            &input.to_string(),
            &grants(&policy, Limits::default()),
        )
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    let r = exec.output.unwrap();
    assert!(r[0]["error"].is_string(), "raw TCP connected: {r}");
    assert!(r[1]["error"].is_string(), "name lookup answered: {r}");
    assert_eq!(s.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_closed_default_denies_every_request() {
    // The http-get tool under the closed default: no allow list, nothing goes out.
    let tool = NET
        .load(&cordon_test_artifacts::bytes(guests::HTTP_GET))
        .unwrap();
    let exec = NET
        .call(
            &tool,
            r#"{"url":"https://example.com/"}"#,
            &cordon_core::Grants::default(),
        )
        .await;
    assert_eq!(exec.outcome, Outcome::ToolError);
    assert_eq!(exec.usage.denials.len(), 1);
    assert_eq!(exec.usage.denials[0].target, "https://example.com/");
}
