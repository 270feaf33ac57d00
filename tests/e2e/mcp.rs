//! MCP end to end, with the official MCP Python SDK as the client: over streamable HTTP at
//! `/mcp`, and through `cordon mcp --stdio`. The client script (`mcp_client.py`) runs a plan
//! and reports what the SDK saw; the assertions are here.
//!
//! The SDK is installed into a virtual environment under `target/` (the test command does it
//! first; a test run without it creates it here).

use crate::harness::{Fixture, Server, fixture};
use cordon_test_artifacts as guests;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The pinned SDK version the tests run against.
const MCP_SDK: &str = "mcp==2.3.0";

/// The virtual environment's interpreter, with the SDK installed.
pub(crate) fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let ready = |venv: &Path| {
            Command::new(venv.join("bin/python"))
                .args(["-c", "import mcp"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        crate::harness::venv_with(MCP_SDK, ready).join("bin/python")
    })
}

/// Runs the Python client with `plan`; returns its report.
pub(crate) fn client(plan: &Value) -> Value {
    script("mcp_client.py", plan)
}

/// Runs the Python script `name` (in `tests/e2e/`) with `plan` on stdin; returns its report.
pub(crate) fn script(name: &str, plan: &Value) -> Value {
    script_with(python(), name, plan)
}

/// Runs the Python script `tests/e2e/<name>` with `python`, the plan as JSON on its stdin; its
/// report, JSON on its stdout.
pub(crate) fn script_with(python: &Path, name: &str, plan: &Value) -> Value {
    let script = Path::new(guests::ROOT).join("tests/e2e").join(name);
    let mut child = Command::new(python)
        .arg(script)
        .env_remove("CORDON_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the report of {name} is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A server with echo, word-count and infinite-loop published.
fn server(name: &str) -> (Fixture, Server) {
    let f = fixture(name);
    let s = Server::start(&f.data);
    for tool in ["echo", "word_count", "infinite_loop"] {
        let (status, body) = s.publish(&f.publisher, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    (f, s)
}

fn calls() -> Value {
    json!([
        { "name": "echo", "arguments": { "message": "hello", "n": 7 } },
        { "name": "word-count", "arguments": { "text": "one two three" } },
        { "name": "infinite-loop", "arguments": {} },
        { "name": "word-count", "arguments": { "words": 3 } },
        { "name": "no-such-tool", "arguments": {} },
    ])
}

/// The checks both transports must pass.
fn check_report(report: &Value) {
    assert_eq!(report["server_name"], "cordon", "{report}");
    // Listed in name order, with the schemas describe() gave.
    let tools = report["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "infinite-loop", "word-count"]);
    let word_count = &tools[2];
    assert_eq!(word_count["inputSchema"]["type"], "object");
    assert_eq!(word_count["inputSchema"]["required"], json!(["text"]));
    assert_eq!(word_count["outputSchema"]["type"], "object");
    assert!(word_count["outputSchema"]["properties"]["words"].is_object());
    for tool in tools {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }

    let calls = report["calls"].as_array().unwrap();
    let echo = &calls[0];
    assert_eq!(echo["isError"], false, "{echo}");
    assert_eq!(
        echo["structuredContent"],
        json!({ "message": "hello", "n": 7 })
    );
    let text: Value = serde_json::from_str(echo["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(text, echo["structuredContent"]);

    let counted = &calls[1];
    assert_eq!(counted["isError"], false, "{counted}");
    assert_eq!(counted["structuredContent"]["words"], 3);

    let killed = &calls[2];
    assert_eq!(killed["isError"], true, "{killed}");
    let reason = killed["text"][0].as_str().unwrap();
    assert!(
        reason.starts_with("fuel_exhausted: fuel exhausted after"),
        "{reason}"
    );

    let invalid = &calls[3];
    assert_eq!(invalid["isError"], true, "{invalid}");
    assert!(
        invalid["text"][0]
            .as_str()
            .unwrap()
            .starts_with("invalid_input: input does not match the tool's schema"),
        "{invalid}"
    );

    let unknown = &calls[4];
    assert_eq!(unknown["ok"], false, "{unknown}");
    assert_eq!(unknown["error"]["code"], -32602);
}

/// The execution records of `tool` made over MCP, newest first.
fn mcp_records(s: &Server, f: &Fixture, tool: &str) -> Vec<Value> {
    let (status, page) = s.json(
        "GET",
        &format!("/v1/executions?tool={tool}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 200);
    page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["transport"] == "mcp")
        .cloned()
        .collect()
}

/// One raw POST of `body` to `/mcp` with these headers (each ending in CRLF) besides Host,
/// Authorization and Content-Type; returns (status, lower-cased head, body).
pub(crate) fn post_raw(s: &Server, key: &str, headers: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n{headers}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        s.addr,
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), payload.to_owned())
}

/// One raw `tools/list` with extra headers; returns (status, lower-cased head).
fn raw_post(s: &Server, key: &str, extra: &str) -> (u16, String) {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    let headers = format!("{extra}Accept: application/json, text/event-stream\r\n");
    let (status, head, _) = post_raw(s, key, &headers, body);
    (status, head)
}

#[test]
fn the_python_sdk_lists_and_calls_tools_over_http() {
    let (f, s) = server("mcp-http");
    let url = format!("http://{}/mcp", s.addr);
    let report = client(&json!({
        "transport": "http",
        "url": url,
        "api_key": f.invoker,
        "calls": calls(),
        "probe_unauthenticated": true,
    }));
    check_report(&report);
    // The SDK's default: the current revision, without the initialize handshake.
    assert_eq!(report["protocol_version"], "2026-07-28");

    // Without a key: 401 with a challenge, before anything MCP happens.
    let unauth = &report["unauthenticated"];
    assert_eq!(unauth["status"], 401, "{unauth}");
    assert!(
        unauth["www_authenticate"]
            .as_str()
            .unwrap()
            .starts_with("Bearer"),
        "{unauth}"
    );
    assert!(unauth["sdk_error"].is_string(), "{unauth}");

    // Every call that ran is in the execution log like any other, marked as MCP.
    let echo = mcp_records(&s, &f, "echo");
    assert_eq!(echo.len(), 1);
    assert_eq!(echo[0]["outcome"], "ok");
    assert_eq!(
        echo[0]["input_bytes"],
        br#"{"message":"hello","n":7}"#.len()
    );
    let killed = mcp_records(&s, &f, "infinite-loop");
    assert_eq!(killed[0]["outcome"], "fuel_exhausted");
    assert!(killed[0]["usage"]["fuel_consumed"].as_u64().unwrap() >= 1_000_000_000);
    assert_eq!(mcp_records(&s, &f, "word-count").len(), 2);
    let (_, verify) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(verify["intact"], true);
    // Each result carries its signed receipt in `_meta`, and it verifies with the log key.
    let meta = report["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "echo" && c["ok"] == true)
        .map(|c| c["meta"].clone())
        .expect("an echo call");
    assert_eq!(meta["cordon/execution_id"], echo[0]["id"]);
    let receipt = cordon_trust::Receipt::parse(meta["cordon/receipt"].clone()).unwrap();
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.auditor), b"");
    let key = cordon_trust::KeyId::parse(key["key"].as_str().unwrap()).unwrap();
    let batch = receipt.verify(&key).unwrap();
    assert!(batch.first_seq <= receipt.seq && receipt.seq <= batch.size);
    assert_eq!(receipt.record_json().unwrap()["id"], echo[0]["id"]);
    assert_eq!(receipt.record_json().unwrap()["transport"], "mcp");
    assert_eq!(receipt.hash, echo[0]["hash"].as_str().unwrap());

    // The list follows the live registry: a quarantined tool disappears, a new one appears.
    let (status, _, _) = s.request(
        "POST",
        "/v1/tools/word-count/quarantine",
        Some(&f.publisher),
        br#"{"reason":"under review"}"#,
    );
    assert_eq!(status, 204);
    assert_eq!(s.publish(&f.publisher, &f.signed.join("nap.wasm")).0, 201);
    // This time with the older initialize handshake deployed clients still use.
    let report = client(&json!({
        "transport": "http",
        "url": url,
        "api_key": f.invoker,
        "mode": "legacy",
        "calls": [{ "name": "word-count", "arguments": { "text": "a b" } }],
    }));
    assert_eq!(report["protocol_version"], "2025-11-25");
    let names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "infinite-loop", "nap-0000"]);
    let refused = &report["calls"][0];
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused["text"][0]
            .as_str()
            .unwrap()
            .starts_with("quarantined: word-count is quarantined: under review"),
        "{refused}"
    );

    // A known key without the right to invoke sees no tools, and a call is a tool error.
    let report = client(&json!({
        "transport": "http",
        "url": url,
        "api_key": f.auditor,
        "calls": [{ "name": "echo", "arguments": {} }],
    }));
    assert_eq!(report["tools"], json!([]));
    assert_eq!(report["calls"][0]["isError"], true);
    assert!(
        report["calls"][0]["text"][0]
            .as_str()
            .unwrap()
            .starts_with("forbidden:"),
        "{report}"
    );
}

#[test]
fn foreign_origins_hosts_and_oversized_bodies_are_refused() {
    let (f, s) = server("mcp-origin");
    let (status, _) = raw_post(&s, &f.invoker, "");
    assert_eq!(status, 200);
    let own = format!("Origin: http://{}\r\n", s.addr);
    assert_eq!(raw_post(&s, &f.invoker, &own).0, 200);
    let (status, head) = raw_post(&s, &f.invoker, "Origin: https://evil.example\r\n");
    assert_eq!(status, 403, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    // A DNS-rebinding attempt: a foreign name pointing at the server.
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: evil.example:80\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
        f.invoker
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(raw.contains("host_not_allowed"), "{raw}");
    // Request bodies are limited as for invoke (the test server allows 4096 bytes).
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"pad":"{}"}}}}}}"#,
        "x".repeat(8192)
    );
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{big}",
        s.addr,
        f.invoker,
        big.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"too_large\""), "{raw}");
    // None of these ran anything.
    let (_, page) = s.json("GET", "/v1/executions", Some(&f.auditor), b"");
    assert_eq!(page["executions"], json!([]));
}

