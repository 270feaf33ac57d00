//! Decisions and approvals across two nodes on one PostgreSQL (issue 37): a bundle applied on
//! one node decides on the other within a second; a call held on A is approved on B and runs
//! once; two approvers deciding at once on different nodes make one decision; a call nobody
//! approves is recorded `denied` once although every node sweeps.

use crate::approvals::finished;
use crate::cluster::{Cluster, invoke, publish, until, within, within_plus};
use serde_json::{Value, json};
use std::time::Duration;

const POLICY: &str = r#"
package cordon
import rego.v1

default allow := true

deny contains "no secrets" if contains(object.get(input.arguments, "text", ""), "secret")

approval := {"approvers": ["role:admin"], "timeout_secs": 600} if {
	startswith(object.get(input.arguments, "text", ""), "hold")
	input.arguments.text != "hold briefly"
}

approval := {"approvers": ["role:admin"], "timeout_secs": 1} if input.arguments.text == "hold briefly"
"#;

fn records_of(s: &crate::harness::Server, auditor: &str, id: &str) -> usize {
    let (status, page) = s.json(
        "GET",
        "/v1/executions?tool=echo&limit=1000",
        Some(auditor),
        b"",
    );
    assert_eq!(status, 200, "{page}");
    page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == id)
        .count()
}

fn held(s: &crate::harness::Server, key: &str, text: &str) -> String {
    let (status, view) = invoke(s, key, "echo", &json!({"text": text}).to_string());
    assert_eq!(status, 202, "{view}");
    assert_eq!(view["status"], "awaiting_approval", "{view}");
    view["execution_id"].as_str().unwrap().to_owned()
}

fn decide(s: &crate::harness::Server, key: &str, id: &str, approve: bool) -> (u16, Value) {
    s.json(
        "POST",
        &format!("/v1/approvals/{id}"),
        Some(key),
        json!({"approve": approve}).to_string().as_bytes(),
    )
}

#[test]
fn a_call_held_on_one_node_is_approved_on_another_and_runs_once() {
    let c = Cluster::new("cluster-approvals");
    let (a, b) = (c.node("a"), c.node("b"));
    let f = &c.f;
    let compile = publish(&a, &f.publisher, &f.signed.join("echo.wasm"));
    within_plus(
        "publish on A -> invoke on B",
        until(|| invoke(&b, &f.invoker, "echo", r#"{"text":"hi"}"#).0 == 200),
        compile,
    );

    // Applied on A, deciding on B within a second.
    let body = json!({"modules": [{"path": "policy.rego", "text": POLICY}]});
    let (status, applied) = a.json(
        "PUT",
        "/v1/decisions",
        Some(&f.admin),
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{applied}");
    within(
        "decisions applied on A -> denying on B",
        until(|| invoke(&b, &f.invoker, "echo", r#"{"text":"a secret"}"#).0 == 403),
    );
    let (_, shown) = b.json("GET", "/v1/decisions", Some(&f.admin), b"");
    assert_eq!(shown["hash"], applied["hash"]);

    // Held on A, seen and approved on B, followed on A: it ran once.
    let id = held(&a, &f.invoker, "hold me");
    let (_, listed) = b.json("GET", "/v1/approvals", Some(&f.admin), b"");
    assert_eq!(
        listed["approvals"][0]["execution_id"],
        id.as_str(),
        "{listed}"
    );
    let (status, approved) = decide(&b, &f.admin, &id, true);
    assert_eq!((status, &approved["state"]), (200, &json!("approved")));
    let done = finished(&a, &f.invoker, &id);
    assert_eq!(done["outcome"], "ok", "{done}");
    assert_eq!(done["result"]["output"], json!({"text": "hold me"}));
    assert_eq!(decide(&a, &f.admin, &id, true).0, 409);
    assert_eq!(records_of(&a, &f.auditor, &id), 1);

    // Two approvers at once, on two nodes: one decision takes effect, the call runs once.
    let id = held(&b, &f.invoker, "hold both");
    let (ra, rb) = std::thread::scope(|scope| {
        let on_a = scope.spawn(|| decide(&a, &f.admin, &id, true).0);
        let on_b = scope.spawn(|| decide(&b, &f.admin, &id, true).0);
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    let mut statuses = [ra, rb];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(finished(&b, &f.invoker, &id)["outcome"], "ok");
    assert_eq!(records_of(&b, &f.auditor, &id), 1);

    // Nobody approves: denied once, however many nodes sweep.
    let id = held(&a, &f.invoker, "hold briefly");
    let done = finished(&b, &f.invoker, &id);
    assert_eq!(done["outcome"], "denied", "{done}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(records_of(&a, &f.auditor, &id), 1);
    let (_, denials) = b.json(
        "GET",
        "/v1/audit/events?kind=approval.deny&limit=10",
        Some(&f.auditor),
        b"",
    );
    assert_eq!(denials["events"].as_array().unwrap().len(), 1, "{denials}");
    let (status, verified) = a.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(
        (status, &verified["intact"]),
        (200, &json!(true)),
        "{verified}"
    );
}
