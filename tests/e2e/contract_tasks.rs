//! Tasks that ask for input (MCP's tasks extension with SEP-2322 input requests), driven by the
//! official Python SDK (`mcp_long.py`, `task_input`) against the conformance toolbox: a task
//! waits `input_required`, takes its answers through `tasks/update` (one at a time, or none
//! after a cancel), and runs its next round, recorded as an execution that follows the first.

use serde_json::{Value, json};

fn ok<'a>(report: &'a Value, key: &str) -> &'a Value {
    let entry = &report[key];
    assert!(entry["ok"].is_object(), "{key}: {report}");
    &entry["ok"]
}

#[test]
fn a_task_waits_for_its_answers_and_runs_again_with_them() {
    // Spans exported: a task's rounds and polls stay in the trace it began in.
    let f = crate::harness::fixture("contract-tasks");
    let receiver = crate::traces::Receiver::start(&f.data);
    let otlp = format!("http://127.0.0.1:{}", receiver.http);
    let (f, s) = crate::contract_server::serve_env(
        f,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let plan = json!({
        "url": format!("http://{}/mcp", s.addr),
        "api_key": f.invoker,
        "mode": "auto",
        "task_input": true,
    });
    let report = crate::mcp::script("mcp_long.py", &plan);
    let r = &report["task_input"];

    // The task waits with what it asked, keyed, as MCP requests.
    let waiting = ok(r, "waiting");
    assert_eq!(waiting["status"], "input_required", "{r}");
    assert_eq!(
        waiting["inputRequests"]["confirm"]["method"], "elicitation/create",
        "{r}"
    );
    assert_eq!(
        waiting["inputRequests"]["confirm"]["params"]["message"], "Delete report.txt?",
        "{r}"
    );
    assert!(waiting.get("requestState").is_none(), "{r}");
    // An answer to nothing it asked is acknowledged and changes nothing.
    assert_eq!(ok(r, "stray_ack")["resultType"], "complete", "{r}");
    assert_eq!(ok(r, "after_stray")["status"], "input_required", "{r}");
    // Answered: the tool ran again with the answer.
    assert_eq!(ok(r, "answer_ack")["resultType"], "complete", "{r}");
    let done = ok(r, "done");
    assert_eq!(done["status"], "completed", "{r}");
    assert_eq!(
        done["result"]["content"][0]["text"], "Deleted report.txt",
        "{r}"
    );
    assert_eq!(done["result"]["isError"], false, "{r}");

    // Two requests answered one at a time: the task waits for the other.
    let first = ok(r, "multi_waiting");
    let mut keys: Vec<&String> = first["inputRequests"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["confirm", "name"], "{r}");
    let partial = ok(r, "multi_partial");
    assert_eq!(partial["status"], "input_required", "{r}");
    let left: Vec<&String> = partial["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(left, ["confirm"], "{r}");
    assert_eq!(
        ok(r, "multi_done")["result"]["content"][0]["text"],
        "Ada said go",
        "{r}"
    );

    // Cancelled while waiting; a later answer runs nothing.
    assert_eq!(ok(r, "cancel_ack")["resultType"], "complete", "{r}");
    assert_eq!(ok(r, "cancelled")["status"], "cancelled", "{r}");
    assert_eq!(ok(r, "after_late_answer")["status"], "cancelled", "{r}");

    // A crash is a failed task: a JSON-RPC error naming the execution, no result.
    let crashed = ok(r, "crashed");
    assert_eq!(crashed["status"], "failed", "{r}");
    assert_eq!(crashed["error"]["code"], -32603, "{r}");
    assert!(
        crashed["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("trap: "),
        "{r}"
    );
    assert!(crashed.get("result").is_none(), "{r}");

    // A task's tool that asks what the client did not declare: the task ends with a tool
    // error saying so, instead of waiting for an answer that cannot come.
    let undeclared = ok(r, "undeclared");
    assert_eq!(undeclared["status"], "completed", "{r}");
    assert_eq!(undeclared["result"]["isError"], true, "{r}");
    assert!(
        undeclared["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not declare"),
        "{r}"
    );

    // A tool that needs tasks refuses a client that takes none, naming the extension.
    let refused = &r["required_without_tasks"];
    assert_eq!(refused["code"], -32021, "{r}");
    assert!(
        refused["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"]
            .is_object(),
        "{r}"
    );
    assert_eq!(r["greet"]["text"][0], "Hello, Ada!", "{r}");
    // The listing: the tool's own title; confirm_delete says it is destructive, but its policy
    // grants nothing it could destroy, and what the policy settles stands over the tool's claim.
    let listed = &r["listed"];
    assert_eq!(listed["greet"]["title"], "Greeting", "{r}");
    assert!(listed["confirm_delete"].get("title").is_none(), "{r}");
    let annotations = &listed["confirm_delete"]["annotations"];
    assert_eq!(annotations["readOnlyHint"], true, "{r}");
    assert!(annotations.get("destructiveHint").is_none(), "{r}");

    // The record: the task's first round asked, its second followed it and answered.
    let task = r["confirm_task"].as_str().unwrap();
    let (_, first) = s.json(
        "GET",
        &format!("/v1/executions/{task}"),
        Some(&f.auditor),
        b"",
    );
    let (_, page) = s.json(
        "GET",
        "/v1/executions?tool=confirm_delete&outcome=ok",
        Some(&f.auditor),
        b"",
    );
    let rounds = page["executions"].as_array().unwrap();
    let second = rounds
        .iter()
        .find(|e| e["exchange"]["follows"] == task)
        .unwrap_or_else(|| panic!("no round follows {task}: {page} (first: {first})"));
    assert!(
        second["exchange"]["answered_sha256"].is_string(),
        "{second}"
    );
    // The task's row points to its next round.
    let (_, view) = s.json(
        "GET",
        &format!("/v1/executions/{task}"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(view["outcome"], "input_required", "{view}");
    assert_eq!(view["continued_by"], second["id"], "{view}");

    // One trace for the task: its first round, the polls, and the next round under the
    // `tasks/update` that answered it.
    let first_run = receiver.span_where(|s| {
        s["name"] == "execute_tool confirm_delete" && s["attributes"]["cordon.execution_id"] == task
    });
    let trace = first_run["trace_id"].as_str().unwrap();
    let second_id = second["id"].as_str().unwrap();
    let next_round = |s: &Value| {
        s["name"] == "execute_tool confirm_delete"
            && s["attributes"]["cordon.execution_id"] == second_id
    };
    // The update's span ends once the round it started has.
    let spans = receiver.trace_until(trace, |spans| {
        spans
            .iter()
            .any(|s| s["name"] == "tasks/update confirm_delete")
            && spans.iter().any(next_round)
    });
    let update = spans
        .iter()
        .find(|s| s["name"] == "tasks/update confirm_delete")
        .unwrap();
    let next = spans.iter().find(|s| next_round(s)).unwrap();
    assert!(crate::traces::below(&spans, next, update), "{spans:#?}");
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "tasks/get confirm_delete"),
        "no poll in the task's trace: {spans:#?}"
    );
}

/// A client of 2025-11-25 that declared what it answers keeps a session: the tool's questions
/// reach it on the call's stream, the tool runs again with its answers, each round recorded;
/// its `logging/setLevel` holds for the session.
#[test]
fn an_older_client_is_asked_on_the_stream_and_its_answers_reach_the_tool() {
    let (f, s) = crate::contract_server::serve("contract-legacy");
    let plan = json!({
        "url": format!("http://{}/mcp", s.addr),
        "api_key": f.invoker,
        "mode": "legacy",
    });
    let report = crate::mcp::script("mcp_content.py", &plan);
    assert_eq!(report["protocol_version"], "2025-11-25", "{report}");
    let calls = &report["calls"];
    let text = |name: &str| {
        calls[name]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        text("test_input_required_result_elicitation"),
        "Hello, Lee!",
        "{report}"
    );
    assert_eq!(
        text("test_input_required_result_multi_round"),
        "Lee likes blue",
        "{report}"
    );
    assert!(
        text("test_input_required_result_sampling").contains("Rome"),
        "{report}"
    );
    assert!(
        text("test_input_required_result_list_roots").contains("file:///legacy"),
        "{report}"
    );
    // Asked in order, each once.
    assert_eq!(
        report["asked"],
        json!([
            "What is your name?",
            "Step 1: What is your name?",
            "Step 2: What is your favorite color?",
            "sampling",
            "roots"
        ]),
        "{report}"
    );
    // The level it set holds for the session's calls.
    let logs: Vec<&str> = report["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["data"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(logs.len(), 3, "{report}");
    assert_eq!(logs[0], "Tool execution started", "{report}");
    // A client that declared nothing to answer with is not asked: a tool error says why.
    let unasked = &calls["unasked"];
    assert_eq!(unasked["isError"], true, "{report}");
    assert!(
        unasked["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("input_required:"),
        "{report}"
    );
    // The multi-round call: three rounds recorded, each following the one before.
    let (_, page) = s.json(
        "GET",
        "/v1/executions?tool=test_input_required_result_multi_round",
        Some(&f.auditor),
        b"",
    );
    let rounds = page["executions"].as_array().unwrap();
    assert_eq!(rounds.len(), 3, "{page}");
    let first = rounds
        .iter()
        .find(|r| r["exchange"].get("follows").is_none_or(Value::is_null))
        .unwrap_or_else(|| panic!("no first round: {page}"));
    let second = rounds
        .iter()
        .find(|r| r["exchange"]["follows"] == first["id"])
        .unwrap_or_else(|| panic!("no second round: {page}"));
    let third = rounds
        .iter()
        .find(|r| r["exchange"]["follows"] == second["id"])
        .unwrap_or_else(|| panic!("no third round: {page}"));
    assert_eq!(third["outcome"], "ok", "{page}");
    assert_eq!(first["outcome"], "input_required", "{page}");
}

/// A session answers only the caller that made it; a client that can be asked nothing keeps
/// none (every node answers it).
#[test]
fn a_session_belongs_to_its_caller_and_only_a_client_that_can_be_asked_gets_one() {
    let (f, s) = crate::contract_server::serve("contract-sessions");
    let init = |caps: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{caps},"clientInfo":{{"name":"raw","version":"1"}}}}}}"#
        )
    };
    let accept = "Accept: application/json, text/event-stream\r\n";
    let session_of = |head: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix("mcp-session-id:"))
            .map(|v| v.trim().to_owned())
    };
    let (status, head, _) = crate::mcp::post_raw(&s, &f.invoker, accept, &init("{}"));
    assert_eq!(status, 200, "{head}");
    assert_eq!(session_of(&head), None, "{head}");
    let (status, head, body) =
        crate::mcp::post_raw(&s, &f.invoker, accept, &init(r#"{"elicitation":{}}"#));
    assert_eq!(status, 200, "{head}{body}");
    let session = session_of(&head).unwrap_or_else(|| panic!("no session: {head}"));
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
    let with = format!("{accept}Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n");
    let (status, _, body) = crate::mcp::post_raw(&s, &f.admin, &with, list);
    assert_eq!(status, 404, "another caller's session: {body}");
    let (status, _, body) = crate::mcp::post_raw(&s, &f.invoker, &with, list);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("confirm_delete"), "{body}");
}
