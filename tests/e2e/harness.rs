//! A real `cordon serve` process for end-to-end tests: data directory fixture with a trusted dev
//! key, API keys for each role and signed components, and a minimal HTTP/1.1 client.

use crate::common::temp_dir;
use cordon_test_artifacts as guests;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `cordon serve` on its own data directory.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub data: PathBuf,
}

/// Keys and signed components for one test.
pub struct Fixture {
    pub data: PathBuf,
    pub admin: String,
    pub publisher: String,
    pub invoker: String,
    pub auditor: String,
    pub signed: PathBuf,
}

pub fn cordon() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cordon"));
    for var in [
        "CORDON_LOG",
        "CORDON_SECRET_KEY",
        "CORDON_TRUST",
        "CORDON_DATA",
        "CORDON_LISTEN",
        "CORDON_DATABASE",
        "CORDON_REGISTRY_USERNAME",
        "CORDON_REGISTRY_PASSWORD",
    ] {
        c.env_remove(var);
    }
    c
}

/// The first line a child started with a piped stdout prints (its stdout is taken).
pub fn first_line(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// The unsigned echo guest.
pub fn guest_echo() -> &'static str {
    guests::ECHO
}

/// A new secret store key (`cordon secret new-key`).
pub fn new_secret_key() -> String {
    run(&["secret", "new-key"]).trim().to_owned()
}

/// `cordon secret set NAME` with `value` on stdin.
pub fn set_secret(data: &Path, key: &str, name: &str, value: &str) {
    let mut set = cordon()
        .args(["secret", "set", name, "--data", data.to_str().unwrap()])
        .env("CORDON_SECRET_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all(format!("{value}\n").as_bytes())
        .unwrap();
    assert!(set.wait().unwrap().success());
}

pub fn run(args: &[&str]) -> String {
    let out = cordon().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A data directory with a dev key trusted as "dev", four API keys, and signed components.
pub fn fixture(name: &str) -> Fixture {
    let data = temp_dir(name);
    let key = data.join("dev.pem");
    let out = run(&["keygen", "--out", key.to_str().unwrap()]);
    let key_id = out
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .unwrap()
        .trim()
        .to_owned();
    std::fs::write(
        data.join("trust.toml"),
        format!("[publishers]\ndev = [\"{key_id}\"]\n"),
    )
    .unwrap();
    let signed = data.join("signed");
    std::fs::create_dir_all(&signed).unwrap();
    for (name, path) in [
        ("echo", guests::ECHO),
        ("echo_v2", guests::ECHO_V2),
        ("word_count", guests::WORD_COUNT),
        ("infinite_loop", guests::INFINITE_LOOP),
        ("sleep", guests::SLEEP),
        ("big_data", guests::BIG_DATA),
        ("nap", guests::NAP),
        ("steps", guests::STEPS),
        ("primes", guests::PRIMES),
        ("http_get", guests::HTTP_GET),
        ("xss", guests::XSS),
        ("conformance", guests::CONFORMANCE),
    ] {
        let out = signed.join(format!("{name}.wasm"));
        run(&[
            "sign",
            path,
            "--key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let key_for = |name: &str, role: &str| {
        run(&[
            "keys",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--data",
            data.to_str().unwrap(),
        ])
        .trim()
        .to_owned()
    };
    Fixture {
        admin: key_for("admin", "admin"),
        publisher: key_for("pub", "publisher"),
        invoker: key_for("inv", "invoker"),
        auditor: key_for("aud", "auditor"),
        data,
        signed,
    }
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        Self::start_env(data, extra, &[])
    }

    pub fn start_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_full(data, extra, env, Stdio::null())
    }

    /// Like `start_env`, with the server's log (stderr) going to `stderr`.
    pub fn start_full(data: &Path, extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Server {
        let policies = Path::new(cordon_test_artifacts::ROOT).join("policies");
        let mut child = cordon()
            .envs(env.iter().copied())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--max-invoke-bytes",
                "4096",
            ])
            .args(extra)
            .args(["--data", data.to_str().unwrap()])
            .args(
                (!extra.contains(&"--policies"))
                    .then(|| ["--policies", policies.to_str().unwrap()])
                    .into_iter()
                    .flatten(),
            )
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let line = first_line(&mut child);
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Server {
            child,
            addr,
            data: data.to_owned(),
        }
    }

    /// One HTTP/1.1 request; returns (status, headers lower-cased, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        self.request_with(method, path, key, &[], body)
    }

    /// [`Server::request`] with more request headers.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let mut auth = key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        for (name, value) in headers {
            auth.push_str(&format!("{name}: {value}\r\n"));
        }
        let kind = if body.starts_with(b"\0asm") {
            "application/wasm"
        } else {
            "application/json"
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head");
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }

    /// Sends `bytes` as they are and reads until the server closes; returns (status, headers
    /// lower-cased, body).
    pub fn raw(&self, bytes: &[u8]) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        // The server may answer and close before it has read everything.
        let _ = s.write_all(bytes);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }

    pub fn json(&self, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> (u16, Value) {
        let (status, head, body) = self.request(method, path, key, body);
        assert!(head.contains("content-type: application/json"), "{head}");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    pub fn publish(&self, key: &str, component: &Path) -> (u16, Value) {
        self.json(
            "POST",
            "/v1/tools",
            Some(key),
            &std::fs::read(component).unwrap(),
        )
    }

    /// How many links of `kind` the audit log holds (`execution`, `tool.publish`, ...).
    pub fn count(&self, key: &str, kind: &str) -> usize {
        let (mut after, mut n) = (0, 0);
        loop {
            let (status, page) = self.json(
                "GET",
                &format!("/v1/audit/events?kind={kind}&after={after}&limit=1000"),
                Some(key),
                b"",
            );
            assert_eq!(status, 200, "{page}");
            let events = page["events"].as_array().unwrap();
            if events.is_empty() {
                return n;
            }
            n += events.len();
            after = events.last().unwrap()["seq"].as_i64().unwrap();
        }
    }

    pub fn kill9(mut self) -> PathBuf {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        self.data.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test virtual environment (`target/mcp-venv`, made by the test command), created here if
/// missing, with `pin` installed unless `ready` already holds. Returns the venv directory.
pub fn venv_with(pin: &str, ready: impl Fn(&Path) -> bool) -> PathBuf {
    let venv = Path::new(guests::ROOT).join("target/mcp-venv");
    if !ready(&venv) {
        if !venv.join("bin/pip").exists() {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 is needed for the tests that use Python clients");
            assert!(made.success(), "cannot create {}", venv.display());
        }
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", pin])
            .status()
            .unwrap();
        assert!(installed.success(), "cannot install {pin}");
    }
    assert!(ready(&venv), "{pin} is installed but does not work");
    venv
}
