//! Credentials the host attaches (`[[network.credentials]]`) under a hostile guest that hunts
//! for the secret: not in its environment or files; attached on the wire to exactly the
//! credentialed scheme, host and port (checked by a local HTTPS server whose CA is given to the
//! sandbox for this test only); never to another host, another port, a trailing-dot spelling, a
//! userinfo URL or a redirect's target; the guest's own header replaced and recorded; echoes in
//! headers and bodies (split across chunks too) redacted; the record names the credential and
//! holds no value.

use crate::common::temp_dir;
use cordon_core::{Execution, Limits, Outcome, Policy};
use cordon_sandbox::{Resolver, Sandbox, SandboxConfig};
use cordon_test_artifacts as guests;
use serde_json::json;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const SECRET: &str = "ghp_s3cr3tV4lue0123456789";

/// `*.cred.test` resolves to loopback.
#[derive(Debug)]
struct LoopbackDns;

impl Resolver for LoopbackDns {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        _port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let answer = host
            .ends_with(".cred.test")
            .then(|| vec![IpAddr::from([127, 0, 0, 1])]);
        Box::pin(async move { answer.ok_or_else(|| std::io::Error::other("no such host")) })
    }
}

/// What a test server received: (port, Host header, path, Authorization header if any).
pub(crate) type Seen = Arc<Mutex<Vec<(u16, String, String, Option<String>)>>>;

/// An HTTPS server on loopback for `api.cred.test` and `other.cred.test`, answering as
/// [`answer`] does; `/redirect` points at `other.cred.test` on the same port.
async fn https_server(config: Arc<tokio_rustls::rustls::ServerConfig>, seen: Seen) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let redirect = format!("https://other.cred.test:{port}/echo");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, seen, redirect) = (acceptor.clone(), seen.clone(), redirect.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(socket).await {
                    answer(tls, port, &redirect, &seen).await;
                }
            });
        }
    });
    port
}

/// A plain HTTP server on `listener`, answering as [`answer`] does with `/redirect` pointing
/// at `redirect`.
pub(crate) async fn http_server(listener: tokio::net::TcpListener, redirect: String, seen: Seen) {
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (seen, redirect) = (seen.clone(), redirect.clone());
            tokio::spawn(async move { answer(socket, port, &redirect, &seen).await });
        }
    });
}