#[test]
fn the_python_sdk_works_through_the_stdio_bridge() {
    let (f, s) = server("mcp-stdio");
    let report = client(&json!({
        "transport": "stdio",
        "command": [
            env!("CARGO_BIN_EXE_cordon"), "mcp", "--stdio",
            "--server", format!("http://{}", s.addr),
        ],
        "api_key": f.invoker,
        "calls": calls(),
    }));
    check_report(&report);
    // The bridge forwards; the server runs and records, under the bridge user's key.
    let echo = mcp_records(&s, &f, "echo");
    assert_eq!(echo.len(), 1);
    let key_id = f.invoker.split('_').nth(1).unwrap();
    assert_eq!(echo[0]["caller"], key_id);
    assert_eq!(
        mcp_records(&s, &f, "infinite-loop")[0]["outcome"],
        "fuel_exhausted"
    );
}

#[test]
fn the_stdio_bridge_needs_a_key_and_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["mcp", "--stdio", "--server", "http://127.0.0.1:9"])
        .env_remove("CORDON_API_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CORDON_API_KEY"));
    assert!(out.stdout.is_empty(), "stdout is for the protocol only");
}

#[test]
fn the_stdio_bridge_says_plainly_when_the_key_is_refused() {
    let f = fixture("mcp-badkey");
    let s = Server::start(&f.data);
    let out = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["mcp", "--stdio", "--server", &format!("http://{}", s.addr)])
        .env("CORDON_API_KEY", "cordon_000000000000_wrong")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not accept the API key in CORDON_API_KEY"),
        "{err}"
    );
    assert!(
        !err.contains("::") && !err.contains('<'),
        "internal type names: {err}"
    );
    assert!(out.stdout.is_empty(), "stdout is for the protocol only");
}

