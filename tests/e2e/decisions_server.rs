//! Decisions applied to a running server (issue 37): a bundle put in force with `cordon
//! decisions apply`, checked at apply time, enforced over REST and MCP (refused and hidden, a
//! reason over the arguments, the client's address, the hour), recorded (denials as events, the
//! bundle's hash in allowed records), and taken away again.

use crate::harness::{Server, cordon, fixture};
use crate::mcp::post_raw;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A bundle directory holding one module, `policy.rego`.
fn bundle(name: &str, text: &str) -> PathBuf {
    let dir = crate::common::temp_dir(name);
    std::fs::write(dir.join("policy.rego"), text).unwrap();
    dir
}

/// Invokers may call and see every tool but word-count; admins everything. No input may mention
/// a secret, and calls come from the loopback network only.
const POLICY: &str = r#"
package cordon
import rego.v1

default allow := false

allow if {
	input.action in {"invoke", "list"}
	input.tool.name != "word-count"
}

allow if "admin" in input.caller.roles

deny contains sprintf("%s: no secrets in the input", [input.tool.name]) if {
	contains(object.get(input.arguments, "text", ""), "secret")
}

deny contains "calls come from the loopback network only" if {
	not net.cidr_contains("127.0.0.0/8", input.request.address)
}
"#;

/// `cordon decisions ARGS --server` against `s`, with `key`.
pub fn decisions(s: &Server, key: &str, args: &[&str]) -> std::process::Output {
    cordon()
        .arg("decisions")
        .args(args)
        .args(["--server", &format!("http://{}", s.addr)])
        .env("CORDON_API_KEY", key)
        .output()
        .unwrap()
}

fn apply(s: &Server, key: &str, dir: &Path) -> std::process::Output {
    decisions(s, key, &["apply", dir.to_str().unwrap()])
}

fn invoke(s: &Server, key: &str, tool: &str, input: &Value) -> (u16, Value) {
    s.json(
        "POST",
        &format!("/v1/tools/{tool}/invoke"),
        Some(key),
        input.to_string().as_bytes(),
    )
}

fn listed(s: &Server, key: &str) -> Vec<String> {
    let (status, list) = s.json("GET", "/v1/tools", Some(key), b"");
    assert_eq!(status, 200, "{list}");
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// One stateless MCP request; the JSON-RPC answer.
fn mcp(s: &Server, key: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, _, payload) = post_raw(
        s,
        key,
        "Accept: application/json, text/event-stream\r\n",
        &body.to_string(),
    );
    assert_eq!(status, 200, "{payload}");
    serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}: {payload}"))
}

