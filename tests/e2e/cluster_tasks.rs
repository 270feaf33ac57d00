//! Calls started asynchronously on one node of a shared PostgreSQL store, followed, streamed
//! and cancelled through another; a node killed with a call running has it recorded
//! `interrupted` by its peer once its lease runs out; a call's trace continued by the polls of
//! another node.

use crate::cluster::{Cluster, publish};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn start(s: &crate::harness::Server, key: &str, input: &Value) -> String {
    let (status, _, body) = s.request_with(
        "POST",
        "/v1/tools/steps/invoke",
        Some(key),
        &[("Prefer", "respond-async")],
        input.to_string().as_bytes(),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let view: Value = serde_json::from_slice(&body).unwrap();
    view["execution_id"].as_str().unwrap().to_owned()
}

fn view(s: &crate::harness::Server, key: &str, id: &str) -> Value {
    let (status, v) = s.json("GET", &format!("/v1/executions/{id}"), Some(key), b"");
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls `s` until `done(view)` (at most `within`); the view then.
fn until(
    s: &crate::harness::Server,
    key: &str,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let end = Instant::now() + within;
    loop {
        let v = view(s, key, id);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < end, "not within {within:?}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_task_started_on_one_node_is_followed_and_cancelled_through_another() {
    let c = Cluster::new("cluster-tasks");
    let a = c.node("a");
    let b = c.node("b");
    publish(&a, &c.f.admin, &c.f.signed.join("steps.wasm"));
    let inv = &c.f.invoker;

    // Started on A, followed through B: progress from the store, then the whole answer.
    let id = start(&a, inv, &json!({"steps": 12, "step_ms": 200}));
    let running = until(&b, inv, &id, Duration::from_secs(20), |v| {
        v["progress"].is_object()
    });
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["progress"]["total"], 12);
    let done = until(&b, inv, &id, Duration::from_secs(20), |v| {
        v["status"] == "finished"
    });
    assert_eq!(done["outcome"], "ok", "{done}");
    assert_eq!(done["result"]["output"], 12);
    assert!(done["result"]["receipt"]["seq"].as_i64().unwrap() > 0);
    // Another invoker sees nothing through either node.
    let other = c.key_on_store("other", "invoker");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = b.json("GET", &format!("/v1/executions/{id}"), Some(&other), b"");
    assert_eq!(status, 404);

    // Streamed through B with curl: progress read from the store (where A writes it once a
    // second, `TOUCH_EVERY`: the call lasts four of those, within its 5 s limit), then the result.
    let id = start(&a, inv, &json!({"steps": 8, "step_ms": 500}));
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "30",
            "-H",
            &format!("Authorization: Bearer {inv}"),
            &format!("http://{}/v1/executions/{id}/events", b.addr),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.matches("event: progress").count() >= 2, "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: result"), "{text}");
    assert!(last.contains("\"output\":8"), "{text}");

    // Cancelled through B: A stops it within about a second.
    let id = start(&a, inv, &json!({"steps": 100, "step_ms": 100}));
    until(&b, inv, &id, Duration::from_secs(20), |v| {
        v["progress"].is_object()
    });
    let asked = Instant::now();
    let (status, v) = b.json("DELETE", &format!("/v1/executions/{id}"), Some(inv), b"");
    assert_eq!(status, 202, "{v}");
    let end = until(&b, inv, &id, Duration::from_secs(10), |v| {
        v["status"] == "finished"
    });
    let took = asked.elapsed();
    println!("cancel through another node: the call ended and was visible there after {took:?}");
    assert_eq!(end["outcome"], "cancelled", "{end}");
    assert!(
        end["result"]["error"]
            .as_str()
            .unwrap()
            .starts_with("cancelled by "),
        "{end}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // What ended is 409 on either node.
    let (status, _) = a.json("DELETE", &format!("/v1/executions/{id}"), Some(inv), b"");
    assert_eq!(status, 409);

    // A killed with a call running: B records it interrupted once A's lease runs out, and a
    // client polling B sees that.
    let id = start(&a, inv, &json!({"steps": 600, "step_ms": 100}));
    until(&b, inv, &id, Duration::from_secs(20), |v| {
        v["progress"].is_object()
    });
    // Both nodes report themselves to the store: B lists A and itself, both seen just now.
    let nodes = |s: &crate::harness::Server| {
        let (status, body) = s.json("GET", "/v1/status", Some(&c.f.auditor), b"");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["store"], "shared", "{body}");
        body["nodes"].as_array().unwrap().clone()
    };
    let seen = nodes(&b);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|n| n["stale"] == false), "{seen:?}");
    let (_, a_status) = a.json("GET", "/v1/status", Some(&c.f.auditor), b"");
    let a_name = a_status["node"].as_str().unwrap().to_owned();
    let on_a = seen.iter().find(|n| n["node"] == a_name.as_str()).unwrap();
    assert_eq!(on_a["report"]["ready"], true, "{on_a}");
    // A's own answer is live (its report to the store is up to 10 s old).
    assert_eq!(a_status["running"], 1, "{a_status}");
    let killed = Instant::now();
    a.kill9();
    let end = until(&b, inv, &id, Duration::from_secs(60), |v| {
        v["status"] == "finished"
    });
    println!(
        "a killed node's task recorded interrupted by its peer after {:?}",
        killed.elapsed()
    );
    assert_eq!(end["outcome"], "interrupted", "{end}");
    // The sweeping node claims the task (so that one node records it), then appends its record
    // through the journal's next group commit: the record follows the task's end by that.
    let mut record = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (status, r) = b.json(
            "GET",
            &format!("/v1/executions/{id}"),
            Some(&c.f.auditor),
            b"",
        );
        record = r;
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(record["outcome"], "interrupted", "{record}");
    // By then A has missed three reports: B shows it as not seen, and itself as seen.
    let seen = nodes(&b);
    let on_a = seen.iter().find(|n| n["node"] == a_name.as_str()).unwrap();
    assert_eq!(on_a["stale"], true, "{seen:?}");
    assert!(
        seen.iter()
            .any(|n| n["node"] != a_name.as_str() && n["stale"] == false),
        "{seen:?}"
    );
    let (_, verify) = b.json("GET", "/v1/audit/verify", Some(&c.f.auditor), b"");
    assert_eq!(verify["intact"], true, "{verify}");
}

