//! HTTPS on cordon's own listener (issue 40): certificates made here (rcgen), curl as the
//! client. HTTP/2 and HTTP/1.1 through ALPN; plain HTTP and TLS 1.1 refused; a renewed
//! certificate served to new connections on SIGHUP and when the files change, while a call on a
//! connection opened before goes on to its answer; a bad new file keeps the old certificate.

use crate::harness::{Server, fixture};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CA of this test, and a server certificate for 127.0.0.1 it signs.
pub(crate) struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    pub(crate) fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "cordon TLS test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki {
            dir: dir.to_owned(),
            ca,
            ca_key,
        }
    }

    /// A new certificate named `name`, put in place of `tls/cert.pem` and `tls/key.pem` the way
    /// renewal tools do (written aside, then renamed over); its SHA-256 fingerprint.
    fn issue(&self, name: &str) -> String {
        self.issue_pinned(name).0
    }

    /// As `issue`, also giving the base64 SHA-256 of the certificate's public key (what
    /// Chromium's `--ignore-certificate-errors-spki-list` names).
    pub(crate) fn issue_pinned(&self, name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let tls = self.dir.join("tls");
        std::fs::write(tls.join("cert.new"), cert.pem()).unwrap();
        std::fs::write(tls.join("key.new"), key.serialize_pem()).unwrap();
        set_private(&tls.join("key.new"));
        std::fs::rename(tls.join("key.new"), tls.join("key.pem")).unwrap();
        std::fs::rename(tls.join("cert.new"), tls.join("cert.pem")).unwrap();
        use base64::Engine as _;
        use sha2::Digest as _;
        (
            hex::encode(sha2::Sha256::digest(cert.der())),
            base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(key.public_key_der())),
        )
    }

    /// `cordon serve`'s arguments for this certificate and key.
    pub(crate) fn serve_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert().to_string_lossy().into_owned(),
            "--tls-key".into(),
            self.key().to_string_lossy().into_owned(),
        ]
    }

    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.join("tls/cert.pem")
    }
    pub(crate) fn key(&self) -> PathBuf {
        self.dir.join("tls/key.pem")
    }
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// curl against the server with the test CA: (exit code, stdout, stderr).
fn curl(pki: &Pki, args: &[&str]) -> (i32, String, String) {
    curl_trusting(&pki.ca(), args)
}

