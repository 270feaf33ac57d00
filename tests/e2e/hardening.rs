//! Findings of round 1's attack run and new-user trial, each against a real server process:
//! errors hyper answers by itself, Host spellings, duplicate keys, the failed-authentication
//! budget, role checks before bodies, error messages, query limits and `/metrics` access.

use crate::harness::{Server, fixture};
use serde_json::Value;

fn json_of(head: &str, body: &[u8]) -> Value {
    assert!(head.contains("content-type: application/json"), "{head}");
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(body)))
}

#[test]
fn requests_hyper_refuses_get_the_documented_json_error() {
    let f = fixture("hard-wire");
    let s = Server::start(&f.data);
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long_uri = format!(
        "GET /v1/tools?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
            "headers_too_large",
        ),
        (long_uri.into_bytes(), 414, "uri_too_long"),
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "malformed_request"),
        (b"GET /healthz\r\n\r\n".to_vec(), 400, "malformed_request"),
        (
            b"POST /v1/tools/echo/invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
            400,
            "malformed_request",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
    ];
    for (bytes, status, code) in cases {
        let (got, head, body) = s.raw(&bytes);
        assert_eq!(got, status, "{head}");
        let v = json_of(&head, &body);
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 20, "{v}");
        assert_eq!(v["error"]["request_id"].as_str().unwrap().len(), 16);
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    }
    // The MCP transport's own refusals get the same shape, with how to fix them.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let (status, head, body) = s.raw(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: text/plain\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            s.addr,
            f.invoker,
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(status, 415, "{head}");
    let v = json_of(&head, &body);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{v}"
    );
    // The server is still healthy, and a normal request on a fresh connection works.
    assert_eq!(s.request("GET", "/healthz", None, b"").0, 200);
}

#[test]
fn mcp_host_must_be_exactly_an_authority() {
    let f = fixture("hard-host");
    let s = Server::start(&f.data);
    let port = s.addr.rsplit(':').next().unwrap().to_owned();
    let post = |host: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        s.raw(
            format!(
                "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
                 Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
                 MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                f.invoker,
                body.len()
            )
            .as_bytes(),
        )
    };
    for bad in [
        "[::1]x".to_owned(),
        "[::1].evil.example".to_owned(),
        format!("[::1]:{port}.evil.example"),
        format!("127.0.0.1:{port}.evil.example"),
        "localhost.evil.example".to_owned(),
    ] {
        let (status, head, body) = post(&bad);
        assert_eq!(status, 403, "{bad}: {head}");
        assert_eq!(
            json_of(&head, &body)["error"]["code"],
            "host_not_allowed",
            "{bad}"
        );
    }
    for good in [
        format!("[::1]:{port}"),
        format!("localhost:{port}"),
        s.addr.clone(),
    ] {
        let (status, head, _) = post(&good);
        assert_eq!(status, 200, "{good}: {head}");
    }
}

#[test]
fn duplicate_keys_are_refused_before_the_tool_runs() {
    let f = fixture("hard-dup");
    let s = Server::start(&f.data);
    let (status, v) = s.publish(&f.publisher, &f.signed.join("word_count.wasm"));
    assert_eq!(status, 201, "{v}");
    let (status, v) = s.json(
        "POST",
        "/v1/tools/word-count/invoke",
        Some(&f.invoker),
        br#"{"text":5,"text":"ok"}"#,
    );
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["outcome"], "invalid_input");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("duplicate key \"text\""), "{error}");
    // Nothing ran: no fuel was spent.
    assert_eq!(v["usage"]["fuel_consumed"], 0, "{v}");
}

