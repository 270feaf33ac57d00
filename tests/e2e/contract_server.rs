//! Contract 0.2.0 through the server: a toolbox published as its tools, content blocks and tool
//! errors over REST and MCP (to the official Python SDK), log messages to an MCP client that
//! asked for them, and answers with content that `cordon receipt verify` checks against their
//! signed records.

use crate::harness::{Fixture, Server, fixture};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::Path;

pub fn serve(name: &str) -> (Fixture, Server) {
    let f = fixture(name);
    let s = Server::start(&f.data);
    publish(&f, &s);
    (f, s)
}

/// The same, the server started with `env` (its data under `f`, made first).
pub fn serve_env(f: Fixture, env: &[(&str, &str)]) -> (Fixture, Server) {
    let s = Server::start_env(&f.data, &[], env);
    publish(&f, &s);
    (f, s)
}

fn publish(f: &Fixture, s: &Server) {
    let (status, body) = s.publish(&f.publisher, &f.signed.join("conformance.wasm"));
    assert_eq!(status, 201, "{body}");
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 27, "{body}");
    assert!(tools.contains(&json!("test_image_content")), "{body}");
}

/// `cordon receipt verify` of `answer` saved under `dir`: (exit code, what it printed).
fn verify(dir: &Path, name: &str, answer: &Value, key: &str) -> (i32, String) {
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(answer).unwrap()).unwrap();
    crate::receipt_answers::verify(&file, key)
}

#[test]
fn a_toolbox_answers_with_content_over_rest_and_its_receipts_cover_it() {
    let (f, s) = serve("contract-rest");
    // Each tool of the component is a tool of the server, under the component's version.
    let (_, listed) = s.json("GET", "/v1/tools", Some(&f.invoker), b"");
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in [
        "test_simple_text",
        "test_audio_content",
        "json_schema_2020_12_tool",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    // Published once: a second publish of the same component is refused for its tools.
    let (status, again) = s.publish(&f.publisher, &f.signed.join("conformance.wasm"));
    assert_eq!(status, 409, "{again}");

    let (status, answer) = s.json(
        "POST",
        "/v1/tools/test_multiple_content_types/invoke",
        Some(&f.invoker),
        b"{}",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "ok");
    assert_eq!(answer["output"], Value::Null);
    let content = answer["content"].as_array().unwrap();
    let types: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text", "image", "resource"]);
    let png = base64::engine::general_purpose::STANDARD
        .decode(content[1]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(
        answer["usage"]["output_bytes"],
        serde_json::to_string(&answer["content"]).unwrap().len()
    );

    // The receipt covers the blocks: as answered it verifies, a changed block is refused.
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    let key = key["key"].as_str().unwrap().to_owned();
    let dir = f.data.join("answers");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, out) = verify(&dir, "as-answered", &answer, &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("content") && out.contains("output"), "{out}");
    let mut changed = answer.clone();
    changed["content"][0]["text"] = json!("something else");
    let (code, out) = verify(&dir, "changed", &changed, &key);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("`content`"), "{out}");

    // Over MCP the same blocks come as the result's content, and its receipt covers them too.
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"test_multiple_content_types","arguments":{}}}"#;
    let (status, _, body) = crate::mcp::post_raw(
        &s,
        &f.invoker,
        "Accept: application/json, text/event-stream\r\n",
        call,
    );
    assert_eq!(status, 200, "{body}");
    let rpc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rpc["result"]["content"], answer["content"], "{rpc}");
    assert!(rpc["result"].get("structuredContent").is_none(), "{rpc}");
    let (code, out) = verify(&dir, "mcp", &rpc, &key);
    assert_eq!(code, 0, "{out}");
    let mut changed = rpc.clone();
    changed["result"]["content"][1]["mimeType"] = json!("image/gif");
    let (code, out) = verify(&dir, "mcp-changed", &changed, &key);
    assert_eq!(code, 1, "{out}");

    // A tool that asks: the round answers `input_required` with the requests and a sealed
    // state; the caller answers through `resume`, and only with that state, for that call.
    let (status, asking) = s.json(
        "POST",
        "/v1/tools/test_input_required_result_elicitation/invoke",
        Some(&f.invoker),
        b"{}",
    );
    assert_eq!(status, 200, "{asking}");
    assert_eq!(asking["outcome"], "input_required");
    assert_eq!(
        asking["input_requests"]["user_name"]["method"],
        "elicitation/create"
    );
    let state = asking["request_state"].as_str().unwrap().to_owned();
    let (code, out) = verify(&dir, "asking", &asking, &key);
    assert_eq!(code, 0, "{out}");
    let mut changed = asking.clone();
    changed["input_requests"]["user_name"]["params"]["message"] = json!("Your password?");
    assert_eq!(verify(&dir, "asking-changed", &changed, &key).0, 1);
    let resume = |key: &str, input: Value, state: &str| {
        let body = json!({
            "input": input,
            "input_responses": {"user_name": {"action": "accept", "content": {"name": "Bob"}}},
            "request_state": state,
        });
        s.json(
            "POST",
            "/v1/tools/test_input_required_result_elicitation/resume",
            Some(key),
            body.to_string().as_bytes(),
        )
    };
    let (status, done) = resume(&f.invoker, json!({}), &state);
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["content"][0]["text"], "Hello, Bob!", "{done}");
    for (who, input, state, what) in [
        (&f.invoker, json!({}), format!("{state}x"), "changed"),
        (&f.admin, json!({}), state.clone(), "another caller's"),
        (
            &f.invoker,
            json!({"other": 1}),
            state.clone(),
            "for other input",
        ),
    ] {
        let (status, refused) = resume(who, input, &state);
        assert_eq!(status, 400, "{what}: {refused}");
        assert_eq!(
            refused["error"]["code"], "invalid_request_state",
            "{what}: {refused}"
        );
    }

    // A tool error is the tool's own (502, as for every tool failure over REST), apart from
    // invalid input and host faults.
    let (status, failed) = s.json(
        "POST",
        "/v1/tools/test_error_handling/invoke",
        Some(&f.invoker),
        b"{}",
    );
    assert_eq!(status, 502, "{failed}");
    assert_eq!(failed["outcome"], "tool_error");
    assert_eq!(
        failed["error"],
        "This tool intentionally returns an error for testing"
    );
    // The record says which tool of the component ran.
    let id = answer["execution_id"].as_str().unwrap();
    let (_, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(record["tool"], "test_multiple_content_types", "{record}");
}

