//! Synchronous calls in flight when their node is killed (`kill -9`): a call that can act outside
//! its sandbox (here: network access in its policy) left a durable trace before it ran, and is
//! recorded `interrupted` at the node's next start, over REST and MCP alike. A call that can
//! change nothing outside its sandbox leaves no record (docs/audit.md says so).

use crate::harness::{Server, fixture};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn records(s: &Server, key: &str, tool: &str) -> Vec<Value> {
    let (status, page) = s.json(
        "GET",
        &format!("/v1/executions?tool={tool}&limit=100"),
        Some(key),
        b"",
    );
    assert_eq!(status, 200, "{page}");
    page["executions"].as_array().unwrap().clone()
}

/// POSTs and waits for the connection to end; the kill cuts it off with no answer.
fn post_until_cut(addr: &str, path: &str, key: &str, headers: &[(&str, &str)], body: &str) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer);
}

#[test]
fn calls_that_can_act_outside_are_recorded_interrupted_after_a_kill() {
    let f = fixture("crash-sync");
    let policies = f.data.join("crash-policies");
    std::fs::create_dir_all(&policies).unwrap();
    // nap may reach the network (it never does): a call of it can act outside the sandbox.
    std::fs::write(
        policies.join("nap-0000.toml"),
        "[limits]\ntimeout_ms = 20_000\n\n[network]\nallow = [\"https://example.com\"]\n",
    )
    .unwrap();
    let args = ["--policies", policies.to_str().unwrap()];
    let s = Server::start_with(&f.data, &args);
    for tool in ["nap", "steps"] {
        let (status, body) = s.publish(&f.admin, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    // Three synchronous calls that will not end before the kill: nap over REST and over MCP,
    // and steps (no network, no writable mount) over REST.
    let invoker = f.invoker.clone();
    let mut calls = Vec::new();
    for (path, body, headers) in [
        ("/v1/tools/nap-0000/invoke", json!({"ms": 10_000}), vec![]),
        (
            "/mcp",
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                   "params": {"name": "nap-0000", "arguments": {"ms": 10_000}}}),
            vec![
                ("Accept", "application/json, text/event-stream"),
                ("MCP-Protocol-Version", "2025-11-25"),
            ],
        ),
        (
            "/v1/tools/steps/invoke",
            json!({"steps": 100, "step_ms": 100}),
            vec![],
        ),
    ] {
        let (addr, key) = (s.addr.clone(), invoker.clone());
        calls.push(std::thread::spawn(move || {
            post_until_cut(&addr, path, &key, &headers, &body.to_string())
        }));
    }
    // All three running on the node.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = s.json("GET", "/v1/status", Some(&f.admin), b"");
        if status["running"] == 3 {
            break;
        }
        assert!(Instant::now() < until, "not all running: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Each stored its trace right after it was counted running (one write each).
    std::thread::sleep(Duration::from_millis(1500));
    let data = s.kill9();
    for call in calls {
        let _ = call.join();
    }

    // At the next start, both nap calls are recorded interrupted; the steps call is not.
    let s = Server::start_with(&data, &args);
    let naps = records(&s, &f.auditor, "nap-0000");
    let mut transports: Vec<&str> = naps
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    transports.sort_unstable();
    assert_eq!(transports, ["http", "mcp"], "{naps:?}");
    for r in &naps {
        assert_eq!(r["outcome"], "interrupted", "{r}");
        assert_eq!(
            r["error"],
            "interrupted: the node running the call stopped before it ended"
        );
        assert_eq!(r["caller_name"], "inv", "{r}");
    }
    assert_eq!(records(&s, &f.auditor, "steps"), Vec::<Value>::new());
    let (_, verify) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(verify["intact"], true, "{verify}");
    // Its trace is gone once recorded: nothing is left running.
    let (_, status) = s.json("GET", "/v1/status", Some(&f.admin), b"");
    assert_eq!(status["running"], 0, "{status}");
    // A call that ends normally leaves its record and no task behind.
    let (status, answer) = s.json(
        "POST",
        "/v1/tools/nap-0000/invoke",
        Some(&f.invoker),
        br#"{"ms": 10}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(records(&s, &f.auditor, "nap-0000").len(), 3);
}