/// A call started on A in the caller's trace and polled through B while it runs: B finds the
/// trace in the task's row (it never saw the request), and its polls are spans of that trace,
/// below A's request span, each linked to B's request that polled.
#[test]
fn a_call_polled_through_another_node_stays_in_the_trace_it_began_in() {
    let c = Cluster::new("cluster-traces");
    let receiver = crate::traces::Receiver::start(&c.f.data);
    let endpoint = format!("http://127.0.0.1:{}", receiver.http);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let a = c.node_env("a", &env);
    let b = c.node_env("b", &env);
    publish(&a, &c.f.admin, &c.f.signed.join("steps.wasm"));
    let inv = &c.f.invoker;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, _, body) = a.request_with(
        "POST",
        "/v1/tools/steps/invoke",
        Some(inv),
        &[
            ("Prefer", "respond-async"),
            ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
        ],
        json!({"steps": 10, "step_ms": 200}).to_string().as_bytes(),
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<Value>(&body).unwrap()["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Polled through B in a trace of B's caller's own, while the call runs on A.
    let poller = "5bf92f3577b34da6a3ce929d0e0e4737";
    let (status, _, body) = b.request_with(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(inv),
        &[("traceparent", &format!("00-{poller}-2222222222222222-01"))],
        b"",
    );
    assert_eq!(status, 200);
    let polled: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(polled["status"], "running", "{polled}");
    let done = until(&b, inv, &id, Duration::from_secs(20), |v| {
        v["status"] == "finished"
    });
    assert_eq!(done["outcome"], "ok", "{done}");

    let spans = receiver.trace_until(trace, |spans| {
        spans.iter().any(|s| s["name"] == "record")
            && spans
                .iter()
                .any(|s| s["name"] == "POST /v1/tools/{}/invoke")
            && spans.iter().filter(|s| s["name"] == "poll steps").count() >= 2
    });
    let top = spans
        .iter()
        .find(|s| s["name"] == "POST /v1/tools/{}/invoke")
        .unwrap();
    let run = spans
        .iter()
        .find(|s| s["name"] == "execute_tool steps")
        .unwrap();
    assert!(crate::traces::below(&spans, run, top), "{spans:#?}");
    let polls: Vec<&Value> = spans.iter().filter(|s| s["name"] == "poll steps").collect();
    for poll in &polls {
        assert_eq!(poll["parent_span_id"], top["span_id"], "{poll}");
        assert_eq!(poll["attributes"]["cordon.execution_id"], id.as_str());
    }
    // B's request in its caller's trace, linked from the poll it made of A's call.
    let outer = receiver.trace(poller, "GET /v1/executions/{}");
    let get = outer
        .iter()
        .find(|s| s["name"] == "GET /v1/executions/{}")
        .unwrap();
    let get_id = get["span_id"].as_str().unwrap();
    assert!(
        polls.iter().any(|p| crate::traces::links_to(p, get_id)),
        "{polls:#?} {get}"
    );
}