#[test]
fn an_agent_on_the_python_sdk_receives_images_and_the_logs_it_asked_for() {
    let (f, s) = serve("contract-mcp");
    let plan = json!({
        "url": format!("http://{}/mcp", s.addr),
        "api_key": f.invoker,
    });
    let report = crate::mcp::script("mcp_content.py", &plan);
    let tools = report["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("test_logging_tool")), "{report}");

    let image = &report["calls"]["test_image_content"];
    assert_eq!(image["isError"], false, "{report}");
    assert_eq!(image["content"][0]["type"], "image", "{report}");
    assert_eq!(image["content"][0]["mimeType"], "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(image["content"][0]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(png.len(), 70);
    assert_eq!(
        report["calls"]["test_audio_content"]["content"][0]["mimeType"],
        "audio/wav"
    );
    assert_eq!(
        report["calls"]["test_embedded_resource"]["content"][0]["resource"]["uri"],
        "test://embedded-resource"
    );
    let mixed = &report["calls"]["test_multiple_content_types"]["content"];
    assert_eq!(mixed.as_array().unwrap().len(), 3, "{report}");
    let failed = &report["calls"]["test_error_handling"];
    assert_eq!(failed["isError"], true, "{report}");
    assert!(
        failed["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("intentionally returns an error")
    );

    // Three info messages, in order, to the client that asked for info and up; none to the
    // one that asked for nothing.
    let logs: Vec<&str> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["data"].as_str().unwrap())
        .collect();
    assert_eq!(
        logs,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ],
        "{report}"
    );
    assert!(
        report["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["level"] == "info")
    );
    assert_eq!(report["quiet_logs"], 0, "{report}");
    // Both calls recorded, each with the three messages counted.
    let (_, page) = s.json(
        "GET",
        "/v1/executions?tool=test_logging_tool",
        Some(&f.auditor),
        b"",
    );
    let runs = page["executions"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{page}");
    assert!(
        runs.iter().all(|r| r["usage"]["log_messages"] == 3),
        "{page}"
    );
}
