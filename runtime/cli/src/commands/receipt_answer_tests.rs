use super::*;
use serde_json::json;

fn record(outcome: &str, output: Option<Value>, error: Option<&str>) -> Value {
    json!({
        "id": "ex_a",
        "tool": "echo",
        "version": "0.1.0",
        "started_at_ms": 1_700_000_000_000_i64,
        "outcome": outcome,
        "error": error,
        "usage": {"fuel_consumed": 5, "wall_time_us": 9},
        "output_sha256": output.as_ref().map(digest),
    })
}

fn ok_record() -> Value {
    record("ok", Some(json!({"message": "hi"})), None)
}

/// The invoke answer the server gives for `ok_record`.
fn answer() -> Value {
    json!({
        "execution_id": "ex_a",
        "outcome": "ok",
        "output": {"message": "hi"},
        "error": null,
        "usage": {"fuel_consumed": 5, "wall_time_us": 9},
        "receipt": {"batch": {}},
    })
}

fn problems(shape: Shape, whole: &Value, record: &Value) -> Vec<String> {
    check(shape, whole, record).problems
}

#[test]
fn an_unchanged_answer_matches_field_by_field() {
    let c = check(Shape::Answer, &answer(), &ok_record());
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(
        c.matched,
        ["error", "execution_id", "outcome", "output", "usage"]
    );
    assert!(c.not_covered.is_empty());
    // A bare receipt has nothing else to check.
    let c = check(Shape::Receipt, &json!({"batch": {}}), &ok_record());
    assert!(c.problems.is_empty() && c.matched.is_empty());
}

#[test]
fn every_changed_field_of_an_answer_is_refused_by_name() {
    for (field, forged) in [
        ("execution_id", json!("ex_b")),
        ("outcome", json!("tool_error")),
        ("output", json!({"message": "bye"})),
        ("output", Value::Null),
        ("error", json!("made up")),
        ("usage", json!({"fuel_consumed": 1, "wall_time_us": 9})),
    ] {
        let mut a = answer();
        a[field] = forged.clone();
        let p = problems(Shape::Answer, &a, &ok_record());
        assert_eq!(p.len(), 1, "{field} = {forged}: {p:?}");
        assert!(p[0].contains(&format!("`{field}`")), "{p:?}");
    }
    // Ids are shown, so the swap is plain.
    let mut a = answer();
    a["execution_id"] = json!("ex_b");
    let p = problems(Shape::Answer, &a, &ok_record());
    assert!(p[0].contains("(ex_b; the record: ex_a)"), "{p:?}");
    // A field no answer has is not vouched for.
    let mut a = answer();
    a["approved_by"] = json!("the auditor");
    let p = problems(Shape::Answer, &a, &ok_record());
    assert!(p[0].contains("`approved_by`") && p[0].contains("does not vouch"));
    // A field left out claims nothing.
    let mut a = answer();
    a.as_object_mut().unwrap().remove("output");
    assert!(problems(Shape::Answer, &a, &ok_record()).is_empty());
}

#[test]
fn an_answer_without_output_matches_a_record_without_one() {
    let refused = record("timeout", None, Some("took too long"));
    let a = json!({
        "execution_id": "ex_a", "outcome": "timeout", "output": null,
        "error": "took too long", "usage": {"fuel_consumed": 5, "wall_time_us": 9},
        "receipt": {},
    });
    assert!(problems(Shape::Answer, &a, &refused).is_empty());
    // A tool whose output was JSON null: the record holds the digest of `null`.
    let null_output = record("ok", Some(Value::Null), None);
    let mut a = answer();
    a["output"] = Value::Null;
    assert!(problems(Shape::Answer, &a, &null_output).is_empty());
    // An output where the record holds none.
    let mut a = answer();
    a["outcome"] = json!("timeout");
    a["error"] = json!("took too long");
    let p = problems(Shape::Answer, &a, &refused);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("`output`"));
}

/// An MCP result as the server makes it (`mcp_call::call_result_of`).
fn mcp_ok(structured: Value) -> Value {
    json!({
        "content": [{"type": "text", "text": structured.to_string()}],
        "structuredContent": structured,
        "isError": false,
        "resultType": "complete",
        "_meta": {
            "cordon/execution_id": "ex_a",
            "cordon/outcome": "ok",
            "cordon/usage": {"fuel_consumed": 5, "wall_time_us": 9},
            "cordon/receipt": {"batch": {}},
        },
    })
}

