//! Traces (issue 39): a REST invoke with a `traceparent` and an MCP `tools/call` whose `_meta`
//! names the caller's trace each arrive at an OTLP receiver (the official protobuf definitions,
//! over HTTP and over gRPC) as one trace under the caller's span, with the spans of the call
//! nested as docs/observability.md says, named and attributed as the OpenTelemetry conventions
//! say, and never an argument's value.

use crate::harness::{Server, first_line, fixture, venv_with};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROTO: &str = "opentelemetry-proto==1.45.2";
const GRPC: &str = "grpcio==1.85.4";

fn python() -> PathBuf {
    let imports = |module: &'static str| {
        move |venv: &Path| {
            Command::new(venv.join("bin/python"))
                .args(["-c", &format!("import {module}")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    };
    venv_with(GRPC, imports("grpc"));
    venv_with(
        PROTO,
        imports("opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc"),
    )
    .join("bin/python")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `otlp_receiver.py`: OTLP over HTTP and gRPC, every span and data point a JSON line.
pub(crate) struct Receiver {
    child: Child,
    pub(crate) http: u16,
    grpc: u16,
    out: PathBuf,
}

impl Receiver {
    pub(crate) fn start(dir: &Path) -> Receiver {
        let (http, grpc) = (free_port(), free_port());
        let out = dir.join("otlp.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/otlp_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .args([http.to_string(), grpc.to_string()])
            .arg(&out)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(first_line(&mut child).trim(), "ready");
        Receiver {
            child,
            http,
            grpc,
            out,
        }
    }

    /// Every span received so far of trace `trace_id`.
    fn spans(&self, trace_id: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["signal"] == "span" && v["trace_id"] == trace_id)
            .collect()
    }

    /// A server with `data` exporting its spans here over OTLP/HTTP, every 100 ms.
    pub(crate) fn serve(&self, data: &Path, extra: &[&str]) -> Server {
        let endpoint = format!("http://127.0.0.1:{}", self.http);
        Server::start_env(
            data,
            extra,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        )
    }

    /// The first span received that `wanted` says yes to (waiting at most 20 s).
    pub(crate) fn span_where(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = std::fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["signal"] == "span" && wanted(v));
            if let Some(found) = found {
                return found;
            }
            assert!(Instant::now() < deadline, "no such span");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The spans of `trace_id` once one named `last` has arrived (at most 20 s).
    pub(crate) fn trace(&self, trace_id: &str, last: &str) -> Vec<Value> {
        self.trace_until(trace_id, |spans| spans.iter().any(|s| s["name"] == last))
    }

    /// The spans of `trace_id` once `complete` says they are all there (at most 20 s).
    pub(crate) fn trace_until(
        &self,
        trace_id: &str,
        complete: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans(trace_id);
            if complete(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "incomplete trace: {spans:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

/// Whether `child` is below `ancestor` in `spans`.
pub(crate) fn below(spans: &[Value], child: &Value, ancestor: &Value) -> bool {
    let mut at = child.clone();
    for _ in 0..16 {
        let parent = at["parent_span_id"].as_str().unwrap_or_default().to_owned();
        if parent == ancestor["span_id"] {
            return true;
        }
        match spans.iter().find(|s| s["span_id"] == parent.as_str()) {
            Some(p) => at = p.clone(),
            None => return false,
        }
    }
    false
}

/// No attribute of any span holds `marker` (an argument's value).
fn never_holds(spans: &[Value], marker: &str) {
    for s in spans {
        assert!(!s.to_string().contains(marker), "{marker} in {s}");
    }
}

/// The spans of a call nested under `top`: admission (with the decision when a bundle is in
/// force), the sandboxed call, the durable record.
fn check_call(spans: &[Value], top: &Value, execution_id: &str) {
    for name in ["admit", "execute_tool echo", "record"] {
        let span = named(spans, name);
        assert!(
            span["parent_span_id"] == top["span_id"],
            "{name} is not a child of {}: {spans:#?}",
            top["name"]
        );
    }
    let tool = named(spans, "execute_tool echo");
    let a = &tool["attributes"];
    assert_eq!(a["gen_ai.operation.name"], "execute_tool", "{tool}");
    assert_eq!(a["gen_ai.tool.name"], "echo", "{tool}");
    assert_eq!(a["cordon.execution_id"], execution_id, "{tool}");
    assert_eq!(a["cordon.outcome"], "ok", "{tool}");
    assert!(a["cordon.fuel"].as_i64().unwrap() > 0, "{tool}");
    assert!(a["cordon.memory_bytes"].as_i64().unwrap() > 0, "{tool}");
    assert_eq!(
        named(spans, "record")["attributes"]["cordon.execution_id"],
        execution_id
    );
}

#[test]
fn a_rest_invoke_and_an_mcp_call_continue_the_callers_traces() {
    let f = fixture("traces");
    let receiver = Receiver::start(&f.data);

    // REST, exported over OTLP/HTTP.
    let http = format!("http://127.0.0.1:{}", receiver.http);
    let s = Server::start_env(
        &f.data,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", http.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "cordon-e2e"),
        ],
    );
    assert_eq!(s.publish(&f.publisher, &f.signed.join("echo.wasm")).0, 201);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let (status, head, body) = s.request_with(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        &[("traceparent", &format!("00-{trace}-{parent}-01"))],
        br#"{"note": "marker-rest-5821"}"#,
    );
    assert_eq!(status, 200, "{head}");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let spans = receiver.trace(trace, "POST /v1/tools/{}/invoke");
    let top = named(&spans, "POST /v1/tools/{}/invoke");
    // Authentication is the request's, before the call.
    assert_eq!(
        named(&spans, "authenticate")["parent_span_id"],
        top["span_id"]
    );
    assert_eq!(
        named(&spans, "authenticate")["attributes"]["cordon.via"],
        "key"
    );
    assert_eq!(top["parent_span_id"], parent, "{top}");
    assert_eq!(top["kind"], 2, "a server span: {top}");
    assert_eq!(top["attributes"]["http.response.status_code"], 200);
    assert_eq!(top["attributes"]["http.route"], "/v1/tools/{}/invoke");
    assert_eq!(top["via"], "http");
    assert_eq!(top["resource"]["service.name"], "cordon-e2e");
    check_call(&spans, top, answer["execution_id"].as_str().unwrap());
    // The record names the trace (for an auditor to find the call's spans).
    let (_, record) = s.json(
        "GET",
        &format!(
            "/v1/executions/{}",
            answer["execution_id"].as_str().unwrap()
        ),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(record["trace_id"], trace, "{record}");
    never_holds(&spans, "marker-rest-5821");
    never_holds(&spans, &f.invoker);
    drop(s);

    // MCP, exported over gRPC: the trace `_meta` names wins over the HTTP request's.
    let grpc = format!("http://127.0.0.1:{}", receiver.grpc);
    let s = Server::start_env(
        &f.data,
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    );
    let meta_trace = "0af7651916cd43dd8448eb211c80319c";
    let meta_parent = "b7ad6b7169203331";
    let header_trace = "11111111111111111111111111111111";
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "echo", "arguments": {"note": "marker-mcp-9034"},
        "_meta": {"traceparent": format!("00-{meta_trace}-{meta_parent}-01")}}});
    let (status, _, payload) = crate::mcp::post_raw(
        &s,
        &f.invoker,
        &format!(
            "Accept: application/json, text/event-stream\r\ntraceparent: 00-{header_trace}-2222222222222222-01\r\n"
        ),
        &call.to_string(),
    );
    assert_eq!(status, 200, "{payload}");
    let spans = receiver.trace(meta_trace, "tools/call echo");
    let mcp = named(&spans, "tools/call echo");
    assert_eq!(mcp["parent_span_id"], meta_parent, "{mcp}");
    assert_eq!(mcp["via"], "grpc");
    let a = &mcp["attributes"];
    assert_eq!(a["mcp.method.name"], "tools/call", "{mcp}");
    assert_eq!(a["gen_ai.tool.name"], "echo", "{mcp}");
    assert_eq!(a["gen_ai.operation.name"], "execute_tool", "{mcp}");
    assert_eq!(a["jsonrpc.request.id"], "7", "{mcp}");
    assert_eq!(mcp["resource"]["service.name"], "cordon", "{mcp}");
    let execution = named(&spans, "execute_tool echo")["attributes"]["cordon.execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    check_call(&spans, mcp, &execution);
    never_holds(&spans, "marker-mcp-9034");
    // The conventions' histogram, over the same exporter.
    let deadline = Instant::now() + Duration::from_secs(20);
    let histogram = loop {
        let found = std::fs::read_to_string(&receiver.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["signal"] == "metric" && v["name"] == "mcp.server.operation.duration");
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no mcp.server.operation.duration"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(histogram["kind"], "histogram", "{histogram}");
    assert_eq!(histogram["unit"], "s", "{histogram}");
    assert_eq!(histogram["via"], "grpc", "{histogram}");
    assert_eq!(
        histogram["attributes"]["gen_ai.tool.name"], "echo",
        "{histogram}"
    );
    assert_eq!(
        histogram["attributes"]["mcp.method.name"], "tools/call",
        "{histogram}"
    );
    assert!(histogram["count"].as_u64().unwrap() >= 1, "{histogram}");
    // The HTTP request's own span (and its authentication) is in the trace its header named.
    let outer = receiver.trace(header_trace, "POST /mcp");
    let post = named(&outer, "POST /mcp");
    assert_eq!(post["parent_span_id"], "2222222222222222");
    assert!(below(&outer, named(&outer, "authenticate"), post));
}

/// A plain HTTP server on loopback answering `200 ok`; the request heads it got are kept.
fn destination(heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 2048];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            heads
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).to_lowercase());
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

#[test]
fn a_tools_outbound_request_is_a_client_span_of_its_call() {
    let f = fixture("traces-outbound");
    let receiver = Receiver::start(&f.data);
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let port = destination(heads.clone());
    let policies = crate::common::temp_dir("traces-outbound-policies");
    std::fs::write(
        policies.join("http-get.toml"),
        format!(
            "[network]\nallow = [\"http://127.0.0.1:{port}\"]\nallow_private = [\"127.0.0.0/8\"]\n"
        ),
    )
    .unwrap();
    let s = receiver.serve(&f.data, &["--policies", policies.to_str().unwrap()]);
    let (status, published) = s.publish(&f.publisher, &f.signed.join("http_get.wasm"));
    assert_eq!(status, 201, "{published}");
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let input = json!({"url": format!("http://127.0.0.1:{port}/status")});
    let (status, head, body) = s.request_with(
        "POST",
        "/v1/tools/http-get/invoke",
        Some(&f.invoker),
        &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
        input.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{head} {}", String::from_utf8_lossy(&body));
    let spans = receiver.trace(trace, "POST /v1/tools/{}/invoke");
    let call = named(&spans, "execute_tool http-get");
    let client = named(&spans, "GET");
    assert_eq!(client["kind"], 3, "a client span: {client}");
    assert_eq!(client["parent_span_id"], call["span_id"], "{spans:#?}");
    let a = &client["attributes"];
    assert_eq!(a["server.address"], "127.0.0.1", "{client}");
    assert_eq!(a["server.port"], i64::from(port), "{client}");
    assert_eq!(a["http.response.status_code"], 200, "{client}");
    // The destination learns nothing of the caller's trace unless the policy says so.
    {
        let heads = heads.lock().unwrap();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(!heads[0].contains("traceparent"), "{}", heads[0]);
    }

    // With `propagate_trace`, the request carries the trace, its parent the client span.
    let (status, set) = s.json(
        "PUT",
        "/v1/tools/http-get/policy",
        Some(&f.admin),
        format!(
            "[network]\nallow = [\"http://127.0.0.1:{port}\"]\nallow_private = [\"127.0.0.0/8\"]\npropagate_trace = true\n"
        )
        .as_bytes(),
    );
    assert_eq!(status, 200, "{set}");
    let trace = "6bf92f3577b34da6a3ce929d0e0e4738";
    let (status, _, _) = s.request_with(
        "POST",
        "/v1/tools/http-get/invoke",
        Some(&f.invoker),
        &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
        input.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let spans = receiver.trace(trace, "POST /v1/tools/{}/invoke");
    let client = named(&spans, "GET");
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 2, "{heads:?}");
    let sent = format!(
        "traceparent: 00-{trace}-{}-01",
        client["span_id"].as_str().unwrap()
    );
    assert!(heads[1].contains(&sent), "{sent} not in {}", heads[1]);
}

/// Whether `span` links to the span `span_id` (another trace's: the request doing the work
/// now); `""`: to any span.
pub(crate) fn links_to(span: &Value, span_id: &str) -> bool {
    span["links"].as_array().is_some_and(|l| {
        l.iter()
            .any(|x| span_id.is_empty() || x["span_id"] == span_id)
    })
}

#[test]
fn an_async_call_and_an_approved_call_stay_in_the_trace_they_began_in() {
    let f = fixture("traces-later");
    let receiver = Receiver::start(&f.data);
    let s = receiver.serve(&f.data, &[]);
    assert_eq!(s.publish(&f.publisher, &f.signed.join("echo.wasm")).0, 201);

    // An async call: started in the caller's trace, polled in requests of other traces (and
    // of none), each poll a span of the call's trace linked to the request that polled.
    let trace = "7bf92f3577b34da6a3ce929d0e0e4739";
    let (status, head, body) = s.request_with(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        &[
            ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
            ("prefer", "respond-async"),
        ],
        br#"{"note": "later"}"#,
    );
    assert_eq!(status, 202, "{head}");
    let id = serde_json::from_slice::<Value>(&body).unwrap()["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let poller = "8bf92f3577b34da6a3ce929d0e0e4730";
    let (status, _, _) = s.request_with(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.invoker),
        &[("traceparent", &format!("00-{poller}-1111111111111111-01"))],
        b"",
    );
    assert_eq!(status, 200);
    crate::approvals::finished(&s, &f.invoker, &id);
    // The call's spans, and the polls: the one above and at least the last one. The
    // request's span ends last: the call it started runs under it.
    let spans = receiver.trace_until(trace, |spans| {
        spans.iter().any(|s| s["name"] == "record")
            && spans
                .iter()
                .any(|s| s["name"] == "POST /v1/tools/{}/invoke")
            && spans.iter().filter(|s| s["name"] == "poll echo").count() >= 2
    });
    let top = named(&spans, "POST /v1/tools/{}/invoke");
    check_call(&spans, top, &id);
    let polls: Vec<&Value> = spans.iter().filter(|s| s["name"] == "poll echo").collect();
    assert!(polls.len() >= 2, "{spans:#?}");
    for poll in &polls {
        assert_eq!(poll["parent_span_id"], top["span_id"], "{poll}");
        assert_eq!(poll["attributes"]["cordon.execution_id"], id.as_str());
    }
    // The poll made in the poller's trace is linked from the call's.
    let outer = receiver.trace(poller, "GET /v1/executions/{}");
    let get = named(&outer, "GET /v1/executions/{}");
    assert!(
        polls
            .iter()
            .any(|p| links_to(p, get["span_id"].as_str().unwrap())),
        "{polls:#?} {get}"
    );

    // A call held for approval, approved in the approver's own request: its run (admission and
    // the sandboxed call) is in the trace the caller's request was held in.
    crate::approvals::apply(
        &s,
        &f.admin,
        r#"
package cordon
import rego.v1

default allow := true

approval := {"approvers": ["role:admin"], "timeout_secs": 600} if input.arguments.note == "hold"
"#,
    );
    let held = "9bf92f3577b34da6a3ce929d0e0e4731";
    let (status, head, body) = s.request_with(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        &[("traceparent", &format!("00-{held}-00f067aa0ba902b7-01"))],
        br#"{"note": "hold"}"#,
    );
    assert_eq!(status, 202, "{head}");
    let id = serde_json::from_slice::<Value>(&body).unwrap()["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, decided) = s.json(
        "POST",
        &format!("/v1/approvals/{id}"),
        Some(&f.admin),
        json!({"approve": true, "reason": "fine"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200, "{decided}");
    assert_eq!(
        crate::approvals::finished(&s, &f.invoker, &id)["outcome"],
        "ok"
    );
    // The approved run's span ends once the run is started; the run's own spans end after it.
    let run = ["admit", "execute_tool echo", "record"];
    let spans = receiver.trace_until(held, |spans| {
        let Some(approved) = spans.iter().find(|s| s["name"] == "approved echo") else {
            return false;
        };
        run.iter().all(|name| {
            spans
                .iter()
                .any(|s| s["name"] == *name && s["parent_span_id"] == approved["span_id"])
        })
    });
    let top = named(&spans, "POST /v1/tools/{}/invoke");
    let approved = named(&spans, "approved echo");
    // Below the admission that held the call, in the caller's request.
    assert!(below(&spans, approved, top), "{spans:#?}");
    assert!(
        links_to(approved, ""),
        "no link to the approver's request: {approved}"
    );
    assert_eq!(
        named(&spans, "execute_tool echo")["attributes"]["cordon.execution_id"],
        id.as_str()
    );
}