/// Polls `status` every 300 ms until it returns `want` or 5 s pass; returns how long it took.
/// (Slowly: each refused try spends one of the address's ten failed authentications a minute.)
fn until_status(want: u16, status: impl Fn() -> u16) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(5) {
        if status() == want {
            return Some(started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    None
}

/// Keys are held in memory by the server, and reloaded: a key made or revoked by another
/// process writing the same store (as another node would) is in force within about a second.
#[test]
fn keys_made_or_revoked_elsewhere_are_in_force_within_a_second() {
    let f = fixture("keys-elsewhere");
    let s = Server::start(&f.data);
    let data = f.data.to_str().unwrap();
    let key = crate::harness::run(&[
        "keys", "create", "--name", "late", "--role", "invoker", "--data", data,
    ])
    .trim()
    .to_owned();
    let status = || s.json("GET", "/v1/tools", Some(&key), b"").0;
    let took = until_status(200, status).expect("a key made elsewhere is accepted");
    eprintln!("accepted after {took:?}");
    crate::harness::run(&["keys", "revoke", "late", "--data", data]);
    let took = until_status(401, status).expect("a key revoked elsewhere is refused");
    eprintln!("refused after {took:?}");
    // And stays refused.
    for _ in 0..5 {
        assert_eq!(status(), 401);
    }
    assert_eq!(s.json("GET", "/v1/tools", Some(&f.invoker), b"").0, 200);
}

#[test]
fn a_revoked_key_retried_does_not_lock_out_a_valid_key_on_the_same_address() {
    let f = fixture("hard-budget");
    let revoked = crate::harness::run(&[
        "keys",
        "create",
        "--name",
        "old",
        "--role",
        "invoker",
        "--data",
        f.data.to_str().unwrap(),
    ])
    .trim()
    .to_owned();
    crate::harness::run(&["keys", "revoke", "old", "--data", f.data.to_str().unwrap()]);
    let s = Server::start_with(&f.data, &["--auth-failures-per-minute", "3"]);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(s.json("GET", "/v1/tools", Some(&revoked), b"").0);
    }
    // The revoked key spends its own budget, then is refused outright.
    assert_eq!(&statuses[..3], [401, 401, 401], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    // The valid key on the same address still works.
    assert_eq!(s.json("GET", "/v1/tools", Some(&f.invoker), b"").0, 200);
    // Key ids are not secret: wrong secrets for a valid key's id spend that id's budget, but
    // never lock out the holder of the right secret.
    let id = f.invoker.split('_').nth(1).unwrap();
    let wrong = format!("cordon_{id}_not-the-secret");
    let mut tried = Vec::new();
    for _ in 0..6 {
        tried.push(s.json("GET", "/v1/tools", Some(&wrong), b"").0);
    }
    assert_eq!(tried[5], 429, "{tried:?}");
    assert_eq!(s.json("GET", "/v1/tools", Some(&f.invoker), b"").0, 200);
    // Guessing unknown key ids spends the address's budget: its guesses are then held back
    // (still 401 with the reason), while the valid key from the same address still passes.
    let mut guessed = Vec::new();
    for i in 0..5 {
        let fake = format!("cordon_{i:012x}_guess");
        guessed.push(s.json("GET", "/v1/tools", Some(&fake), b"").0);
    }
    assert_eq!(guessed, [401; 5], "{guessed:?}");
    assert_eq!(s.json("GET", "/v1/tools", Some(&f.invoker), b"").0, 200);
}

#[test]
fn the_role_is_checked_before_the_body_is_read_and_errors_say_how_to_fix_them() {
    let f = fixture("hard-errors");
    let s = Server::start(&f.data);
    let (status, v) = s.publish(&f.publisher, &f.signed.join("echo.wasm"));
    assert_eq!(status, 201, "{v}");
    // An invoker may not quarantine: 403, whatever the body.
    for body in [&b"{not json"[..], b"", b"{}"] {
        let (status, v) = s.json("POST", "/v1/tools/echo/quarantine", Some(&f.invoker), body);
        assert_eq!(status, 403, "{v}");
    }
    // The publisher gets told what the body must be.
    let (status, v) = s.json("POST", "/v1/tools/echo/quarantine", Some(&f.publisher), b"");
    assert_eq!(status, 400, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("empty") && m.contains("\"reason\""), "{m}");
    let (status, v) = s.json(
        "POST",
        "/v1/tools/echo/quarantine",
        Some(&f.publisher),
        b"{}",
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `reason`"),
        "{v}"
    );
    // Query strings: unknown filters and values out of range are named.
    let (status, v) = s.json("GET", "/v1/executions?transport=mcp", Some(&f.auditor), b"");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `transport`"),
        "{v}"
    );
    let (status, v) = s.json(
        "GET",
        "/v1/executions?limit=2147483648",
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("between 1 and 1000"),
        "{v}"
    );
    let (status, v) = s.json("GET", "/v1/executions?outcome=bogus", Some(&f.auditor), b"");
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("timeout"),
        "{v}"
    );
    assert_eq!(
        s.json("GET", "/v1/executions?limit=1000", Some(&f.auditor), b"")
            .0,
        200
    );
}

#[test]
fn metrics_access_is_a_setting_with_a_closed_default() {
    let f = fixture("hard-metrics");
    let s = Server::start_with(&f.data, &["--metrics-access", "open"]);
    let (status, head, body) = s.request("GET", "/metrics", None, b"");
    assert_eq!(status, 200, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("cordon_executions_in_flight"));
}