/// One raw `tools/call` with this `Accept`; returns (status, JSON body).
pub(crate) fn raw_call(
    s: &Server,
    key: &str,
    accept: &str,
    name: &str,
    arguments: &str,
) -> (u16, Value) {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{{"name":"{name}","arguments":{arguments}}}}}"#
    );
    let (status, head, payload) = post_raw(s, key, &format!("Accept: {accept}\r\n"), &body);
    assert!(head.contains("content-type: application/json"), "{head}");
    (
        status,
        serde_json::from_str(&payload).unwrap_or(json!(payload)),
    )
}

/// The plain stateless `tools/call` is answered by cordon's direct path; with a quality weight
/// in `Accept` the same call goes through rmcp. Both must answer alike and record alike.
#[test]
fn a_plain_tools_call_answers_and_records_as_rmcp_does() {
    let (f, s) = server("mcp-direct");
    let direct = "application/json, text/event-stream";
    let through_rmcp = "application/json;q=1, text/event-stream;q=0.9";
    let mut answers = Vec::new();
    for accept in [direct, through_rmcp] {
        let (status, ok) = raw_call(&s, &f.invoker, accept, "echo", r#"{"n":7, "message":"hi"}"#);
        assert_eq!(status, 200, "{ok}");
        assert_eq!(ok["jsonrpc"], "2.0");
        assert_eq!(ok["id"], "call-1");
        let result = &ok["result"];
        assert_eq!(result["structuredContent"]["message"], "hi", "{ok}");
        assert_ne!(result["isError"], true, "{ok}");
        assert_eq!(result["_meta"]["cordon/outcome"], "ok");
        assert!(result["_meta"]["cordon/receipt"]["seq"].as_i64().unwrap() > 0);
        // An unknown tool is invalid params; a key that may not invoke gets a tool error.
        let (status, unknown) = raw_call(&s, &f.invoker, accept, "no-such-tool", "{}");
        assert_eq!(status, 200);
        assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
        assert_eq!(unknown["id"], "call-1");
        let (status, refused) = raw_call(&s, &f.auditor, accept, "echo", "{}");
        assert_eq!(status, 200);
        assert_eq!(refused["result"]["isError"], true, "{refused}");
        let text = refused["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("forbidden: "), "{text}");
        answers.push((ok, unknown, refused));
    }
    // The same members, the same error, the same refusal, whichever path answered.
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let ((ok_a, unknown_a, refused_a), (ok_b, unknown_b, refused_b)) = (&answers[0], &answers[1]);
    assert_eq!(keys(&ok_a["result"]), keys(&ok_b["result"]));
    assert_eq!(
        keys(&ok_a["result"]["_meta"]),
        keys(&ok_b["result"]["_meta"])
    );
    assert_eq!(ok_a["result"]["content"], ok_b["result"]["content"]);
    assert_eq!(unknown_a, unknown_b);
    assert_eq!(refused_a, refused_b);
    // Both calls recorded alike: transport mcp, the arguments hashed as the same bytes.
    let records = mcp_records(&s, &f, "echo");
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["input_sha256"], records[1]["input_sha256"]);
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(records[1]["outcome"], "ok");
}
