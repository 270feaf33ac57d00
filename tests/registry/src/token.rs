//! A registry token service for tests (the Docker/distribution token flow): the registry answers
//! `401` with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the client asks the
//! realm for a token with its Basic credentials; this service checks them and returns a JWT the
//! registry verifies against the certificate in its `rootcertbundle` (ES256, the certificate in
//! the `x5c` header), granting the actions the scope asked for.
//!
//! Plain HTTP on a loopback address of the test's choosing (`127.0.0.2` is another address than
//! the registry's `127.0.0.1`, so a test can allow one and not the other).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The token service's identity as the registry is told it.
pub const ISSUER: &str = "cordon-test-token-issuer";
pub const SERVICE: &str = "cordon-test-registry";

/// A running token service; stops when dropped.
#[derive(Debug)]
pub struct TokenService {
    realm: String,
    cert_pem: String,
    issued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

struct Signer {
    key: jsonwebtoken::EncodingKey,
    cert_der_b64: String,
    user: String,
    password: String,
}

impl TokenService {
    /// Listens on `ip` (a free port) and grants tokens to `user` with `password`.
    pub fn start(ip: IpAddr, user: &str, password: &str) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key)?;
        let signer = Arc::new(Signer {
            key: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            cert_der_b64: STANDARD.encode(cert.der()),
            user: user.to_owned(),
            password: password.to_owned(),
        });
        let listener = TcpListener::bind((ip, 0))?;
        let addr = listener.local_addr()?;
        let (issued, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (counting, stopping) = (issued.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (signer, counting) = (signer.clone(), counting.clone());
                std::thread::spawn(move || {
                    if answer(stream, &signer) {
                        counting.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        Ok(TokenService {
            realm: format!("http://{addr}/token"),
            cert_pem: cert.pem(),
            issued,
            stop,
            addr,
        })
    }

    /// The URL the registry sends clients to.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The certificate the registry verifies tokens with (its `rootcertbundle`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// How many tokens were granted so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::Relaxed)
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers one request; true when a token was granted.
fn answer(stream: TcpStream, signer: &Signer) -> bool {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return false,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return false;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let mut stream = stream;
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", signer.user, signer.password))
    );
    if authorization.as_deref() != Some(expected.as_str()) {
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        );
        return false;
    }
    let scopes: Vec<String> = target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.strip_prefix("scope="))
        .map(|s| {
            s.replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%2F", "/")
        })
        .collect();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": signer.user,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("t-{now}-{}", scopes.len()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![signer.cert_der_b64.clone()]);
    let Ok(token) = jsonwebtoken::encode(&header, &claims, &signer.key) else {
        return false;
    };
    let body =
        serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
    stream
        .write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .is_ok()
}