/// Reads one request, keeps what it carried, and answers: `/echo` with the request's headers
/// (and its Authorization again in `x-echo-authorization`), `/split` with the Authorization
/// value cut across two chunks, `/gzip` with a compressed body, `/redirect` with a 302 to
/// `redirect`.
async fn answer<S>(mut stream: S, port: u16, redirect: &str, seen: &Seen)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let auth = header("authorization");
    seen.lock().unwrap().push((
        port,
        header("host").unwrap_or_default(),
        path.clone(),
        auth.clone(),
    ));
    let auth = auth.unwrap_or_default();
    let response = match path.as_str() {
        "/echo" => {
            let body = json!({ "headers": head }).to_string();
            format!(
                "HTTP/1.1 200 OK\r\nx-echo-authorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        "/split" => {
            let (a, b) = auth.split_at(auth.len() / 2);
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            )
        }
        "/gzip" => "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc".to_owned(),
        "/redirect" => format!(
            "HTTP/1.1 302 Found\r\nLocation: {redirect}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The Authorization the echo server sent back in a header reached the guest redacted.
pub(crate) fn assert_echo_redacted(response: &serde_json::Value) {
    let echoed = response["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-echo-authorization")
        .unwrap_or_else(|| panic!("{response}"));
    assert_eq!(echoed[1], "Bearer [REDACTED]");
}

/// On the wire: `with` requests carried `Bearer <secret>`, every one of them to `port` with
/// `host` as its Host; `without` others arrived with no Authorization at all (the guest's own
/// value never among them).
pub(crate) fn assert_attached_exactly(
    seen: &Seen,
    port: u16,
    host: &str,
    with: usize,
    without: usize,
) {
    let seen = seen.lock().unwrap().clone();
    let carried: Vec<_> = seen.iter().filter(|s| s.3.is_some()).collect();
    assert_eq!(carried.len(), with, "{seen:?}");
    for (p, h, _, auth) in &carried {
        assert_eq!((*p, h.as_str()), (port, host));
        assert_eq!(auth.as_deref(), Some(format!("Bearer {SECRET}").as_str()));
    }
    assert_eq!(seen.len(), with + without, "{seen:?}");
}

/// A CA for this test, and a server configuration with its certificate for both names.
fn tls() -> (Vec<u8>, Arc<tokio_rustls::rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["api.cred.test".into(), "other.cred.test".into()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    (ca.der().to_vec(), Arc::new(config))
}

fn policy(port: u16, other_port: u16) -> String {
    format!(
        r#"
[network]
allow = ["https://api.cred.test:{port}", "https://other.cred.test:{port}", "https://api.cred.test:{other_port}"]
allow_private = ["127.0.0.0/8"]

[[network.credentials]]
destination = "https://api.cred.test:{port}"
header = "Authorization"
value = "Bearer {{secret:api-token}}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_guest_never_gets_the_credential_and_it_goes_only_where_it_belongs() {
    let (ca, server_tls) = tls();
    let seen: Seen = Arc::default();
    // Two servers for the same names: the credentialed port, and another one.
    let other = https_server(server_tls.clone(), seen.clone()).await;
    let port = https_server(server_tls, seen.clone()).await;
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(temp_dir("cred-cache")),
        resolver: Arc::new(LoopbackDns),
        extra_tls_roots: vec![ca],
        ..SandboxConfig::default()
    })
    .unwrap();
    let grants = Policy::parse(&policy(port, other), Path::new("cred.toml"), Path::new("/"))
        .unwrap()
        .grants(
            Limits::default(),
            |name| (name == "api-token").then(|| SECRET.to_owned()),
            Path::new("cred.toml"),
        )
        .unwrap();
    let tool = sandbox
        .load(&cordon_test_artifacts::bytes(guests::CRED_PROBE))
        .unwrap();
    let input = json!({
        "files": ["/etc/passwd", "/proc/self/environ", "/run/secrets/api-token", "secrets.json"],
        "requests": [
            // 0: the credentialed destination: the header arrives, the echoes are redacted.
            {"url": format!("https://api.cred.test:{port}/echo")},
            // 1: another allowed host: nothing attached.
            {"url": format!("https://other.cred.test:{port}/echo")},
            // 2: the guest's own Authorization to the credentialed host: replaced, recorded.
            {"url": format!("https://api.cred.test:{port}/echo"),
             "headers": [["Authorization", "Bearer the-guest-s-own"]]},
            // 3-4: a redirect from the credentialed host to another: the hop gets nothing.
            {"url": format!("https://api.cred.test:{port}/redirect"), "follow": true},
            // 5: userinfo naming the destination: refused outright.
            {"url": format!("https://api.cred.test:{port}@other.cred.test:{port}/echo")},
            // 6: a trailing dot: another spelling, no credential.
            {"url": format!("https://api.cred.test.:{port}/echo")},
            // 7: another port of the same host: no credential.
            {"url": format!("https://api.cred.test:{other}/echo")},
            // 8: plain http to the same host and port: not allowed at all.
            {"url": format!("http://api.cred.test:{port}/echo")},
            // 9: the secret echoed split across two chunks.
            {"url": format!("https://api.cred.test:{port}/split")},
            // 10: asking for a compressed or partial echo: the host asks for it whole instead.
            {"url": format!("https://api.cred.test:{port}/echo"),
             "headers": [["Accept-Encoding", "gzip"], ["Range", "bytes=0-9"]]},
            // 11: a compressed reply to a credentialed request is refused.
            {"url": format!("https://api.cred.test:{port}/gzip")},
        ],
    });
    let exec: Execution = sandbox.call(&tool, &input.to_string(), &grants).await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    let report = exec.output.clone().unwrap();

    // Nothing the guest saw, and nothing in the whole execution, holds the secret.
    let everything = serde_json::to_string(&exec).unwrap();
    assert!(
        !everything.contains(SECRET),
        "the secret reached the guest: {everything}"
    );
    assert!(report["env"].as_array().unwrap().is_empty(), "{report}");
    for file in report["files"].as_array().unwrap() {
        assert!(file[1].as_str().unwrap().starts_with("error:"), "{file}");
    }
    let responses = report["responses"].as_array().unwrap();
    let r = |i: usize| &responses[i];
    // 0: the server got the credential; the guest read it back redacted, in body and header.
    assert_eq!(r(0)["status"], 200, "{}", r(0));
    assert!(
        r(0)["body"].as_str().unwrap().contains("Bearer [REDACTED]"),
        "{}",
        r(0)
    );
    assert_echo_redacted(r(0));
    assert_eq!(r(1)["status"], 200);
    assert_eq!(r(2)["status"], 200);
    assert_eq!(r(3)["status"], 302);
    assert_eq!(r(4)["url"], format!("https://other.cred.test:{port}/echo"));
    assert_eq!(r(4)["status"], 200, "{}", r(4));
    assert!(
        r(5)["error"].as_str().unwrap().contains("denied"),
        "{}",
        r(5)
    );
    assert_eq!(r(6)["status"], 200, "{}", r(6));
    assert_eq!(r(7)["status"], 200, "{}", r(7));
    assert!(
        r(8)["error"].as_str().unwrap().contains("denied"),
        "{}",
        r(8)
    );
    assert_eq!(r(9)["status"], 200, "{}", r(9));
    assert_eq!(r(9)["body"], "Bearer [REDACTED]", "{}", r(9));

    let sent = r(10)["body"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        sent.contains("accept-encoding: identity") && !sent.contains("range:"),
        "{sent}"
    );
    assert!(r(11)["error"].is_string(), "{}", r(11));

    // On the wire: the credential reached exactly the credentialed destination, each time
    // (requests 0, 2, 3, 9, 10 and 11), and nothing else got any Authorization (requests 1, 4,
    // 6 and 7 arrived without it).
    assert_attached_exactly(&seen, port, &format!("api.cred.test:{port}"), 6, 4);

    // The record names the credential, its destination and how often, never the value.
    let used = &exec.usage.credentials;
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(used[0].destination, format!("https://api.cred.test:{port}"));
    assert_eq!(used[0].header, "authorization");
    assert_eq!(used[0].secrets, ["api-token"]);
    assert_eq!(used[0].requests, 6);
    // The guest's own header was replaced, and that attempt is in the report.
    let reasons: Vec<&str> = exec
        .usage
        .denials
        .iter()
        .map(|d| d.reason.as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("set the authorization header itself")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("user information")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("came compressed or partial")),
        "{reasons:?}"
    );
}

/// A plain HTTP server on loopback answering every request with the `X-Api-Key` it got; what
/// it got is kept.
fn echo_server(seen: Arc<Mutex<Vec<Option<String>>>>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 2048];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let key = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("x-api-key")
                    .then(|| v.trim().to_owned())
            });
            seen.lock().unwrap().push(key.clone());
            let body = format!("you sent {}", key.unwrap_or_default());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn through_a_confined_server_with_its_secret_store_the_record_names_the_credential() {
    use crate::harness::{Server, cordon, fixture};
    use std::io::Write;
    let f = fixture("cred-server");
    let key = crate::harness::new_secret_key();
    let mut set = cordon()
        .args([
            "secret",
            "set",
            "api-token",
            "--data",
            f.data.to_str().unwrap(),
        ])
        .env("CORDON_SECRET_KEY", &key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all(format!("{SECRET}\n").as_bytes())
        .unwrap();
    assert!(set.wait().unwrap().success());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = echo_server(seen.clone());
    let policies = temp_dir("cred-server-policies");
    std::fs::write(
        policies.join("cred-probe.toml"),
        format!(
            "[network]\nallow = [\"http://127.0.0.1:{port}\"]\nallow_private = [\"127.0.0.0/8\"]\n\n\
             [[network.credentials]]\ndestination = \"http://127.0.0.1:{port}\"\n\
             header = \"X-Api-Key\"\nvalue = \"{{secret:api-token}}\"\n"
        ),
    )
    .unwrap();
    let signed = f.signed.join("cred_probe.wasm");
    crate::harness::run(&[
        "sign",
        guests::CRED_PROBE,
        "--key",
        f.data.join("dev.pem").to_str().unwrap(),
        "--out",
        signed.to_str().unwrap(),
    ]);
    let log = std::fs::File::create(f.data.join("server.log")).unwrap();
    let s = Server::start_full(
        &f.data,
        &["--policies", policies.to_str().unwrap()],
        &[("CORDON_SECRET_KEY", &key), ("CORDON_LOG", "info")],
        std::process::Stdio::from(log),
    );
    let (_, _, ready) = s.request("GET", "/readyz", None, b"");
    assert!(String::from_utf8_lossy(&ready).contains("confined ("));
    let (status, body) = s.publish(&f.publisher, &signed);
    assert_eq!(status, 201, "{body}");
    let input = json!({"requests": [
        {"url": format!("http://127.0.0.1:{port}/")},
        {"url": format!("http://127.0.0.1:{port}/"), "headers": [["x-api-key", "mine"]]},
    ]});
    let (status, head, answer) = s.request(
        "POST",
        "/v1/tools/cred-probe/invoke",
        Some(&f.invoker),
        input.to_string().as_bytes(),
    );
    let answer = String::from_utf8(answer).unwrap();
    assert_eq!(status, 200, "{head}\n{answer}");
    assert!(!answer.contains(SECRET), "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    for r in answer["output"]["responses"].as_array().unwrap() {
        assert_eq!(r["body"], "you sent [REDACTED]", "{r}");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Some(SECRET.to_owned()), Some(SECRET.to_owned())]
    );
    // The stored record names the credential; the log verifies; no secret anywhere.
    let (_, record) = s.json(
        "GET",
        &format!(
            "/v1/executions/{}",
            answer["execution_id"].as_str().unwrap()
        ),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(
        record["usage"]["credentials"],
        json!([{"destination": format!("http://127.0.0.1:{port}"), "header": "x-api-key",
                "secrets": ["api-token"], "requests": 2}])
    );
    assert!(!record.to_string().contains(SECRET));
    let (_, verify) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(verify["intact"], true, "{verify}");
    drop(s);
    let server_log = std::fs::read_to_string(f.data.join("server.log")).unwrap();
    assert!(!server_log.contains(SECRET), "the secret reached the log");
    assert!(
        server_log.contains("set the x-api-key header itself"),
        "{server_log}"
    );
}
