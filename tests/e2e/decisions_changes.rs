//! Decisions over the operators' changes (issue 37): a bundle in force decides publishing, a
//! tool's policy change and an API key's creation or revocation, after the caller's role allowed
//! them; a refusal is a `decision.deny` event naming the action. No bundle can lock the admins
//! out: applying and removing the bundle itself is never decided.

use crate::decisions_server::decisions;
use crate::harness::{Server, fixture};
use serde_json::{Value, json};
use std::path::Path;

/// Calls for everyone; publishers publish what reaches no network; admins change anything, but
/// no policy opens a host outside example.com or gives more than 30 s, keys expire within 90
/// days and admin keys are revoked on the host only. word-count's publication asks for an
/// approval, which a change never gets.
const POLICY: &str = r#"
package cordon
import rego.v1

default allow := false

allow if input.action in {"invoke", "list"}

allow if {
	input.action == "publish"
	"publisher" in input.caller.roles
	not input.tool.open_world
}

allow if {
	input.action in {"publish", "policy_change", "key_change"}
	"admin" in input.caller.roles
}

# A host is `scheme://host:port`, as the policy's allow list means it.
deny contains sprintf("%s may reach example.com only, not %s", [input.tool.name, host]) if {
	input.action == "policy_change"
	some host in input.tool.hosts
	not endswith(host, ".example.com:443")
}

deny contains "no tool runs longer than 30 s" if {
	input.action == "policy_change"
	input.arguments.limits.timeout_ms > 30000
}

deny contains "an API key expires within 90 days" if {
	input.action == "key_change"
	input.arguments.operation == "create"
	not expires_within_90_days
}

# Not `input.arguments.expires_in_secs <= 7776000` alone: Rego orders values of any type, and
# null (no expiry) sorts before every number.
expires_within_90_days if {
	is_number(input.arguments.expires_in_secs)
	input.arguments.expires_in_secs <= 7776000
}

deny contains "admin keys are revoked on the host" if {
	input.action == "key_change"
	input.arguments.operation == "revoke"
	input.arguments.role == "admin"
}

# What a tool says of itself reaches the decision too.
deny contains sprintf("%s says it destroys: an admin publishes it", [input.tool.name]) if {
	input.action == "publish"
	input.tool.annotations.destructiveHint
	not "admin" in input.caller.roles
}

approval := {"approvers": ["role:admin"]} if {
	input.action == "publish"
	input.tool.name == "word-count"
}
"#;

const DENY_ALL: &str = "package cordon\nimport rego.v1\ndefault allow := false\n";

fn apply(s: &Server, key: &str, name: &str, text: &str) -> std::process::Output {
    let dir = crate::common::temp_dir(name);
    std::fs::write(dir.join("policy.rego"), text).unwrap();
    decisions(s, key, &["apply", dir.to_str().unwrap()])
}

fn put_policy(s: &Server, key: &str, tool: &str, text: &str) -> (u16, Value) {
    s.json(
        "PUT",
        &format!("/v1/tools/{tool}/policy"),
        Some(key),
        text.as_bytes(),
    )
}

fn refused(answer: &(u16, Value)) -> Vec<String> {
    assert_eq!(answer.0, 403, "{}", answer.1);
    assert_eq!(
        answer.1["error"]["code"], "denied_by_policy",
        "{}",
        answer.1
    );
    serde_json::from_value(answer.1["error"]["reasons"].clone()).unwrap_or_default()
}

fn wasm(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.wasm"))
}