fn denials(s: &Server, key: &str) -> Vec<Value> {
    let (status, page) = s.json(
        "GET",
        "/v1/audit/events?kind=decision.deny&limit=100",
        Some(key),
        b"",
    );
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[test]
fn a_bundle_applied_to_a_server_decides_over_rest_and_mcp() {
    let f = fixture("decisions-server");
    let s = Server::start_with(&f.data, &["--trusted-proxies", "127.0.0.1"]);
    for tool in ["echo", "word_count"] {
        let (status, body) = s.publish(&f.publisher, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    let text = json!({"text": "hello there"});

    // With no bundle, today's behaviour.
    let (status, none) = s.json("GET", "/v1/decisions", Some(&f.auditor), b"");
    assert_eq!((status, &none["hash"]), (200, &Value::Null), "{none}");
    assert_eq!(listed(&s, &f.invoker), ["echo", "word-count"]);
    assert_eq!(invoke(&s, &f.invoker, "word-count", &text).0, 200);

    // Only an admin applies; a field the input document lacks is refused at apply time,
    // naming it; so is a bundle whose own tests fail (checked by the command, nothing sent).
    let dir = bundle("decisions-server-policy", POLICY);
    let out = apply(&s, &f.publisher, &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let typo = bundle(
        "decisions-server-typo",
        &POLICY.replace("input.tool.name !=", "input.tool.nmae !="),
    );
    let out = apply(&s, &f.admin, &typo);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("nmae") && said.contains("policy.rego"),
        "{said}"
    );
    let failing = bundle("decisions-server-failing", POLICY);
    std::fs::write(
        failing.join("policy_test.rego"),
        "package cordon_test\nimport rego.v1\ntest_nobody if not data.cordon.allow with input as {\"action\": \"invoke\", \"caller\": {\"roles\": [\"admin\"]}}\n",
    )
    .unwrap();
    let out = apply(&s, &f.admin, &failing);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("test_nobody"), "{said}");
    assert_eq!(s.count(&f.auditor, "decisions.apply"), 0);

    let out = apply(&s, &f.admin, &dir);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let (_, shown) = s.json("GET", "/v1/decisions", Some(&f.auditor), b"");
    let hash = shown["hash"].as_str().unwrap().to_owned();
    assert!(said.contains(&hash), "{said}");
    assert_eq!(shown["bundle"]["modules"][0]["text"], POLICY);
    assert_eq!(shown["history"].as_array().unwrap().len(), 1, "{shown}");
    // Applying the same bundle again changes nothing and records nothing.
    assert_eq!(apply(&s, &f.admin, &dir).status.code(), Some(0));
    assert_eq!(s.count(&f.auditor, "decisions.apply"), 1);

    // A tool denied to invokers is refused and hidden, over REST...
    assert_eq!(listed(&s, &f.invoker), ["echo"]);
    assert_eq!(
        s.json("GET", "/v1/tools/word-count", Some(&f.invoker), b"")
            .0,
        404
    );
    let (status, refused) = invoke(&s, &f.invoker, "word-count", &text);
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "denied_by_policy");
    assert!(refused["error"].get("reasons").is_none(), "{refused}");
    // ...and over MCP.
    let tools = mcp(&s, &f.invoker, "tools/list", json!({}));
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo"], "{tools}");
    let call = mcp(
        &s,
        &f.invoker,
        "tools/call",
        json!({"name": "word-count", "arguments": text}),
    );
    assert_eq!(call["result"]["isError"], true, "{call}");
    assert_eq!(call["result"]["_meta"]["cordon/code"], "denied_by_policy");
    // Admins still see and call it; publishers manage (and see) every tool.
    assert_eq!(invoke(&s, &f.admin, "word-count", &text).0, 200);
    assert_eq!(listed(&s, &f.publisher), ["echo", "word-count"]);

    // A reason over the arguments comes back, over REST and MCP.
    let secret = json!({"text": "my secret"});
    let (status, refused) = invoke(&s, &f.invoker, "echo", &secret);
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"]["reasons"],
        json!(["echo: no secrets in the input"])
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("echo: no secrets in the input"),
        "{refused}"
    );
    let call = mcp(
        &s,
        &f.invoker,
        "tools/call",
        json!({"name": "echo", "arguments": secret}),
    );
    assert_eq!(call["result"]["isError"], true, "{call}");
    assert_eq!(
        call["result"]["_meta"]["cordon/reasons"],
        json!(["echo: no secrets in the input"])
    );
    assert!(
        call["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no secrets"),
        "{call}"
    );

    // The client's address: a request a trusted proxy forwards from outside is refused.
    let (status, _, body) = s.request_with(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        &[("X-Forwarded-For", "203.0.113.9")],
        text.to_string().as_bytes(),
    );
    let refused: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"]["reasons"],
        json!(["calls come from the loopback network only"])
    );

    // An allowed call runs, and its record names the bundle.
    let (status, ok) = invoke(&s, &f.invoker, "echo", &text);
    assert_eq!(status, 200, "{ok}");
    let id = ok["execution_id"].as_str().unwrap();
    let (_, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(record["decision"], hash.as_str(), "{record}");

    // Every denial is an event with the caller, the tool, the reasons and the bundle.
    let denied = denials(&s, &f.auditor);
    assert_eq!(denied.len(), 5, "{denied:?}");
    let inv_id = {
        let (_, me) = s.json("GET", "/v1/whoami", Some(&f.invoker), b"");
        me["id"].as_str().unwrap().to_owned()
    };
    for e in &denied {
        assert_eq!(e["event"]["actor"]["key_id"], inv_id.as_str(), "{e}");
        assert_eq!(e["event"]["action"]["decision"], hash.as_str(), "{e}");
    }
    let protocols: Vec<&str> = denied
        .iter()
        .map(|e| e["event"]["action"]["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(protocols, ["rest", "mcp", "rest", "mcp", "rest"]);
    assert_eq!(denied[1]["event"]["action"]["tool"], "echo");
    assert_eq!(
        denied[1]["event"]["action"]["reasons"],
        json!(["echo: no secrets in the input"])
    );

    // The hour: a bundle closing the current hour (and the next, should it turn meanwhile)
    // refuses; one closing hours three and four from now does not.
    let hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600)
        % 24;
    let closed = |from: u64| {
        format!(
            "{POLICY}\ndeny contains \"closed at this hour\" if input.request.hour in {{{}, {}}}\n",
            (hour + from) % 24,
            (hour + from + 1) % 24
        )
    };
    let now_closed = bundle("decisions-server-hour", &closed(0));
    assert_eq!(apply(&s, &f.admin, &now_closed).status.code(), Some(0));
    let (status, refused) = invoke(&s, &f.invoker, "echo", &text);
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["reasons"], json!(["closed at this hour"]));
    let later = bundle("decisions-server-later", &closed(3));
    assert_eq!(apply(&s, &f.admin, &later).status.code(), Some(0));
    assert_eq!(invoke(&s, &f.invoker, "echo", &text).0, 200);
    let (_, shown) = s.json("GET", "/v1/decisions", Some(&f.admin), b"");
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history.len(), 3, "{shown}");
    assert_eq!(history[1]["previous"], hash.as_str());
    // An older bundle is shown by its hash.
    let (status, old) = s.json(
        "GET",
        &format!("/v1/decisions/{hash}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!((status, &old["modules"][0]["text"]), (200, &json!(POLICY)));

    // Taken away: the `[access]` rules alone decide again.
    let out = decisions(&s, &f.admin, &["remove"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(invoke(&s, &f.invoker, "word-count", &text).0, 200);
    assert_eq!(listed(&s, &f.invoker), ["echo", "word-count"]);
    assert_eq!(s.count(&f.auditor, "decisions.remove"), 1);
    let (status, verified) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(
        (status, &verified["intact"]),
        (200, &json!(true)),
        "{verified}"
    );
}
