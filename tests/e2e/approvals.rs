//! Calls held for a person's approval (issue 37) on one node: held over REST (202, Location,
//! `awaiting_approval`) and MCP (a task for a client with tasks, an error naming the held call
//! for one without), listed for approvers with their arguments, never approvable by their own
//! caller, approved once (then run, as their caller), denied, withdrawn, or expired, each
//! recorded and in the audit log.

use crate::harness::{Server, cordon, fixture};
use crate::mcp::post_raw;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Every call of echo whose text starts with "hold" waits for an admin; "hold briefly" for one
/// second only.
const POLICY: &str = r#"
package cordon
import rego.v1

default allow := true

holds if startswith(object.get(input.arguments, "text", ""), "hold")

approval := {"approvers": ["role:admin"], "timeout_secs": 600, "reason": "echoing needs a second look"} if {
	holds
	input.arguments.text != "hold briefly"
}

approval := {"approvers": ["role:admin"], "timeout_secs": 1} if input.arguments.text == "hold briefly"
"#;

pub(crate) fn apply(s: &Server, admin: &str, text: &str) -> String {
    let body = json!({"modules": [{"path": "policy.rego", "text": text}]});
    let (status, applied) = s.json(
        "PUT",
        "/v1/decisions",
        Some(admin),
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{applied}");
    applied["hash"].as_str().unwrap().to_owned()
}

fn invoke(s: &Server, key: &str, text: &str) -> (u16, String, Value) {
    let (status, head, body) = s.request(
        "POST",
        "/v1/tools/echo/invoke",
        Some(key),
        json!({"text": text}).to_string().as_bytes(),
    );
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn decide(s: &Server, key: &str, id: &str, approve: bool, reason: &str) -> (u16, Value) {
    s.json(
        "POST",
        &format!("/v1/approvals/{id}"),
        Some(key),
        json!({"approve": approve, "reason": reason})
            .to_string()
            .as_bytes(),
    )
}

/// The execution as its caller follows it, once it is no longer waiting or running.
pub(crate) fn finished(s: &Server, key: &str, id: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, view) = s.json("GET", &format!("/v1/executions/{id}"), Some(key), b"");
        assert_eq!(status, 200, "{view}");
        if view["status"] == "finished" {
            return view;
        }
        assert!(Instant::now() < until, "{view}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The record of `id`. A held call that is denied or expires is shown so at once; its record
/// follows through the group commit, moments later (a fresh-clone run read it too soon).
fn record(s: &Server, auditor: &str, id: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, record) = s.json(
            "GET",
            &format!("/v1/executions/{id}?record=true"),
            Some(auditor),
            b"",
        );
        if status == 404 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(status, 200, "{record}");
        return record;
    }
}

fn events(s: &Server, key: &str, kind: &str) -> Vec<Value> {
    let (status, page) = s.json(
        "GET",
        &format!("/v1/audit/events?kind={kind}&limit=100"),
        Some(key),
        b"",
    );
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[test]
fn held_calls_wait_for_an_approver_and_run_once() {
    let f = fixture("approvals");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.publisher, &f.signed.join("echo.wasm")).0, 201);
    let hash = apply(&s, &f.admin, POLICY);

    // A call the decisions do not hold runs as before.
    assert_eq!(invoke(&s, &f.invoker, "hello").0, 200);

    // Held: 202, where to follow it, and who must approve.
    let (status, head, held) = invoke(&s, &f.invoker, "hold me");
    assert_eq!(status, 202, "{held}");
    let id = held["execution_id"].as_str().unwrap().to_owned();
    assert!(
        head.contains(&format!("location: /v1/executions/{id}")),
        "{head}"
    );
    assert_eq!(held["status"], "awaiting_approval");
    assert_eq!(held["approval"]["approvers"], json!(["role:admin"]));
    let (_, view) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(view["status"], "awaiting_approval", "{view}");
    assert!(view["approval"].get("arguments").is_none(), "{view}");

    // Approvers see it with its arguments and reasons; others do not.
    let (_, mine) = s.json("GET", "/v1/approvals", Some(&f.invoker), b"");
    assert_eq!(mine["approvals"], json!([]), "{mine}");
    let (_, listed) = s.json("GET", "/v1/approvals", Some(&f.admin), b"");
    let pending = &listed["approvals"][0];
    assert_eq!(pending["execution_id"], id.as_str(), "{listed}");
    assert_eq!(pending["arguments"], json!({"text": "hold me"}));
    assert_eq!(pending["reasons"], json!(["echoing needs a second look"]));
    assert_eq!(pending["caller_name"], "inv");
    assert_eq!(pending["decision"], hash.as_str());

    // The caller can never approve its own call; someone who is not an approver is not even
    // told it exists.
    let (status, refused) = decide(&s, &f.invoker, &id, true, "mine");
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("self_approval"))
    );
    let (status, refused) = decide(&s, &f.publisher, &id, true, "");
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    // An admin's own held call: not even an admin approves it.
    let (status, _, own) = invoke(&s, &f.admin, "hold mine");
    assert_eq!(status, 202, "{own}");
    let own_id = own["execution_id"].as_str().unwrap();
    assert_eq!(decide(&s, &f.admin, own_id, true, "").0, 403);

    // Approved with the command: it runs once, as its caller, and its record names the bundle.
    let out = cordon()
        .args([
            "approvals",
            "approve",
            &id,
            "--reason",
            "checked",
            "--server",
            &format!("http://{}", s.addr),
        ])
        .env("CORDON_API_KEY", &f.admin)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let done = finished(&s, &f.invoker, &id);
    assert_eq!(done["outcome"], "ok", "{done}");
    assert_eq!(done["result"]["output"], json!({"text": "hold me"}));
    let ran = record(&s, &f.auditor, &id);
    assert_eq!(ran["caller_name"], "inv");
    assert_eq!(ran["decision"], hash.as_str());
    let (status, again) = decide(&s, &f.admin, &id, true, "twice");
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("already_decided"))
    );

    // A synchronous caller may wait for the decision and get the answer.
    let waiter = {
        let (addr, key) = (s.addr.clone(), f.invoker.clone());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let body = json!({"text": "hold on"}).to_string();
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                c,
                "POST /v1/tools/echo/invoke HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nPrefer: wait=20\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut raw = String::new();
            c.read_to_string(&mut raw).unwrap();
            let (head, body) = raw.split_once("\r\n\r\n").unwrap();
            let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            (status, head.to_owned(), body.as_bytes().to_vec())
        })
    };
    let waiting_id = loop {
        let (_, listed) = s.json("GET", "/v1/approvals", Some(&f.admin), b"");
        let found = listed["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["arguments"]["text"] == "hold on")
            .map(|a| a["execution_id"].as_str().unwrap().to_owned());
        if let Some(id) = found {
            break id;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(decide(&s, &f.admin, &waiting_id, true, "").0, 200);
    let (status, _, body) = waiter.join().unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"], json!({"text": "hold on"}));

    // Denied: never runs, recorded `denied` with who and why.
    let (_, _, held) = invoke(&s, &f.invoker, "hold that");
    let denied_id = held["execution_id"].as_str().unwrap();
    let (status, decided) = decide(&s, &f.admin, denied_id, false, "not today");
    assert_eq!((status, &decided["state"]), (200, &json!("denied")));
    let done = finished(&s, &f.invoker, denied_id);
    assert_eq!(done["outcome"], "denied", "{done}");
    let denied = record(&s, &f.auditor, denied_id);
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["error"], "denied by admin: not today");
    assert_eq!(denied["usage"]["fuel_consumed"], 0);

    // Withdrawn by its caller.
    let (_, _, held) = invoke(&s, &f.invoker, "hold this");
    let withdrawn_id = held["execution_id"].as_str().unwrap();
    let (status, _) = s.json(
        "DELETE",
        &format!("/v1/executions/{withdrawn_id}"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 202);
    assert_eq!(
        record(&s, &f.auditor, withdrawn_id)["error"],
        "denied by inv: withdrawn"
    );

    // Expired: nobody decided within its second; recorded `denied`, and too late to approve.
    let (_, _, held) = invoke(&s, &f.invoker, "hold briefly");
    let expired_id = held["execution_id"].as_str().unwrap();
    let done = finished(&s, &f.invoker, expired_id);
    assert_eq!(done["outcome"], "denied", "{done}");
    assert_eq!(done["approval"]["state"], "expired", "{done}");
    assert_eq!(record(&s, &f.auditor, expired_id)["outcome"], "denied");
    assert_eq!(decide(&s, &f.admin, expired_id, true, "").0, 409);

    // MCP: a client that takes tasks gets one that waits for the approver; one that does not is
    // told the held call's id.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
    });
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hold via mcp"}, "_meta": meta}});
    let (status, _, payload) = post_raw(
        &s,
        &f.invoker,
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: echo\r\n",
        &call.to_string(),
    );
    let answer: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(status, 200, "{answer}");
    let task = &answer["result"];
    assert_eq!(task["status"], "working", "{answer}");
    assert!(
        task["statusMessage"]
            .as_str()
            .unwrap()
            .contains("waiting for approval by role:admin"),
        "{answer}"
    );
    let task_id = task["taskId"].as_str().unwrap().to_owned();
    assert_eq!(decide(&s, &f.admin, &task_id, true, "").0, 200);
    let done = finished(&s, &f.invoker, &task_id);
    assert_eq!(done["result"]["output"], json!({"text": "hold via mcp"}));
    let get = json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/get",
        "params": {"taskId": task_id, "_meta": meta}});
    let (_, _, payload) = post_raw(
        &s,
        &f.invoker,
        &format!(
            "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tasks/get\r\nMcp-Name: {task_id}\r\n"
        ),
        &get.to_string(),
    );
    let got: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(got["result"]["status"], "completed", "{got}");

    let (status, plain) = crate::mcp::raw_call(
        &s,
        &f.invoker,
        "application/json, text/event-stream",
        "echo",
        r#"{"text":"hold plainly"}"#,
    );
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["result"]["isError"], true, "{plain}");
    let text = plain["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("approval_pending: "), "{text}");
    let (_, listed) = s.json("GET", "/v1/approvals", Some(&f.admin), b"");
    let plain_id = listed["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["arguments"]["text"] == "hold plainly")
        .map(|a| a["execution_id"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(text.contains(&plain_id), "{text}");
    // The admin's own held call is not among those it may decide on.
    assert_eq!(listed["approvals"].as_array().unwrap().len(), 1, "{listed}");

    // Every step is in the audit log, with who did it.
    let requested = events(&s, &f.auditor, "approval.request");
    assert_eq!(requested.len(), 8);
    let granted = events(&s, &f.auditor, "approval.grant");
    assert_eq!(granted.len(), 3);
    assert_eq!(granted[2]["event"]["action"]["reason"], "checked");
    assert_eq!(granted[2]["actor"]["name"], "admin");
    let refused = events(&s, &f.auditor, "approval.deny");
    let expired: Vec<&Value> = refused
        .iter()
        .filter(|e| e["event"]["action"]["expired"] == true)
        .collect();
    assert_eq!((refused.len(), expired.len()), (3, 1), "{refused:?}");
    assert_eq!(expired[0]["actor"]["key_id"], "server");
    let (status, verified) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!((status, &verified["intact"]), (200, &json!(true)));
}

/// A listing pages through the pending calls: an approver sees the call it may decide on even
/// behind more than a listing's worth of calls only others may decide on; an admin sees the
/// listing's 500, oldest first.
#[test]
fn an_approver_finds_its_call_behind_five_hundred_others() {
    let f = fixture("approvals-paged");
    let s = Server::start_with(&f.data, &["--rate-per-key", "100000"]);
    assert_eq!(s.publish(&f.publisher, &f.signed.join("echo.wasm")).0, 201);
    apply(
        &s,
        &f.admin,
        r#"
package cordon
import rego.v1

default allow := true

approval := {"approvers": ["role:admin"]} if input.arguments.text == "for admins"

approval := {"approvers": ["key:pub"]} if input.arguments.text == "for pub"
"#,
    );
    for _ in 0..501 {
        assert_eq!(invoke(&s, &f.invoker, "for admins").0, 202);
    }
    let (status, _, held) = invoke(&s, &f.invoker, "for pub");
    assert_eq!(status, 202, "{held}");
    let listed = |key: &str| {
        let (status, list) = s.json("GET", "/v1/approvals", Some(key), b"");
        assert_eq!(status, 200, "{list}");
        list["approvals"].as_array().unwrap().clone()
    };
    let mine = listed(&f.publisher);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["execution_id"], held["execution_id"]);
    let all = listed(&f.admin);
    assert_eq!(all.len(), 500);
    assert!(all.iter().all(|a| a["arguments"]["text"] == "for admins"));
}
