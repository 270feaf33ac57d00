//! `cordon receipt verify` given a whole answer: every field the signed record vouches for is
//! checked against it, so an answer edited after the fact, or carrying another call's receipt,
//! is refused naming the field (an invoke answer, an MCP result and the JSON-RPC answer around
//! it, a finished task).

use crate::harness::{Server, cordon, fixture};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `cordon receipt verify FILE --key KEY`: (exit code, stdout and stderr).
pub(crate) fn verify(file: &Path, key: &str) -> (i32, String) {
    let out = cordon()
        .args(["receipt", "verify", file.to_str().unwrap(), "--key", key])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn save(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    file
}

/// `verify` of `value` saved as `name`, which must be refused naming `field`.
fn refused(dir: &Path, key: &str, name: &str, value: &Value, field: &str) -> String {
    let (code, out) = verify(&save(dir, name, value), key);
    assert_eq!(code, 1, "{name}: {out}");
    assert!(out.contains(&format!("`{field}`")), "{name}: {out}");
    out
}

#[test]
fn every_field_of_an_answer_is_checked_against_its_signed_record() {
    let f = fixture("receipt-answers");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    let key = key["key"].as_str().unwrap().to_owned();
    let invoke = |message: &str| {
        let input = json!({ "message": message }).to_string();
        let (status, answer) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            input.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let (a, b) = (invoke("call A"), invoke("call B"));
    let dir = f.data.join("answers");
    std::fs::create_dir_all(&dir).unwrap();

    // As answered: valid, saying which fields it found to be the record's.
    let (code, out) = verify(&save(&dir, "a", &a), &key);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "the answer's error, execution_id, outcome, output, usage are the signed record's"
        ),
        "{out}"
    );
    // The same answer with a second `output` in front (a reader keeping the first of two
    // keys would see it): refused, not checked on the last.
    let text = std::fs::read_to_string(dir.join("a.json")).unwrap();
    let doubled = text.replacen('{', "{\"output\": {\"forged\": true},", 1);
    std::fs::write(dir.join("doubled.json"), doubled).unwrap();
    let (code, out) = verify(&dir.join("doubled.json"), &key);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("duplicate"), "{out}");
    assert!(!out.contains("not covered"), "{out}");

    // Each field changed: refused, naming it (the receipt itself is untouched and valid).
    let mut usage = a["usage"].clone();
    usage["fuel_consumed"] = json!(usage["fuel_consumed"].as_u64().unwrap() + 1);
    for (field, forged) in [
        ("output", json!({"message": "call A, approved"})),
        ("usage", usage),
        ("outcome", json!("tool_error")),
        ("execution_id", b["execution_id"].clone()),
        ("error", json!("none at all")),
    ] {
        let mut edited = a.clone();
        edited[field] = forged;
        refused(&dir, &key, &format!("edited-{field}"), &edited, field);
    }
    // A's receipt pasted onto B's answer: B's id and output are not what A's record says.
    let mut pasted = b.clone();
    pasted["receipt"] = a["receipt"].clone();
    let out = refused(&dir, &key, "pasted", &pasted, "execution_id");
    assert!(out.contains("`output`"), "{out}");
    assert!(out.contains("another execution's"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("valid: ")), "{out}");
    // A field no answer has is not vouched for.
    let mut added = a.clone();
    added["approved_by"] = json!("the auditor");
    refused(&dir, &key, "added", &added, "approved_by");

    // The same call over MCP: the JSON-RPC answer, and the result in it.
    let (status, rpc) = crate::mcp::raw_call(
        &s,
        &f.invoker,
        "application/json, text/event-stream",
        "echo",
        r#"{"message":"over mcp"}"#,
    );
    assert_eq!(status, 200, "{rpc}");
    let (code, out) = verify(&save(&dir, "rpc", &rpc), &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not covered by the receipt"), "{out}");
    let result = rpc["result"].clone();
    let (code, out) = verify(&save(&dir, "mcp", &result), &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("structuredContent"), "{out}");
    let mut edited = result.clone();
    edited["structuredContent"]["message"] = json!("forged");
    refused(&dir, &key, "mcp-structured", &edited, "structuredContent");
    let mut edited = result.clone();
    edited["content"][0]["text"] = json!(r#"{"message":"forged"}"#);
    refused(&dir, &key, "mcp-content", &edited, "content");
    let mut edited = result.clone();
    edited["_meta"]["cordon/execution_id"] = a["execution_id"].clone();
    refused(
        &dir,
        &key,
        "mcp-id",
        &edited,
        "_meta[\"cordon/execution_id\"]",
    );
    let mut edited = rpc.clone();
    edited["result"]["isError"] = json!(true);
    refused(&dir, &key, "rpc-error", &edited, "result.isError");

    // A finished task, as GET /v1/executions/{id} shows it.
    let (status, _, started) = s.request_with(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        &[("Prefer", "respond-async")],
        br#"{"message":"later"}"#,
    );
    assert_eq!(status, 202);
    let started: Value = serde_json::from_slice(&started).unwrap();
    let id = started["execution_id"].as_str().unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let task = loop {
        let (_, view) = s.json(
            "GET",
            &format!("/v1/executions/{id}"),
            Some(&f.invoker),
            b"",
        );
        if view["status"] == "finished" {
            break view;
        }
        assert!(std::time::Instant::now() < until, "{view}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (code, out) = verify(&save(&dir, "task", &task), &key);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("not covered by the receipt (the server's bookkeeping or the protocol's framing): expires_at_ms, poll_interval_ms, started_at_ms"),
        "{out}"
    );
    let mut edited = task.clone();
    edited["version"] = json!("9.9.9");
    refused(&dir, &key, "task-version", &edited, "version");
    let mut edited = task.clone();
    edited["result"]["output"]["message"] = json!("sooner");
    refused(&dir, &key, "task-output", &edited, "result.output");
}