#[test]
fn an_mcp_result_is_checked_with_its_meta_and_content() {
    let c = check(
        Shape::McpResult,
        &mcp_ok(json!({"message": "hi"})),
        &ok_record(),
    );
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.not_covered, ["resultType"]);
    assert!(c.matched.contains(&"structuredContent".to_owned()));
    assert!(c.matched.contains(&"_meta[\"cordon/usage\"]".to_owned()));
    // An output that is not an object travels wrapped.
    let number = record("ok", Some(json!(42)), None);
    assert!(problems(Shape::McpResult, &mcp_ok(json!({"result": 42})), &number).is_empty());
    // Each forged part is named.
    for (path, forged) in [
        ("/structuredContent", json!({"message": "bye"})),
        ("/content/0/text", json!("{\"message\":\"bye\"}")),
        ("/isError", json!(true)),
        ("/_meta/cordon~1execution_id", json!("ex_b")),
        ("/_meta/cordon~1outcome", json!("tool_error")),
        ("/_meta/cordon~1usage/fuel_consumed", json!(1)),
        ("/_meta/cordon~1note", json!("trust me")),
    ] {
        let mut r = mcp_ok(json!({"message": "hi"}));
        match r.pointer_mut(path) {
            Some(v) => *v = forged,
            None => {
                r["_meta"]["cordon/note"] = forged;
            }
        }
        let p = problems(Shape::McpResult, &r, &ok_record());
        assert_eq!(p.len(), 1, "{path}: {p:?}");
    }
    let mut r = mcp_ok(json!({"message": "hi"}));
    r["content"][0]["text"] = json!("all fine");
    assert!(problems(Shape::McpResult, &r, &ok_record())[0].contains("`content`"));
    // A text that parses to the same value but reads otherwise: a duplicate key (a reader
    // keeping the first sees another message), or another spelling of the same JSON.
    for text in [
        r#"{"message":"transfer approved","message":"hi"}"#,
        r#"{ "message": "hi" }"#,
    ] {
        let mut r = mcp_ok(json!({"message": "hi"}));
        r["content"][0]["text"] = json!(text);
        let p = problems(Shape::McpResult, &r, &ok_record());
        assert!(p.len() == 1 && p[0].contains("`content`"), "{text}: {p:?}");
    }
}

#[test]
fn an_mcp_error_result_must_say_the_recorded_outcome() {
    let refused = record("timeout", None, Some("took too long"));
    let mut r = json!({
        "content": [{"type": "text", "text": "timeout: took too long", "annotations": null}],
        "isError": true,
        "_meta": {"cordon/execution_id": "ex_a", "cordon/outcome": "timeout", "cordon/receipt": {}},
    });
    assert!(problems(Shape::McpResult, &r, &refused).is_empty());
    r["content"][0]["text"] = json!("ok: it worked");
    assert!(problems(Shape::McpResult, &r, &refused)[0].contains("`content`"));
    r["content"][0]["text"] = json!("timeout: took too long");
    // Absent, isError is false: a success.
    r.as_object_mut().unwrap().remove("isError");
    assert!(problems(Shape::McpResult, &r, &refused)[0].contains("isError"));
    r["isError"] = json!(true);
    r["structuredContent"] = json!({"message": "hi"});
    assert!(problems(Shape::McpResult, &r, &refused)[0].contains("`structuredContent`"));
}

#[test]
fn a_json_rpc_answer_and_a_finished_task_are_checked_inside() {
    let rpc = json!({"jsonrpc": "2.0", "id": 1, "result": mcp_ok(json!({"message": "hi"}))});
    let (shape, _) = locate(&rpc).unwrap();
    assert_eq!(shape, Shape::JsonRpc);
    let c = check(shape, &rpc, &ok_record());
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.not_covered, ["id", "jsonrpc", "result.resultType"]);
    let mut forged = rpc.clone();
    forged["result"]["structuredContent"] = json!({"message": "bye"});
    assert!(problems(shape, &forged, &ok_record())[0].contains("`result.structuredContent`"));

    let task = json!({
        "execution_id": "ex_a", "status": "finished", "tool": "echo", "version": "0.1.0",
        "started_at_ms": 1_700_000_000_000_i64, "outcome": "ok", "result": answer(),
        "expires_at_ms": 1, "poll_interval_ms": 1000,
    });
    let (shape, _) = locate(&task).unwrap();
    assert_eq!(shape, Shape::Task);
    let c = check(shape, &task, &ok_record());
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(
        c.not_covered,
        ["expires_at_ms", "poll_interval_ms", "started_at_ms"]
    );
    for (path, forged) in [
        ("/tool", json!("other")),
        ("/version", json!("9")),
        ("/outcome", json!("timeout")),
        ("/execution_id", json!("ex_b")),
        ("/status", json!("running")),
        ("/result/output/message", json!("bye")),
    ] {
        let mut t = task.clone();
        *t.pointer_mut(path).unwrap() = forged;
        let p = problems(shape, &t, &ok_record());
        assert_eq!(p.len(), 1, "{path}: {p:?}");
    }
}

#[test]
fn the_receipt_is_found_in_each_shape_and_nothing_panics() {
    assert_eq!(
        locate(&json!({"batch": {}})).map(|s| s.0),
        Some(Shape::Receipt)
    );
    assert_eq!(locate(&answer()).map(|s| s.0), Some(Shape::Answer));
    assert_eq!(
        locate(&mcp_ok(json!({}))).map(|s| s.0),
        Some(Shape::McpResult)
    );
    assert!(locate(&json!({"status": "running", "execution_id": "ex_a"})).is_none());
    assert!(locate(&json!([1, 2])).is_none());
    // Whatever the fields hold, a difference is reported, never a panic.
    for odd in [
        json!(null),
        json!([]),
        json!("x"),
        json!({"content": 3}),
        json!({"_meta": []}),
    ] {
        for shape in [Shape::Answer, Shape::McpResult, Shape::JsonRpc, Shape::Task] {
            let _ = check(shape, &odd, &ok_record());
            let _ = check(
                shape,
                &json!({"result": odd.clone()}),
                &json!("not a record"),
            );
        }
    }
}
