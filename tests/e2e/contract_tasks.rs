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
    let (f, s) = crate::contract_server::serve("contract-tasks");
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
}