#[test]
fn the_command_line_reads_well_and_ends_quietly_on_a_closed_pipe() {
    use std::process::Stdio;
    let f = fixture("hard-cli");
    let s = Server::start(&f.data);
    let url = format!("http://{}", s.addr);
    let cli = |key: &str, args: &[&str]| {
        crate::harness::cordon()
            .args(args)
            .args(["--server", &url])
            .env("CORDON_API_KEY", key)
            .output()
            .unwrap()
    };
    let out = cli(
        &f.publisher,
        &["publish", f.signed.join("echo.wasm").to_str().unwrap()],
    );
    assert!(out.status.success());
    // No policy file for this tool on the server: publish says what that means.
    let out = cli(
        &f.publisher,
        &["publish", f.signed.join("nap.wasm").to_str().unwrap()],
    );
    assert!(out.status.success());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(note.contains("runs under the closed default"), "{note}");
    assert!(
        cli(&f.invoker, &["invoke", "echo", "--input", "{}"])
            .status
            .success()
    );

    // Quarantine and release from the command line.
    let out = cli(
        &f.publisher,
        &["quarantine", "echo", "--reason", "under review"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&f.invoker, &["invoke", "echo", "--input", "{}"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("under review"));
    assert!(cli(&f.publisher, &["release", "echo"]).status.success());
    assert!(
        cli(&f.invoker, &["invoke", "echo", "--input", "{}"])
            .status
            .success()
    );

    // Executions: every API filter, a typo refused, JSON for scripts (stdout is not a terminal).
    let out = cli(&f.auditor, &["executions", "--outcome", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout"));
    let out = cli(
        &f.auditor,
        &[
            "executions",
            "--tool",
            "echo",
            "--outcome",
            "ok",
            "--since",
            "1h",
            "--limit",
            "1",
        ],
    );
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["executions"].as_array().unwrap().len(), 1, "{page}");
    let cursor = page["next_cursor"].as_i64().expect("a second page");
    let caller = page["executions"][0]["caller"].as_str().unwrap().to_owned();
    let out = cli(
        &f.auditor,
        &[
            "executions",
            "--caller",
            &caller,
            "--cursor",
            &cursor.to_string(),
            "--until",
            "2999-01-01T00:00:00Z",
        ],
    );
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!page["executions"].as_array().unwrap().is_empty(), "{page}");
    let out = cli(&f.auditor, &["executions", "--since", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2));

    // Keys: created and last-used times (the server writes last use within a second).
    let invoker = || {
        let out = crate::harness::cordon()
            .args(["keys", "list", "--json", "--data", f.data.to_str().unwrap()])
            .output()
            .unwrap();
        let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "inv")
            .unwrap()
            .clone()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut inv = invoker();
    while inv["last_used_at_ms"].is_null() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        inv = invoker();
    }
    assert!(inv["created_at_ms"].as_i64().unwrap() > 0, "{inv}");
    assert!(inv["last_used_at_ms"].as_i64().is_some(), "{inv}");
    // The same shape as the API's list, with the key's state.
    assert_eq!(inv["state"], "active", "{inv}");

    // Output cut short by a closed pipe: a quiet end, no panic, no backtrace.
    let mut child = crate::harness::cordon()
        .args(["keys", "list", "--json", "--data", f.data.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_ne!(out.status.code(), Some(101));

    // Log lines to a pipe carry no colour codes.
    let out = crate::harness::cordon()
        .args([
            "run",
            crate::harness::guest_echo(),
            "--allow-unsigned",
            "--input",
            "{}",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-unsigned"), "{err}");
    assert!(!err.contains('\u{1b}'), "ANSI codes in {err:?}");
}

#[test]
fn local_commands_say_what_is_wrong_without_internals() {
    let f = fixture("hard-local");
    // A key name that is taken.
    let out = crate::harness::cordon()
        .args([
            "keys",
            "create",
            "--name",
            "inv",
            "--role",
            "invoker",
            "--data",
            f.data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a key named \"inv\" already exists"), "{err}");
    assert!(
        !err.contains("UNIQUE") && !err.contains("constraint"),
        "{err}"
    );
    // `cordon run` checks the input against the tool's schema, with the server's message.
    let out = crate::harness::cordon()
        .args([
            "run",
            f.signed.join("word_count.wasm").to_str().unwrap(),
            "--trust",
            f.data.join("trust.toml").to_str().unwrap(),
            "--input",
            "[]",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid_input: input does not match the tool's schema at the top level"),
        "{err}"
    );
    assert!(!err.contains("expected struct"), "serde internals: {err}");
}