#[test]
fn a_bundle_decides_publishing_policy_changes_and_keys() {
    let f = fixture("decisions-changes");
    let s = Server::start(&f.data);
    let applied = apply(&s, &f.admin, "decisions-changes-policy", POLICY);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    // Publishing: a publisher's tool that reaches the network (the repository's policies open
    // http-get's) is refused and not published; one that does not is; an admin publishes both.
    let answer = s.publish(&f.publisher, &wasm(&f.signed, "http_get"));
    assert_eq!(refused(&answer), Vec::<String>::new());
    let message = answer.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("publishing http-get") && message.contains("no rule"),
        "{message}"
    );
    let (status, _) = s.json("GET", "/v1/tools/http-get", Some(&f.admin), b"");
    assert_eq!(status, 404);
    assert_eq!(s.publish(&f.publisher, &wasm(&f.signed, "echo")).0, 201);
    // The conformance toolbox carries confirm_delete, which says it is destructive: each of its
    // tools is decided, and that one refuses the whole component.
    let reasons = refused(&s.publish(&f.publisher, &wasm(&f.signed, "conformance")));
    assert_eq!(
        reasons,
        ["confirm_delete says it destroys: an admin publishes it"]
    );
    let (status, _) = s.json("GET", "/v1/tools/greet", Some(&f.admin), b"");
    assert_eq!(status, 404);
    assert_eq!(s.publish(&f.admin, &wasm(&f.signed, "http_get")).0, 201);
    // A change is never held for approval: asking for one refuses it, saying why.
    let reasons = refused(&s.publish(&f.admin, &wasm(&f.signed, "word_count")));
    assert!(
        reasons.len() == 1 && reasons[0].contains("only tool calls wait"),
        "{reasons:?}"
    );

    // Policy changes: the tool as it would run under the new policy (its hosts), and the
    // policy's own keys; a refused policy leaves the one in force.
    let reasons = refused(&put_policy(
        &s,
        &f.admin,
        "echo",
        "[network]\nallow = [\"https://api.example.com\", \"https://evil.test\"]\n",
    ));
    assert_eq!(
        reasons,
        ["echo may reach example.com only, not https://evil.test:443"]
    );
    let reasons = refused(&put_policy(
        &s,
        &f.admin,
        "echo",
        "[limits]\ntimeout_ms = 60000\n",
    ));
    assert_eq!(reasons, ["no tool runs longer than 30 s"]);
    let (status, policy) = s.json("GET", "/v1/tools/echo/policy", Some(&f.admin), b"");
    assert_eq!(status, 200, "{policy}");
    assert!(
        !policy["policy"].as_str().unwrap().contains("evil"),
        "{policy}"
    );
    assert!(
        !policy["policy"].as_str().unwrap().contains("60000"),
        "{policy}"
    );
    assert_eq!(s.count(&f.auditor, "policy.set"), 0);
    let (status, set) = put_policy(&s, &f.admin, "echo", "[limits]\ntimeout_ms = 5000\n");
    assert_eq!(
        (status, &set["versions_changed"]),
        (200, &json!(1)),
        "{set}"
    );
    // The role still comes first: a publisher may not change a policy, whatever the bundle.
    let (status, _) = put_policy(&s, &f.publisher, "echo", "");
    assert_eq!(status, 403);

    // Keys: made with an expiry within 90 days only; an admin key is not revoked over the API.
    let key = |body: Value| {
        s.json(
            "POST",
            "/v1/keys",
            Some(&f.admin),
            body.to_string().as_bytes(),
        )
    };
    let reasons = refused(&key(json!({"name": "ci", "role": "publisher"})));
    assert_eq!(reasons, ["an API key expires within 90 days"]);
    let (status, made) = key(json!({"name": "ci", "role": "publisher", "expires_in_secs": 86400}));
    assert_eq!(status, 201, "{made}");
    let reasons = refused(&s.json("DELETE", "/v1/keys/admin", Some(&f.admin), b""));
    assert_eq!(reasons, ["admin keys are revoked on the host"]);
    assert_eq!(
        s.request("DELETE", "/v1/keys/ci", Some(&f.admin), b"").0,
        204
    );

    // Every refusal is an event naming its action, the tool (none for a key) and the bundle.
    let (_, page) = s.json(
        "GET",
        "/v1/audit/events?kind=decision.deny&limit=100",
        Some(&f.auditor),
        b"",
    );
    let events = page["events"].as_array().unwrap();
    // Newest first.
    let seen: Vec<(&str, &str)> = events
        .iter()
        .rev()
        .map(|e| {
            let a = &e["event"]["action"];
            (a["action"].as_str().unwrap(), a["tool"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("publish", "http-get"),
            ("publish", "confirm_delete"),
            ("publish", "word-count"),
            ("policy_change", "echo"),
            ("policy_change", "echo"),
            ("key_change", ""),
            ("key_change", ""),
        ],
        "{page}"
    );
    let (_, shown) = s.json("GET", "/v1/decisions", Some(&f.auditor), b"");
    for e in events {
        assert_eq!(e["event"]["action"]["decision"], shown["hash"], "{e}");
    }
    // The key's event concerns no tool: filtering by tool does not find it.
    assert!(
        events[0].get("tool").is_none_or(Value::is_null),
        "{}",
        events[0]
    );

    // A bundle that allows nothing refuses every change, but never its own replacement or
    // removal: the admins are not locked out.
    assert!(
        apply(&s, &f.admin, "decisions-changes-none", DENY_ALL)
            .status
            .success()
    );
    refused(&s.publish(&f.admin, &wasm(&f.signed, "word_count")));
    refused(&put_policy(&s, &f.admin, "echo", ""));
    let removed = decisions(&s, &f.admin, &["remove"]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(s.publish(&f.admin, &wasm(&f.signed, "word_count")).0, 201);
    let (status, verified) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(
        (status, &verified["intact"]),
        (200, &json!(true)),
        "{verified}"
    );
}
