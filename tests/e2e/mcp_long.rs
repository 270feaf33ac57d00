//! Long-running calls over MCP with the official Python SDK (`mcp_long.py`): progress
//! notifications, cancellation (by the 2026-07-28 client closing its request, by a legacy
//! client's `notifications/cancelled`), the tasks extension (`io.modelcontextprotocol/tasks`)
//! advertised in `server/discover` and `initialize` (with prompts and resources, of which there
//! are none: an unknown one is -32602), and tool annotations from the policy.

use crate::harness::{Fixture, Server, fixture};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TASKS: &str = "io.modelcontextprotocol/tasks";

fn serve(name: &str) -> (Fixture, Server) {
    let f = fixture(name);
    let s = Server::start(&f.data);
    for tool in ["steps", "http_get"] {
        let (status, body) = s.publish(&f.admin, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    (f, s)
}

fn run(plan: &Value) -> Value {
    crate::mcp::script("mcp_long.py", plan)
}

/// The steps executions recorded as cancelled, with their errors.
fn cancelled(s: &Server, f: &Fixture) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = s.json(
            "GET",
            "/v1/executions?tool=steps&outcome=cancelled",
            Some(&f.auditor),
            b"",
        );
        let found = page["executions"].as_array().cloned().unwrap_or_default();
        if !found.is_empty() || Instant::now() > until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What both protocol generations share.
fn check_common(report: &Value) {
    assert!(report["extensions"].get(TASKS).is_some(), "{report}");
    // What is answered is declared: prompts and resources (none of either) beside tools.
    assert_eq!(
        report["declared"],
        json!({"prompts": true, "resources": true, "tools": true}),
        "{report}"
    );
    assert_eq!(
        report["listed"],
        json!({"prompts": [], "resources": []}),
        "{report}"
    );
    // SEP-2164: an unknown resource is invalid params with its URI; an unknown prompt too.
    let resource = &report["unknown_resource"];
    assert_eq!(resource["code"], -32602, "{report}");
    assert_eq!(resource["data"]["uri"], "test://nonexistent-resource");
    let prompt = &report["unknown_prompt"];
    assert_eq!(prompt["code"], -32602, "{report}");
    assert_eq!(prompt["data"]["name"], "no-such-prompt");
    let steps = &report["annotations"]["steps"];
    assert_eq!(steps["readOnlyHint"], true, "{report}");
    assert_eq!(steps["openWorldHint"], false, "{report}");
    let http = &report["annotations"]["http-get"];
    assert_eq!(http["openWorldHint"], true, "{report}");
    assert_eq!(http["readOnlyHint"], false, "{report}");
    let progress = &report["progress"];
    assert_eq!(
        progress["result"]["structuredContent"],
        json!({"result": 5})
    );
    let seen = progress["seen"].as_array().unwrap();
    let done: Vec<f64> = seen.iter().map(|p| p[0].as_f64().unwrap()).collect();
    assert_eq!(done, [1.0, 2.0, 3.0, 4.0, 5.0], "{progress}");
    assert_eq!(seen[0][1], 5.0);
    assert_eq!(seen[2][2], "step 3");
    // The given-up call: the client stopped waiting after a second.
    let after = report["cancelled_after_s"].as_f64().unwrap();
    assert!((0.9..3.0).contains(&after), "{after}");
}

#[test]
fn the_2026_client_gets_progress_tasks_and_stops_a_call_by_closing_it() {
    let (f, s) = serve("mcp-long-modern");
    let url = format!("http://{}/mcp", s.addr);
    let report = run(&json!({"url": url, "api_key": f.invoker, "mode": "auto", "tasks": true}));
    assert_eq!(report["protocol_version"], "2026-07-28", "{report}");
    check_common(&report);

    // The call the client gave up on stopped when it closed its request, and is recorded so.
    let records = cancelled(&s, &f);
    assert!(
        records.iter().any(
            |r| r["error"] == "cancelled by its caller (the connection closed)"
                && r["usage"]["wall_time_us"].as_u64().unwrap() < 3_000_000
        ),
        "{records:?}"
    );

    let tasks = &report["tasks"];
    let handle = &tasks["handle"];
    assert_eq!(handle["status"], "working", "{tasks}");
    assert_eq!(handle["ttlMs"], 3_600_000);
    assert_eq!(handle["pollIntervalMs"], 1000);
    let polls = tasks["polls"].as_array().unwrap();
    let last = &polls.last().unwrap()["ok"];
    assert_eq!(last["status"], "completed", "{tasks}");
    assert_eq!(last["resultType"], "complete");
    assert_eq!(last["result"]["structuredContent"], json!({"result": 15}));
    assert_eq!(last["result"]["isError"], false);
    let id = tasks["task_id"].as_str().unwrap();
    assert_eq!(last["result"]["_meta"]["cordon/execution_id"], id);
    assert!(
        polls.iter().any(|p| p["ok"]["status"] == "working"
            && p["ok"]["statusMessage"]
                .as_str()
                .is_some_and(|m| m.contains(" of 15: step "))),
        "no progress while working: {tasks}"
    );
    // tasks/update: acknowledged, as docs/long-running.md says, with or without responses; an
    // unknown task is not found.
    for update in ["update", "update_bare"] {
        assert!(tasks[update]["ok"].is_object(), "{update}: {tasks}");
    }
    assert_eq!(tasks["update_unknown"]["error"]["code"], -32602, "{tasks}");
    // tasks/cancel: acknowledged, then cancelled with who asked.
    assert!(tasks["cancel_ack"]["ok"].is_object(), "{tasks}");
    let cancelled_task = &tasks["cancelled"]["ok"];
    assert_eq!(cancelled_task["status"], "cancelled", "{tasks}");
    assert!(
        cancelled_task["statusMessage"]
            .as_str()
            .unwrap()
            .starts_with("cancelled by "),
        "{tasks}"
    );
    // A quick call is answered directly; an unknown task is invalid params; a client without
    // the extension gets its answer directly however long the call.
    assert_eq!(tasks["quick"]["structuredContent"], json!({"result": 1}));
    assert_eq!(tasks["unknown"]["error"]["code"], -32602, "{tasks}");
    assert_eq!(
        tasks["without_extension"]["structuredContent"],
        json!({"result": 10})
    );

    // The task is the same as a REST one: its caller reads it there, nobody else does.
    let (status, view) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(view["status"], "finished");
    assert_eq!(view["result"]["output"], 15);
    let (status, _) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.publisher),
        b"",
    );
    assert_eq!(status, 404);
    let cancelled_id = tasks["cancelled_task_id"].as_str().unwrap();
    let (_, record) = s.json(
        "GET",
        &format!("/v1/executions/{cancelled_id}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["transport"], "mcp");
}

#[test]
fn a_legacy_client_gets_progress_and_its_cancel_notification_stops_the_call() {
    let (f, s) = serve("mcp-long-legacy");
    let url = format!("http://{}/mcp", s.addr);
    let report = run(&json!({"url": url, "api_key": f.invoker, "mode": "legacy"}));
    assert_eq!(report["protocol_version"], "2025-11-25", "{report}");
    check_common(&report);
    let records = cancelled(&s, &f);
    assert!(
        records.iter().any(
            |r| r["error"] == "cancelled by its caller (notifications/cancelled)"
                && r["usage"]["wall_time_us"].as_u64().unwrap() < 3_000_000
        ),
        "{records:?}"
    );
}
