//! The server as a real process over loopback: publish, invoke, the execution log and its
//! verification, roles, quarantine, versions, request limits, and kill -9 followed by restart.

use crate::common::temp_dir;
use cordon_test_artifacts as guests;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `cordon serve` on its own data directory.
struct Server {
    child: Child,
    addr: String,
    data: PathBuf,
}

/// Keys and signed components for one test.
struct Fixture {
    data: PathBuf,
    admin: String,
    publisher: String,
    invoker: String,
    auditor: String,
    signed: PathBuf,
}

fn cordon() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cordon"));
    for var in [
        "CORDON_LOG",
        "CORDON_SECRET_KEY",
        "CORDON_TRUST",
        "CORDON_DATA",
        "CORDON_LISTEN",
    ] {
        c.env_remove(var);
    }
    c
}

fn run(args: &[&str]) -> String {
    let out = cordon().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A data directory with a dev key trusted as "dev", four API keys, and signed components.
fn fixture(name: &str) -> Fixture {
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
    fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    fn start_with(data: &Path, extra: &[&str]) -> Server {
        Self::start_env(data, extra, &[])
    }

    fn start_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
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
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
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
    fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let auth = key
            .map(|k| format!("Authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
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

    fn json(&self, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> (u16, Value) {
        let (status, head, body) = self.request(method, path, key, body);
        assert!(head.contains("content-type: application/json"), "{head}");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn publish(&self, key: &str, component: &Path) -> (u16, Value) {
        self.json(
            "POST",
            "/v1/tools",
            Some(key),
            &std::fs::read(component).unwrap(),
        )
    }

    fn kill9(mut self) -> PathBuf {
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

#[test]
fn publish_invoke_and_the_execution_record_round_trip() {
    let f = fixture("srv-round-trip");
    let s = Server::start(&f.data);
    let (status, tool) = s.publish(&f.publisher, &f.signed.join("word_count.wasm"));
    assert_eq!(status, 201, "{tool}");
    assert_eq!(tool["name"], "word-count");
    assert_eq!(tool["publisher"], "dev");
    assert_eq!(tool["input_schema"]["required"], json!(["text"]));
    let digest = tool["digest"].as_str().unwrap().to_owned();

    let (status, result) = s.json(
        "POST",
        "/v1/tools/word-count/invoke",
        Some(&f.invoker),
        br#"{"text":"one two three"}"#,
    );
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["outcome"], "ok");
    assert_eq!(result["output"]["words"], 3);
    let id = result["execution_id"].as_str().unwrap();

    let (status, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["tool"], "word-count");
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["digest"], digest.as_str());
    assert_eq!(record["publisher"], "dev");
    assert!(record["signer"].as_str().unwrap().starts_with("ed25519:"));
    assert_eq!(record["transport"], "http");
    assert_eq!(record["input_bytes"], 24);
    assert_eq!(
        record["input"],
        Value::Null,
        "raw input is not stored by default"
    );
    assert!(record["usage"]["fuel_consumed"].as_u64().unwrap() > 0);
    assert_eq!(record["hash"].as_str().unwrap().len(), 64);

    let (_, listed) = s.json("GET", "/v1/tools", Some(&f.invoker), b"");
    assert_eq!(listed["tools"][0]["name"], "word-count");
    let (status, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(status, 200);
    assert_eq!(report["intact"], true);
    assert_eq!(report["records"], 1);
}

#[test]
fn every_role_gets_exactly_its_permissions() {
    let f = fixture("srv-roles");
    let s = Server::start(&f.data);
    let echo = f.signed.join("echo.wasm");
    // No key, an unknown key: 401 with a WWW-Authenticate challenge.
    let (status, head, body) = s.request("GET", "/v1/tools", None, b"");
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(body["error"]["request_id"].as_str().unwrap().len(), 16);
    assert_eq!(
        s.json("GET", "/v1/tools", Some("cordon_000000000000_nope"), b"")
            .0,
        401
    );

    assert_eq!(s.publish(&f.invoker, &echo).0, 403);
    assert_eq!(s.publish(&f.auditor, &echo).0, 403);
    assert_eq!(s.publish(&f.publisher, &echo).0, 201);
    let invoke = |key: &str| s.json("POST", "/v1/tools/echo/invoke", Some(key), b"{}").0;
    assert_eq!(invoke(&f.publisher), 403);
    assert_eq!(invoke(&f.auditor), 403);
    assert_eq!(invoke(&f.invoker), 200);
    assert_eq!(invoke(&f.admin), 200);
    assert_eq!(
        s.json("GET", "/v1/executions", Some(&f.invoker), b"").0,
        403
    );
    assert_eq!(
        s.json("GET", "/v1/executions", Some(&f.publisher), b"").0,
        403
    );
    assert_eq!(
        s.json("GET", "/v1/audit/verify", Some(&f.invoker), b"").0,
        403
    );
    assert_eq!(s.json("GET", "/v1/tools", Some(&f.auditor), b"").0, 403);
    let (status, page) = s.json("GET", "/v1/executions?limit=1", Some(&f.auditor), b"");
    assert_eq!(status, 200);
    assert_eq!(page["executions"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_i64(), "{page}");
    assert_eq!(
        s.json("DELETE", "/v1/tools/echo", Some(&f.invoker), b"").0,
        403
    );
    assert_eq!(
        s.request("DELETE", "/v1/tools/echo", Some(&f.publisher), b"")
            .0,
        204
    );
    assert_eq!(invoke(&f.invoker), 404);
}

#[test]
fn unsigned_and_tampered_uploads_are_refused() {
    let f = fixture("srv-uploads");
    let s = Server::start(&f.data);
    let (status, body) = s.json(
        "POST",
        "/v1/tools",
        Some(&f.admin),
        &cordon_test_artifacts::bytes(guests::ECHO),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("unsigned"))
    );
    let mut tampered = std::fs::read(f.signed.join("echo.wasm")).unwrap();
    tampered[100] ^= 1;
    let (status, body) = s.json("POST", "/v1/tools", Some(&f.admin), &tampered);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("digest_mismatch"))
    );
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let (status, body) = s.publish(&f.admin, &f.signed.join("echo.wasm"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_published"))
    );
}

#[test]
fn quarantine_versions_schema_and_request_limits() {
    let f = fixture("srv-lifecycle");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo_v2.wasm")).0, 201);
    assert_eq!(
        s.publish(&f.admin, &f.signed.join("word_count.wasm")).0,
        201
    );

    // The newest version answers unless one is named.
    let (_, newest) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        br#"{"a":1}"#,
    );
    assert_eq!(newest["output"], json!({"a": 1, "answered_by": "0.2.0"}));
    let (_, old) = s.json(
        "POST",
        "/v1/tools/echo/invoke?version=0.1.0",
        Some(&f.invoker),
        br#"{"a":1}"#,
    );
    assert_eq!(old["output"], json!({"a": 1}));
    assert_eq!(
        s.json(
            "POST",
            "/v1/tools/echo/invoke?version=9.9.9",
            Some(&f.invoker),
            b"{}"
        )
        .0,
        404
    );

    // Quarantine blocks invocation and says why; release restores it.
    let (status, _, _) = s.request(
        "POST",
        "/v1/tools/echo/quarantine",
        Some(&f.publisher),
        br#"{"reason":"CVE-2026-0001"}"#,
    );
    assert_eq!(status, 204);
    let (status, body) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 423);
    assert_eq!(
        body["error"]["message"],
        "echo is quarantined: CVE-2026-0001"
    );
    assert_eq!(
        s.request("POST", "/v1/tools/echo/release", Some(&f.publisher), b"")
            .0,
        204
    );
    assert_eq!(
        s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
            .0,
        200
    );

    // Schema mismatch: refused before running, still recorded.
    let (status, body) = s.json(
        "POST",
        "/v1/tools/word-count/invoke",
        Some(&f.invoker),
        br#"{"txt":1}"#,
    );
    assert_eq!(status, 422);
    assert_eq!(body["outcome"], "invalid_input");
    assert_eq!(body["usage"]["fuel_consumed"], 0);
    assert!(body["error"].as_str().unwrap().contains("schema"), "{body}");
    // Malformed JSON, too deep, too large.
    assert_eq!(
        s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            b"{not json"
        )
        .0,
        422
    );
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let (status, body) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        deep.as_bytes(),
    );
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("deeper than 64"));
    let big = format!("{{\"x\":\"{}\"}}", "y".repeat(10_000));
    let (status, body) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        big.as_bytes(),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    // Every invoke that was accepted is in the log (two versions, the released call, schema,
    // malformed, too deep); refused requests (404, 423, 413) are not executions. The chain holds.
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(report["intact"], true);
    assert_eq!(report["records"], 6);
}

