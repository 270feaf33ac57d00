//! The server as a real process over loopback: publish, invoke, the execution log and its
//! verification, roles, quarantine, versions, request limits, and kill -9 followed by restart.

use crate::harness::{Server, cordon, fixture};
use cordon_test_artifacts as guests;
use serde_json::{Value, json};

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
    // A tool that is not there is named as asked, with or without a version.
    let (status, missing) = s.json("POST", "/v1/tools/nope/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["message"], "no tool nope");
    let (_, missing) = s.json(
        "POST",
        "/v1/tools/nope/invoke?version=1.0.0",
        Some(&f.invoker),
        b"{}",
    );
    assert_eq!(
        missing["error"]["message"], "no tool nope 1.0.0",
        "{missing}"
    );

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
    assert_eq!(s.count(&f.auditor, "execution"), 1);
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
    assert_eq!(s.count(&f.auditor, "execution"), 6);
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
    assert_eq!(s.count(&f.auditor, "execution"), 5);
    // The tool came back from the registry after the restart.
    assert_eq!(
        s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
            .0,
        200
    );

    // Someone edits a record directly in the database.
    let (_, third) = s.json(
        "GET",
        &format!("/v1/executions/{}", ids[2]),
        Some(&f.auditor),
        b"",
    );
    let seq = third["seq"].as_i64().unwrap();
    let db = rusqlite::Connection::open(data.join("cordon.db")).unwrap();
    let changed = db
        .execute(
            // The outcome column (7 = trap): round 1 hashed only a JSON body, and an edited
            // column went unnoticed.
            "UPDATE executions SET outcome = 7 WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(report["intact"], false);
    let problem = report["problems"][0].as_str().unwrap();
    assert_eq!(
        problem,
        format!(
            "record {seq} ({}): field outcome was edited (contents do not match its hash)",
            ids[2]
        )
    );
    // The verification's finding is the default `chain_broken` rule's: one critical alert
    // naming the problem, raised within a second or so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let alert = loop {
        let (status, alerts) = s.json("GET", "/v1/alerts", Some(&f.auditor), b"");
        assert_eq!(status, 200, "{alerts}");
        if let Some(a) = alerts["alerts"].as_array().unwrap().first() {
            break a.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no alert");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        (alert["rule"].as_str(), alert["severity"].as_str()),
        (Some("chain_broken"), Some("critical")),
        "{alert}"
    );
    assert_eq!(alert["details"]["executions"][0], problem, "{alert}");
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
fn the_bearer_scheme_is_case_insensitive_and_two_credentials_are_refused() {
    let f = fixture("srv-bearer");
    let s = Server::start(&f.data);
    let mcp_list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
    let accept = ("Accept", "application/json, text/event-stream");
    // RFC 9110 section 11.1: the scheme is case-insensitive, over REST and MCP alike.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let credential = format!("{scheme} {}", f.admin);
        let (status, _, _) = s.request_with(
            "GET",
            "/v1/keys",
            None,
            &[("Authorization", &credential)],
            b"",
        );
        assert_eq!(status, 200, "{scheme}");
        let (status, _, body) = s.request_with(
            "POST",
            "/mcp",
            None,
            &[("Authorization", &credential), accept],
            mcp_list,
        );
        assert_eq!(status, 200, "{scheme}: {}", String::from_utf8_lossy(&body));
    }
    // Two credentials: refused, served with neither (the first is an admin's, the second an
    // invoker's; the same one twice, or a list in one header, likewise).
    let invoker = format!("Bearer {}", f.invoker);
    let admin_twice = format!("Bearer {}", f.admin);
    let listed = format!("Bearer {}, Bearer {}", f.admin, f.invoker);
    for (key, extra) in [
        (Some(f.admin.as_str()), invoker.as_str()),
        (Some(f.admin.as_str()), admin_twice.as_str()),
        (None, listed.as_str()),
    ] {
        for (method, path, body) in [("GET", "/v1/keys", &b""[..]), ("POST", "/mcp", mcp_list)] {
            let (status, _, answer) =
                s.request_with(method, path, key, &[("Authorization", extra), accept], body);
            let answer: Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(status, 400, "{method} {path} {extra}: {answer}");
            assert_eq!(answer["error"]["code"], "ambiguous_credentials");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("exactly one"),
                "{answer}"
            );
        }
    }
    // Another scheme is still not a credential.
    let (status, _, _) = s.request_with(
        "GET",
        "/v1/keys",
        None,
        &[("Authorization", &format!("Basic {}", f.admin))],
        b"",
    );
    assert_eq!(status, 401);
}
