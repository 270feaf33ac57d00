//! Quotas per caller: each quota hit, answered 429 with its name, limit and `Retry-After`, and
//! reset; shown by `GET /v1/quotas/{caller}` and `cordon quotas`; counted in metrics and the
//! security log; held across two nodes sharing one PostgreSQL.

use crate::cluster::{Cluster, invoke, publish};
use crate::harness::{Fixture, Server, fixture};
use crate::idp::{ISS, Idp, claims, sign};
use cordon::commands::client::path_segment;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

const QUOTAS: &str = r#"
[quotas.roles.invoker]
concurrent = 1

[quotas.callers."https://id.cordon.test#carol"]
executions_per_day = 2
"#;

fn call(s: &Server, token: &str, tool: &str, input: &str) -> (u16, String, Value) {
    let (status, head, body) = s.request(
        "POST",
        &format!("/v1/tools/{tool}/invoke"),
        Some(token),
        input.as_bytes(),
    );
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn retry_after(head: &str) -> u64 {
    head.lines()
        .find_map(|l| l.strip_prefix("retry-after: "))
        .unwrap_or_else(|| panic!("no retry-after in {head}"))
        .trim()
        .parse()
        .unwrap()
}

fn metric(s: &Server, key: &str, quota: &str) -> u64 {
    let (_, _, body) = s.request("GET", "/metrics", Some(key), b"");
    let text = String::from_utf8(body).unwrap();
    let line = format!("cordon_quota_refusals_total{{quota=\"{quota}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn server(name: &str, idp: &Idp) -> (Fixture, Server) {
    let f = fixture(name);
    let config = idp.config(QUOTAS);
    let log = std::fs::File::create(f.data.join("server.log")).unwrap();
    let s = Server::start_full(
        &f.data,
        &["--config", config.to_str().unwrap()],
        &[],
        Stdio::from(log),
    );
    for tool in ["echo", "word_count", "nap"] {
        let (status, body) = s.publish(&f.publisher, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    (f, s)
}

/// Seconds until the next UTC midnight, as the server computes them.
fn until_midnight() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    (86_400_000 - now % 86_400_000).div_ceil(1000)
}

#[test]
fn each_quota_is_hit_reported_and_reset() {
    let idp = Idp::start("quotas");
    let (f, s) = server("quotas", &idp);
    let carol = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("carol", &["tool-users"]),
    );

    // executions_per_day, for one subject: an input refused before anything runs costs
    // nothing; two calls, then 429 until the day ends.
    assert_eq!(call(&s, &carol, "echo", "[").0, 422);
    for _ in 0..2 {
        assert_eq!(call(&s, &carol, "echo", r#"{"message":"hi"}"#).0, 200);
    }
    let executions = s.count(&f.auditor, "execution");
    let (status, head, body) = call(&s, &carol, "echo", r#"{"message":"hi"}"#);
    assert_eq!(status, 429, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "quota_exceeded");
    assert_eq!(error["quota"]["quota"], "executions_per_day");
    assert_eq!(
        (
            error["quota"]["limit"].as_u64(),
            error["quota"]["used"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(error["quota"]["scope"], "");
    let wait = retry_after(&head);
    assert!(
        until_midnight().abs_diff(wait) <= 2,
        "retry-after {wait}, midnight in {}",
        until_midnight()
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("executions_per_day"),
        "{body}"
    );
    assert_eq!(
        s.count(&f.auditor, "execution"),
        executions,
        "a refused call does not run"
    );
    // Over MCP the same refusal is a tool error with the quota in `_meta`.
    let report = crate::mcp::client(&serde_json::json!({
        "transport": "http",
        "url": format!("http://{}/mcp", s.addr),
        "api_key": carol,
        "calls": [{"name": "echo", "arguments": {"message": "hi"}}],
    }));
    let refused = &report["calls"][0];
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused["text"][0]
            .as_str()
            .unwrap()
            .starts_with("quota_exceeded: "),
        "{refused}"
    );
    assert_eq!(
        refused["meta"]["cordon/quota"]["quota"],
        "executions_per_day"
    );
    assert_eq!(refused["meta"]["cordon/quota"]["limit"], 2);
    assert!(refused["meta"]["cordon/retry_after_secs"].as_u64().unwrap() > 0);
    // Her use, as she sees it, and as an auditor sees it (API and `cordon quotas`).
    let (status, mine) = s.json("GET", "/v1/quotas/me", Some(&carol), b"");
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["caller"], format!("{ISS}#carol"));
    assert_eq!(mine["scopes"][0]["executions"], 2);
    assert_eq!(mine["scopes"][0]["limits"]["executions_per_day"], 2);
    let out = crate::harness::cordon()
        .args([
            "quotas",
            &format!("{ISS}#carol"),
            "--json",
            "--server",
            &format!("http://{}", s.addr),
        ])
        .env("CORDON_API_KEY", &f.auditor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["scopes"][0]["executions"], 2, "{shown}");
    // Another caller's quotas take a role that reads executions.
    let (status, _) = s.json(
        "GET",
        &format!("/v1/quotas/{}", path_segment(&format!("{ISS}#carol"))),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 403);
    // The day ends (her counters become yesterday's): she may call again.
    let db = rusqlite::Connection::open(f.data.join("cordon.db")).unwrap();
    db.execute("UPDATE quota_use SET day = day - 1", [])
        .unwrap();
    assert_eq!(call(&s, &carol, "echo", r#"{"message":"hi"}"#).0, 200);

    // concurrent, for a role: an invoker key with a call running is refused a second one,
    // Retry-After 1; once the first ends, the next is served.
    let (addr, key) = (s.addr.clone(), f.invoker.clone());
    let slow = std::thread::spawn(move || {
        let s = crate::cluster::try_invoke(&addr, &key, "nap-0000", r#"{"ms":1500}"#);
        s.map(|(status, _, _)| status)
    });
    let (mut status, mut head) = (0, String::new());
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let (st, hd, body) = call(&s, &f.invoker, "echo", r#"{"message":"second"}"#);
        if st == 429 {
            assert_eq!(body["error"]["quota"]["quota"], "concurrent", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("retry when one of your running calls ends"),
                "{message}"
            );
            assert_eq!(body["error"]["quota"]["limit"], 1);
            (status, head) = (st, hd);
            break;
        }
    }
    assert_eq!(
        status, 429,
        "a second call while the first runs must be refused"
    );
    assert_eq!(retry_after(&head), 1);
    assert_eq!(slow.join().unwrap(), Some(200));
    assert_eq!(
        call(&s, &f.invoker, "echo", r#"{"message":"after"}"#).0,
        200
    );

    // fuel_per_day, for one tool (its policy): the first call uses more than the day's fuel,
    // the next is refused; other tools are not limited by it.
    let (status, body) = s.json(
        "PUT",
        "/v1/tools/word-count/policy",
        Some(&f.admin),
        b"[limits]\ntimeout_ms = 2_000\n\n[quotas]\nfuel_per_day = 1000\n",
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, first) = call(&s, &f.admin, "word-count", r#"{"text":"one two three"}"#);
    assert_eq!(status, 200, "{first}");
    let fuel = first["usage"]["fuel_consumed"].as_u64().unwrap();
    assert!(fuel > 1000, "{fuel}");
    let (status, head, body) = call(&s, &f.admin, "word-count", r#"{"text":"one"}"#);
    assert_eq!(status, 429, "{body}");
    let quota = &body["error"]["quota"];
    assert_eq!(
        (quota["quota"].as_str(), quota["scope"].as_str()),
        (Some("fuel_per_day"), Some("word-count"))
    );
    assert_eq!(
        (quota["limit"].as_u64(), quota["used"].as_u64()),
        (Some(1000), Some(fuel))
    );
    assert!(until_midnight().abs_diff(retry_after(&head)) <= 2);
    assert_eq!(call(&s, &f.admin, "echo", r#"{"message":"still"}"#).0, 200);
    let (_, admin_use) = s.json("GET", "/v1/quotas/admin", Some(&f.admin), b"");
    let tool = admin_use["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == "word-count")
        .unwrap_or_else(|| panic!("{admin_use}"));
    assert_eq!(
        (
            tool["fuel"].as_u64(),
            tool["limits"]["fuel_per_day"].as_u64()
        ),
        (Some(fuel), Some(1000))
    );
    // Reset: yesterday's fuel does not count today.
    db.execute("UPDATE quota_use SET day = day - 1", [])
        .unwrap();
    assert_eq!(call(&s, &f.admin, "word-count", r#"{"text":"one"}"#).0, 200);

    // Each refusal is counted and a security event.
    for (q, n) in [
        ("executions_per_day", 2),
        ("concurrent", 1),
        ("fuel_per_day", 1),
    ] {
        assert_eq!(metric(&s, &f.admin, q), n, "{q}");
    }
    let log = std::fs::read_to_string(f.data.join("server.log")).unwrap();
    assert_eq!(
        log.matches("quota exceeded: execution refused").count(),
        4,
        "{log}"
    );
    assert!(log.contains("cordon::security"));
}

#[test]
fn quotas_hold_across_two_nodes_sharing_one_database() {
    let c = Cluster::new("quotas-cluster");
    let config = c.f.data.join("cordon.toml");
    std::fs::write(
        &config,
        "[quotas.roles.invoker]\nexecutions_per_day = 4\nconcurrent = 1\n",
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let a = c.node_with("a", &args);
    let b = c.node_with("b", &args);
    publish(&a, &c.f.publisher, &c.f.signed.join("echo.wasm"));
    publish(&a, &c.f.publisher, &c.f.signed.join("nap.wasm"));
    // Both nodes serve both tools (B admits what A published within a second).
    assert!(
        crate::cluster::until(|| invoke(&b, &c.f.admin, "nap-0000", r#"{"ms":0}"#).0 == 200)
            .is_some()
    );
    // A call running on A holds the invoker's one concurrent execution on B too.
    let (addr, key) = (a.addr.clone(), c.f.invoker.clone());
    let slow = std::thread::spawn(move || {
        crate::cluster::try_invoke(&addr, &key, "nap-0000", r#"{"ms":1500}"#).map(|r| r.0)
    });
    let mut refused = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let (status, body) = invoke(&b, &c.f.invoker, "echo", r#"{"message":"b"}"#);
        if status == 429 {
            refused = Some(body);
            break;
        }
    }
    let refused = refused.expect("B refuses while A runs the invoker's call");
    assert_eq!(
        refused["error"]["quota"]["quota"], "concurrent",
        "{refused}"
    );
    assert_eq!(slow.join().unwrap(), Some(200));
    // The day's four executions, spread over both nodes: A's call, then B, A, B; the fifth is
    // refused on either.
    for node in [&b, &a, &b] {
        let (status, body) = invoke(node, &c.f.invoker, "echo", r#"{"message":"x"}"#);
        assert_eq!(status, 200, "{body}");
    }
    for node in [&a, &b] {
        let (status, body) = invoke(node, &c.f.invoker, "echo", r#"{"message":"x"}"#);
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["error"]["quota"]["quota"], "executions_per_day");
        assert_eq!(body["error"]["quota"]["used"], 4);
    }
    // Both nodes show the same use.
    for node in [&a, &b] {
        let (_, shown) = node.json("GET", "/v1/quotas/inv", Some(&c.f.admin), b"");
        assert_eq!(shown["scopes"][0]["executions"], 4, "{shown}");
        assert_eq!(shown["scopes"][0]["running"], 0, "{shown}");
    }
    // The day turns: both nodes serve the invoker again.
    c.pg.sql("postgres", "UPDATE quota_use SET day = day - 1")
        .unwrap();
    assert_eq!(
        invoke(&a, &c.f.invoker, "echo", r#"{"message":"x"}"#).0,
        200
    );
    assert_eq!(
        invoke(&b, &c.f.invoker, "echo", r#"{"message":"x"}"#).0,
        200
    );
}