/// curl trusting the server certificates `ca` signs: (exit code, stdout, stderr).
pub(crate) fn curl_trusting(ca: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The SHA-256 fingerprint of the certificate a new connection is served.
fn served(s: &Server) -> String {
    let script = "import hashlib, socket, ssl, sys\n\
        ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
        host, port = sys.argv[1].rsplit(':', 1)\n\
        with socket.create_connection((host, int(port))) as raw:\n\
        \x20   with ctx.wrap_socket(raw, server_hostname=host) as tls:\n\
        \x20       print(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())\n";
    let ca = s.data.join("ca.pem");
    let out = Command::new("python3")
        .args(["-c", script, &s.addr, ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits (at most 15 s) until new connections are served the certificate `fingerprint`.
fn until_served(s: &Server, fingerprint: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while served(s) != fingerprint {
        assert!(Instant::now() < deadline, "still the old certificate");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn https_and_http2_on_the_listener_with_renewal_without_a_restart() {
    let f = fixture("tls");
    let pki = Pki::new(&f.data);
    let first = pki.issue("cordon first");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_with(&f.data, &args);
    let base = format!("https://{}", s.addr);
    assert_eq!(served(&s), first);

    // HTTP/2 through ALPN, HTTP/1.1 when asked; the API as over plain HTTP.
    let (code, out, err) = curl(
        &pki,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            &format!("{base}/healthz"),
        ],
    );
    assert_eq!((code, out.as_str()), (0, "2 200"), "{err}");
    let (code, out, err) = curl(
        &pki,
        &[
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            &format!("{base}/healthz"),
        ],
    );
    assert_eq!((code, out.as_str()), (0, "1.1 200"), "{err}");
    publish(&pki, &base, &f.publisher, &f.signed.join("echo.wasm"));
    let auth = format!("authorization: Bearer {}", f.invoker);
    let (code, out, err) = curl(
        &pki,
        &[
            "-H",
            &auth,
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"over":"h2"}"#,
            &format!("{base}/v1/tools/echo/invoke"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["output"], serde_json::json!({"over": "h2"}), "{out}");
    // The metrics too, with the call just made.
    let (code, out, err) = curl(
        &pki,
        &[
            "-H",
            &format!("authorization: Bearer {}", f.admin),
            &format!("{base}/metrics"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("cordon_invocations_total{outcome=\"ok\",tool=\"echo\"} 1"),
        "{out}"
    );

    // MCP over HTTPS with the official Python SDK (HTTP/1.1, as its client speaks it), and the
    // protected resource metadata naming https:// URLs.
    let report = crate::mcp::script(
        "mcp_client.py",
        &serde_json::json!({
            "transport": "http",
            "url": format!("{base}/mcp"),
            "api_key": f.invoker,
            "ca_file": pki.ca(),
            "calls": [{"name": "echo", "arguments": {"over": "mcp"}}],
        }),
    );
    assert_eq!(report["calls"][0]["ok"], true, "{report}");
    assert_eq!(
        report["calls"][0]["structuredContent"],
        serde_json::json!({"over": "mcp"}),
        "{report}"
    );
    // A refusal answered before the request's body is read (here a 401 on /mcp) ends its
    // HTTP/2 stream cleanly: the unread body is drained, not reset with CANCEL, which curl
    // reports as a framing error. Many at once, on one connection, with a body of 27 kB.
    let padding = "x".repeat(27_000);
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"pad": padding}});
    let body_file = f.data.join("refused-body.json");
    std::fs::write(&body_file, body.to_string()).unwrap();
    let mut burst = vec![
        "--http2".to_owned(),
        "--parallel".into(),
        "--parallel-max".into(),
        "60".into(),
        "-w".into(),
        "=%{http_code}=%{http_version}\n".into(),
        "-H".into(),
        "content-type: application/json".into(),
        "--data".into(),
        format!("@{}", body_file.display()),
    ];
    for _ in 0..200 {
        burst.extend(["-o".to_owned(), "/dev/null".into(), format!("{base}/mcp")]);
    }
    let burst: Vec<&str> = burst.iter().map(String::as_str).collect();
    let (code, out, err) = curl(&pki, &burst);
    assert_eq!(code, 0, "{err}");
    let answered: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(answered.len(), 200, "{out}");
    assert!(
        answered.iter().all(|l| *l == "=401=2" || *l == "=429=2"),
        "{out}"
    );
    let (code, out, err) = curl(
        &pki,
        &[
            "-i",
            &format!("{base}/mcp"),
            "-H",
            "content-type: application/json",
            "--data",
            "{}",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let challenge = format!(
        "resource_metadata=\"https://{}/.well-known/oauth-protected-resource/mcp\"",
        s.addr
    );
    assert!(out.contains(&challenge), "{out}");
    let (code, out, err) = curl(
        &pki,
        &[&format!("{base}/.well-known/oauth-protected-resource/mcp")],
    );
    assert_eq!(code, 0, "{err}");
    let metadata: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(metadata["resource"], format!("https://{}/mcp", s.addr));

    // Plain HTTP on the HTTPS port is told to use https://, and served nothing; the answer
    // arrives even while the client is still writing its request (a lingering close, never a
    // reset), every time.
    for _ in 0..30 {
        let (status, _, _) = s.request(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            &[b'x'; 3000],
        );
        assert_eq!(status, 400);
    }
    let (status, _, body) = s.request("GET", "/v1/tools", Some(&f.invoker), b"");
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("HTTPS only"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // TLS 1.1: refused by the server with an alert; the same client at TLS 1.2 connects.
    assert_eq!(handshake(&s, "TLSv1_2"), "connected");
    let said = handshake(&s, "TLSv1_1");
    assert!(
        said.starts_with("SSLV3_ALERT_") || said.starts_with("TLSV1_ALERT_"),
        "not an alert from the server: {said}"
    );

    // A call that lasts three seconds, on a connection opened before the renewal.
    publish(&pki, &base, &f.publisher, &f.signed.join("steps.wasm"));
    let long = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60", "--cacert"])
        .arg(pki.ca())
        .args([
            "-H",
            &format!("authorization: Bearer {}", f.invoker),
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"steps": 20, "step_ms": 150}"#,
            "-w",
            "\n%{http_code}",
            &format!("{base}/v1/tools/steps/invoke"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // Renewed, then SIGHUP: new connections get the new certificate.
    let second = pki.issue("cordon second");
    assert_ne!(second, first);
    let hup = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    until_served(&s, &second);
    // The call on the old connection still gets its answer.
    let out = long.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n200"), "{text}");

    // A bad new file: the certificate in force stays.
    std::fs::write(pki.cert(), "not a certificate\n").unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(served(&s), second);

    // Renewed without a signal: the files' change is seen within seconds.
    let third = pki.issue("cordon third");
    until_served(&s, &third);
}

pub(crate) fn publish(pki: &Pki, base: &str, key: &str, component: &Path) {
    let (code, out, err) = curl(
        pki,
        &[
            "-H",
            &format!("authorization: Bearer {key}"),
            "-H",
            "content-type: application/wasm",
            "--data-binary",
            &format!("@{}", component.display()),
            "-w",
            "\n%{http_code}",
            &format!("{base}/v1/tools"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("\n201"), "{out}");
}

/// A handshake at exactly TLS `version` (`TLSv1_1`, `TLSv1_2`) by Python's ssl, any cipher
/// allowed: `connected`, or the reason of the error.
fn handshake(s: &Server, version: &str) -> String {
    let script = "import socket, ssl, sys, warnings\n\
        warnings.simplefilter('ignore')\n\
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n\
        ctx.check_hostname = False\n\
        ctx.verify_mode = ssl.CERT_NONE\n\
        ctx.set_ciphers('DEFAULT@SECLEVEL=0')\n\
        v = getattr(ssl.TLSVersion, sys.argv[2])\n\
        ctx.minimum_version = v\n\
        ctx.maximum_version = v\n\
        host, port = sys.argv[1].rsplit(':', 1)\n\
        try:\n\
        \x20   with socket.create_connection((host, int(port))) as raw:\n\
        \x20       ctx.wrap_socket(raw)\n\
        \x20   print('connected')\n\
        except ssl.SSLError as e:\n\
        \x20   print(e.reason)\n";
    let out = Command::new("python3")
        .args(["-c", script, &s.addr, version])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
