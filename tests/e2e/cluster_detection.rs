//! Detection rules across two nodes on one PostgreSQL (issue 38): denials spread over both nodes
//! count toward one rule, which fires once: one alert, the tool quarantined and the caller
//! suspended on every node, each an event with the rule as its actor; an admin lifts the
//! suspension with `cordon suspensions lift` on the other node; calls over a quota on both
//! nodes raise one alert.

use crate::cluster::{Cluster, invoke, ok_on_store, publish, until, within_plus};
use serde_json::Value;
use std::time::Duration;

/// The key id of a key's secret (`cordon_<id>_<secret>`).
fn key_id(secret: &str) -> &str {
    secret
        .strip_prefix("cordon_")
        .and_then(|rest| rest.split('_').next())
        .unwrap()
}

fn alerts_of(s: &crate::harness::Server, key: &str, rule: &str) -> Vec<Value> {
    let (status, list) = s.json("GET", "/v1/alerts", Some(key), b"");
    assert_eq!(status, 200, "{list}");
    list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == rule)
        .cloned()
        .collect()
}

fn whoami(s: &crate::harness::Server, key: &str) -> (u16, Value) {
    s.json("GET", "/v1/whoami", Some(key), b"")
}

#[test]
fn a_burst_spread_over_two_nodes_fires_once_and_is_contained_on_both() {
    let c = Cluster::new("cluster-detection");
    let f = &c.f;
    let greedy = ok_on_store(
        &c.url,
        &["keys", "create", "--name", "greedy", "--role", "invoker"],
    );
    let config = f.data.join("detect.toml");
    std::fs::write(
        &config,
        format!(
            "[quotas.callers.\"{greedy}\"]\nexecutions_per_day = 1\n\n\
             [[detect.rules]]\nname = \"denied-tools\"\non = \"denial\"\nper = \"tool\"\ncount = 4\nwindow = \"1m\"\nthen = [\"alert\", \"quarantine\"]\n\n\
             [[detect.rules]]\nname = \"denying-callers\"\non = \"denial\"\nper = \"caller\"\ncount = 4\nwindow = \"1m\"\nthen = [\"suspend_caller\"]\nsuspend_for = \"10m\"\n\n\
             [[detect.rules]]\nname = \"over-quota\"\non = \"quota_exceeded\"\nper = \"caller\"\ncount = 2\nwindow = \"1m\"\n",
            greedy = key_id(&greedy)
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (a, b) = (c.node_with("a", &args), c.node_with("b", &args));
    let compile = publish(&a, &f.publisher, &f.signed.join("echo.wasm"));
    within_plus(
        "publish on A -> invoke on B",
        until(|| invoke(&b, &f.admin, "echo", r#"{"n":0}"#).0 == 200),
        compile,
    );

    // Over its quota once on each node: one alert, raised by whichever node's count completed
    // the rule's.
    assert_eq!(invoke(&a, &greedy, "echo", r#"{"n":1}"#).0, 200);
    assert_eq!(invoke(&a, &greedy, "echo", r#"{"n":2}"#).0, 429);
    assert_eq!(invoke(&b, &greedy, "echo", r#"{"n":3}"#).0, 429);
    let raised = until(|| alerts_of(&b, &f.auditor, "over-quota").len() == 1);
    assert!(raised.is_some(), "no over-quota alert");
    let alert = &alerts_of(&a, &f.auditor, "over-quota")[0];
    assert_eq!(alert["details"]["key"], key_id(&greedy), "{alert}");
    assert_eq!(alert["details"]["count"], 2, "{alert}");

    // echo for admins only, on both nodes.
    let (status, set) = a.json(
        "PUT",
        "/v1/tools/echo/policy",
        Some(&f.admin),
        b"[access]\nroles = [\"admin\"]\n",
    );
    assert_eq!(status, 200, "{set}");
    let applied = until(|| {
        let (_, view) = b.json("GET", "/v1/tools/echo/policy", Some(&f.admin), b"");
        view.to_string().contains("roles")
    });
    assert!(applied.is_some(), "the policy did not reach B");

    // Two denials on each node: neither node alone saw the rules' count of four.
    for s in [&a, &b, &a, &b] {
        let (status, refused) = invoke(s, &f.invoker, "echo", r#"{"n":4}"#);
        assert_eq!(status, 403, "{refused}");
    }
    let contained = until(|| {
        invoke(&a, &f.admin, "echo", "{}").0 == 423 && invoke(&b, &f.admin, "echo", "{}").0 == 423
    });
    assert!(
        contained.is_some(),
        "echo was not quarantined on both nodes"
    );
    let suspended = until(|| whoami(&a, &f.invoker).0 == 403 && whoami(&b, &f.invoker).0 == 403);
    assert!(
        suspended.is_some(),
        "the invoker was not suspended on both nodes"
    );
    let (_, refused) = whoami(&b, &f.invoker);
    assert_eq!(refused["error"]["code"], "caller_suspended", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("rule:denying-callers") && message.contains("cordon suspensions lift"),
        "{message}"
    );
    // Another invoker is not concerned.
    assert_eq!(whoami(&b, &greedy).0, 200);

    // One alert, one quarantine, one suspension, each by its rule.
    std::thread::sleep(Duration::from_millis(1500));
    let alerts = alerts_of(&a, &f.auditor, "denied-tools");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["details"]["count"], 4);
    assert_eq!(alerts[0]["details"]["key"], "echo");
    let events = |kind: &str| {
        let (status, page) = b.json(
            "GET",
            &format!("/v1/audit/events?kind={kind}"),
            Some(&f.auditor),
            b"",
        );
        assert_eq!(status, 200, "{page}");
        page["events"].as_array().unwrap().clone()
    };
    let quarantined = events("tool.quarantine");
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(
        quarantined[0]["event"]["actor"]["key_id"],
        "rule:denied-tools"
    );
    let suspensions = events("caller.suspend");
    assert_eq!(suspensions.len(), 1, "{suspensions:?}");
    let action = &suspensions[0]["event"]["action"];
    assert_eq!(
        suspensions[0]["event"]["actor"]["key_id"],
        "rule:denying-callers"
    );
    assert_eq!(action["caller"], key_id(&f.invoker));
    let (_, listed) = a.json("GET", "/v1/suspensions", Some(&f.auditor), b"");
    assert_eq!(
        listed["suspensions"][0]["caller"],
        key_id(&f.invoker),
        "{listed}"
    );
    let left = listed["suspensions"][0]["until_ms"].as_i64().unwrap()
        - listed["suspensions"][0]["at_ms"].as_i64().unwrap();
    assert_eq!(left, 600_000);

    // Lifted on B with the command, in force on A.
    let out = crate::harness::cordon()
        .env("CORDON_API_KEY", &f.admin)
        .args(["suspensions", "lift", key_id(&f.invoker), "--server"])
        .arg(format!("http://{}", b.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lifted"));
    let back = until(|| whoami(&a, &f.invoker).0 == 200);
    within_plus("lifted on B -> in force on A", back, Duration::ZERO);
    assert_eq!(events("caller.resume").len(), 1);
    // Lifting what is not suspended says so.
    let out = crate::harness::cordon()
        .env("CORDON_API_KEY", &f.admin)
        .args(["suspensions", "lift", key_id(&f.invoker), "--server"])
        .arg(format!("http://{}", a.addr))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is not suspended"));
}