#[test]
fn limit_kills_map_to_their_status() {
    let f = fixture("srv-limits");
    let s = Server::start(&f.data);
    assert_eq!(
        s.publish(&f.admin, &f.signed.join("infinite_loop.wasm")).0,
        201
    );
    let (status, body) = s.json(
        "POST",
        "/v1/tools/infinite-loop/invoke",
        Some(&f.invoker),
        b"{}",
    );
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["outcome"], "fuel_exhausted");
    assert_eq!(body["error"], "fuel exhausted after 1000000000 units");
}

#[test]
fn an_edited_record_is_detected_and_kill_9_loses_nothing() {
    let f = fixture("srv-audit");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            format!("{{\"i\":{i}}}").as_bytes(),
        );
        assert_eq!(status, 200);
        ids.push(body["execution_id"].as_str().unwrap().to_owned());
    }
    // kill -9 right after the answers: every answered execution is on disk.
    let data = s.kill9();
    let s = Server::start(&data);
    for id in &ids {
        assert_eq!(
            s.json(
                "GET",
                &format!("/v1/executions/{id}"),
                Some(&f.auditor),
                b""
            )
            .0,
            200,
            "{id} lost"
        );
    }
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], 5);
    // The tool came back from the registry after the restart.
    assert_eq!(
        s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
            .0,
        200
    );

    // Someone edits a record directly in the database.
    let db = rusqlite::Connection::open(data.join("cordon.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE executions SET body = replace(body, '\"outcome\":\"ok\"', '\"outcome\":\"trap\"') WHERE seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(report["intact"], false);
    let problem = report["problems"][0].as_str().unwrap();
    assert!(
        problem.starts_with(&format!("record 3 ({})", ids[2])),
        "{problem}"
    );
    assert!(problem.contains("edited"), "{problem}");
}

#[test]
fn the_cli_clients_take_the_key_from_the_environment() {
    let f = fixture("srv-cli");
    let s = Server::start(&f.data);
    let url = format!("http://{}", s.addr);
    let client = |key: &str, args: &[&str]| {
        let out = cordon()
            .args(args)
            .args(["--server", &url])
            .env("CORDON_API_KEY", key)
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code(), json)
    };
    let echo = f.signed.join("echo.wasm");
    let (code, tool) = client(&f.publisher, &["publish", echo.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{tool}");
    assert_eq!(tool["name"], "echo");
    let (code, result) = client(
        &f.invoker,
        &["invoke", "echo", "--input", r#"{"via":"cli"}"#],
    );
    assert_eq!(code, Some(0));
    assert_eq!(result["output"], json!({"via": "cli"}));
    let (code, listed) = client(&f.invoker, &["tools"]);
    assert_eq!(
        (code, listed["tools"][0]["name"].as_str()),
        (Some(0), Some("echo"))
    );
    let (code, page) = client(&f.auditor, &["executions", "--tool", "echo"]);
    assert_eq!(code, Some(0));
    assert_eq!(page["executions"][0]["id"], result["execution_id"]);
    // A key without the permission: the error comes back and the exit code says so.
    let (code, denied) = client(&f.invoker, &["publish", echo.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(denied["error"]["code"], "forbidden");
    // No key at all: a clear local error, exit code 2.
    let out = cordon().args(["tools", "--server", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CORDON_API_KEY"));
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let f = fixture("srv-rate");
    let s = Server::start_with(
        &f.data,
        &["--rate-per-key", "2", "--auth-failures-per-minute", "3"],
    );
    let statuses: Vec<u16> = (0..12)
        .map(|_| s.request("GET", "/v1/tools", Some(&f.invoker), b"").0)
        .collect();
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, head, body) = s.request("GET", "/v1/tools", Some(&f.invoker), b"");
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: "), "{head}");
    assert!(head.contains("ratelimit-limit: 2"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another key is not affected by the first one's budget.
    assert_eq!(
        s.request("GET", "/v1/tools", Some(&f.publisher), b"").0,
        200
    );

    // Brute force: three bad keys are 401, then the address is refused even with a good key.
    let bad: Vec<u16> = (0..4)
        .map(|i| {
            s.request(
                "GET",
                "/v1/tools",
                Some(&format!("cordon_00000000000{i}_guess")),
                b"",
            )
            .0
        })
        .collect();
    assert_eq!(bad, [401, 401, 401, 429]);
    let (status, head, _) = s.request("GET", "/v1/tools", Some(&f.admin), b"");
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: "), "{head}");
}

#[test]
fn saturation_answers_503_quickly_and_health_stays_up() {
    let f = fixture("srv-saturation");
    let s = Server::start_with(&f.data, &["--max-in-flight", "1"]);
    assert_eq!(s.publish(&f.admin, &f.signed.join("sleep.wasm")).0, 201);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    std::thread::scope(|scope| {
        let sleeper =
            scope.spawn(|| s.json("POST", "/v1/tools/sleep/invoke", Some(&f.invoker), b"{}"));
        // Wait until the sleeper holds the only slot.
        let mut saturated = None;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let (status, head, body) =
                s.request("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
            if status == 503 {
                saturated = Some((head, body));
                break;
            }
        }
        let (head, body): (String, Vec<u8>) = saturated.expect("never saturated");
        assert!(head.contains("retry-after: 1"), "{head}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "saturated");
        assert_eq!(s.request("GET", "/healthz", None, b"").0, 200);
        assert_eq!(s.request("GET", "/readyz", None, b"").0, 200);
        let (status, result) = sleeper.join().unwrap();
        assert_eq!((status, result["outcome"].as_str()), (504, Some("timeout")));
    });
    assert_eq!(
        s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
            .0,
        200
    );
}

#[test]
fn metrics_count_invocations_outcomes_and_rejections() {
    let f = fixture("srv-metrics");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    assert_eq!(
        s.publish(&f.admin, &f.signed.join("infinite_loop.wasm")).0,
        201
    );
    for _ in 0..3 {
        assert_eq!(
            s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
                .0,
            200
        );
    }
    assert_eq!(
        s.json(
            "POST",
            "/v1/tools/infinite-loop/invoke",
            Some(&f.invoker),
            b"{}"
        )
        .0,
        502
    );
    assert_eq!(s.request("GET", "/v1/tools", None, b"").0, 401);
    let (status, head, body) = s.request("GET", "/metrics", None, b"");
    assert_eq!(status, 200, "{head}");
    let text = String::from_utf8(body).unwrap();
    let line = |prefix: &str, labels: &[&str]| {
        text.lines()
            .find(|l| l.starts_with(prefix) && labels.iter().all(|x| l.contains(x)))
            .unwrap_or_else(|| panic!("no {prefix} {labels:?} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        line(
            "cordon_invocations_total{",
            &["tool=\"echo\"", "outcome=\"ok\""]
        ),
        "3"
    );
    assert_eq!(
        line(
            "cordon_invocations_total{",
            &["tool=\"infinite-loop\"", "outcome=\"fuel_exhausted\""]
        ),
        "1"
    );
    assert_eq!(
        line(
            "cordon_rejected_requests_total{",
            &["reason=\"unauthenticated\""]
        ),
        "1"
    );
    assert_eq!(
        line(
            "cordon_invocation_duration_seconds_count{",
            &["tool=\"echo\""]
        ),
        "3"
    );
    let fuel: u64 = line("cordon_fuel_consumed_total{", &["tool=\"infinite-loop\""])
        .parse()
        .unwrap();
    assert_eq!(fuel, 1_000_000_000);
}

#[test]
fn config_file_then_environment_then_flags() {
    let f = fixture("srv-config");
    let config = f.data.join("cordon.toml");
    std::fs::write(&config, "store_inputs = true\nmax_in_flight = 7\n").unwrap();
    let stored_input = |s: &Server| {
        let (_, body) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            br#"{"k":1}"#,
        );
        let id = body["execution_id"].as_str().unwrap().to_owned();
        s.json(
            "GET",
            &format!("/v1/executions/{id}"),
            Some(&f.auditor),
            b"",
        )
        .1["input"]
            .clone()
    };
    // The file alone: inputs are stored.
    let s = Server::start_with(&f.data, &["--config", config.to_str().unwrap()]);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    assert_eq!(stored_input(&s), json!(r#"{"k":1}"#));
    drop(s);
    // The environment beats the file.
    let s = Server::start_env(
        &f.data,
        &["--config", config.to_str().unwrap()],
        &[("CORDON_STORE_INPUTS", "false")],
    );
    assert_eq!(stored_input(&s), Value::Null);
    drop(s);
    // A flag beats the environment.
    let s = Server::start_env(
        &f.data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--store-inputs",
            "true",
        ],
        &[("CORDON_STORE_INPUTS", "false")],
    );
    assert_eq!(stored_input(&s), json!(r#"{"k":1}"#));
    // An unknown key in the file is an error that names it.
    std::fs::write(&config, "store_input = true\n").unwrap();
    let out = cordon()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data",
            f.data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `store_input`"));
}

#[test]
fn policies_reload_on_sighup_without_a_restart() {
    let f = fixture("srv-reload");
    let policies = f.data.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let policy = policies.join("infinite-loop.toml");
    std::fs::write(&policy, "[limits]\nfuel = 2_000_000\n").unwrap();
    let s = Server::start_with(&f.data, &["--policies", policies.to_str().unwrap()]);
    assert_eq!(
        s.publish(&f.admin, &f.signed.join("infinite_loop.wasm")).0,
        201
    );
    let fuel_error = || {
        s.json(
            "POST",
            "/v1/tools/infinite-loop/invoke",
            Some(&f.invoker),
            b"{}",
        )
        .1["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(fuel_error(), "fuel exhausted after 2000000 units");

    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &s.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    std::fs::write(&policy, "[limits]\nfuel = 3_000_000\n").unwrap();
    hup();
    let mut seen = String::new();
    for _ in 0..50 {
        seen = fuel_error();
        if seen.contains("3000000") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(seen, "fuel exhausted after 3000000 units");

    // A broken policy is refused and the previous one stays in force.
    std::fs::write(&policy, "[limits]\nfuel = \"lots\"\n").unwrap();
    hup();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(fuel_error(), "fuel exhausted after 3000000 units");
}

#[test]
fn sigterm_finishes_in_flight_calls_and_exits_cleanly() {
    let f = fixture("srv-shutdown");
    let mut s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("sleep.wasm")).0, 201);
    std::thread::scope(|scope| {
        let call =
            scope.spawn(|| s.json("POST", "/v1/tools/sleep/invoke", Some(&f.invoker), b"{}"));
        std::thread::sleep(std::time::Duration::from_millis(500));
        let ok = Command::new("kill")
            .args(["-TERM", &s.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        // The call in flight still gets its answer (cut at its deadline), and is recorded.
        let (status, body) = call.join().unwrap();
        assert_eq!((status, body["outcome"].as_str()), (504, Some("timeout")));
    });
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let s = Server::start(&f.data);
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(
        (report["intact"].as_bool(), report["records"].as_u64()),
        (Some(true), Some(1))
    );
}

#[test]
fn concurrent_invocations_are_all_recorded_in_one_intact_chain() {
    let f = fixture("srv-concurrent");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let mut ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (s, key) = (&s, &f.invoker);
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let body = format!("{{\"w\":{w},\"i\":{i}}}");
                            let (status, r) =
                                s.json("POST", "/v1/tools/echo/invoke", Some(key), body.as_bytes());
                            assert_eq!(status, 200, "{r}");
                            r["execution_id"].as_str().unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80);
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(
        (report["intact"].as_bool(), report["records"].as_u64()),
        (Some(true), Some(80))
    );
}

#[test]
fn a_16_mib_component_publishes_runs_and_survives_a_restart() {
    let f = fixture("srv-big");
    let big = f.signed.join("big_data.wasm");
    assert!(std::fs::metadata(&big).unwrap().len() > 16 << 20);
    let s = Server::start(&f.data);
    let (status, tool) = s.publish(&f.admin, &big);
    assert_eq!(status, 201, "{tool}");
    let (status, r) = s.json(
        "POST",
        "/v1/tools/big-data/invoke",
        Some(&f.invoker),
        br#"{"index":12345678}"#,
    );
    assert_eq!((status, r["output"].as_u64()), (200, Some(7)), "{r}");
    drop(s);
    // After a restart the compiled code comes from the cache in the data directory.
    let cached: Vec<_> = std::fs::read_dir(f.data.join("compiled"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(tool["digest"].as_str().unwrap()))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let s = Server::start(&f.data);
    let (status, r) = s.json(
        "POST",
        "/v1/tools/big-data/invoke",
        Some(&f.invoker),
        br#"{"index":0}"#,
    );
    assert_eq!((status, r["output"].as_u64()), (200, Some(7)), "{r}");
}
