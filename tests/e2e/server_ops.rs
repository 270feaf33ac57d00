//! The server under operation: rate limits, saturation, metrics, configuration, policy reload,
//! shutdown, concurrency, big components and slow clients.

use crate::harness::{Server, cordon, fixture};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let f = fixture("srv-rate");
    let s = Server::start_with(
        &f.data,
        &["--rate-per-key", "2", "--auth-failures-per-minute", "3"],
    );
    let statuses: Vec<u16> = (0..12)
        .map(|_| s.request("GET", "/v1/tools", Some(&f.invoker), b"").0)
        .collect();
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, head, body) = s.request("GET", "/v1/tools", Some(&f.invoker), b"");
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: "), "{head}");
    assert!(head.contains("ratelimit-limit: 2"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another key is not affected by the first one's budget.
    assert_eq!(
        s.request("GET", "/v1/tools", Some(&f.publisher), b"").0,
        200
    );

    // Brute force: made-up keys are 401 with their reason; beyond the address's budget of three
    // each is held back a second first, while a good key from the same address passes at once.
    let guess = |i: usize| {
        let started = std::time::Instant::now();
        let (status, _, body) = s.request(
            "GET",
            "/v1/tools",
            Some(&format!("cordon_{i:012x}_guess")),
            b"",
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        (status, body["error"]["code"].clone(), started.elapsed())
    };
    let bad: Vec<_> = (0..5).map(guess).collect();
    for (status, code, _) in &bad {
        assert_eq!((*status, code.as_str()), (401, Some("unauthenticated")));
    }
    assert!(
        bad[4].2 >= std::time::Duration::from_millis(900),
        "a guess over the budget waits: {bad:?}"
    );
    assert_eq!(s.request("GET", "/v1/tools", Some(&f.admin), b"").0, 200);
}

#[test]
fn saturation_answers_503_quickly_and_health_stays_up() {
    let f = fixture("srv-saturation");
    let s = Server::start_with(&f.data, &["--max-in-flight", "1"]);
    assert_eq!(s.publish(&f.admin, &f.signed.join("sleep.wasm")).0, 201);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    std::thread::scope(|scope| {
        let sleeper =
            scope.spawn(|| s.json("POST", "/v1/tools/sleep/invoke", Some(&f.invoker), b"{}"));
        // Wait until the sleeper holds the only slot.
        let mut saturated = None;
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let (status, head, body) =
                s.request("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
            if status == 503 {
                saturated = Some((head, body));
                break;
            }
        }
        let (head, body): (String, Vec<u8>) = saturated.expect("never saturated");
        assert!(head.contains("retry-after: 1"), "{head}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "saturated");
        assert_eq!(s.request("GET", "/healthz", None, b"").0, 200);
        assert_eq!(s.request("GET", "/readyz", None, b"").0, 200);
        let (status, result) = sleeper.join().unwrap();
        assert_eq!((status, result["outcome"].as_str()), (504, Some("timeout")));
    });
    assert_eq!(
        s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
            .0,
        200
    );
}

#[test]
fn metrics_count_invocations_outcomes_and_rejections() {
    let f = fixture("srv-metrics");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    assert_eq!(
        s.publish(&f.admin, &f.signed.join("infinite_loop.wasm")).0,
        201
    );
    for _ in 0..3 {
        assert_eq!(
            s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
                .0,
            200
        );
    }
    assert_eq!(
        s.json(
            "POST",
            "/v1/tools/infinite-loop/invoke",
            Some(&f.invoker),
            b"{}"
        )
        .0,
        502
    );
    assert_eq!(s.request("GET", "/v1/tools", None, b"").0, 401);
    // Metrics need a key whose role may read them (the default `metrics_access = "key"`).
    let (status, head, body) = s.request("GET", "/metrics", Some(&f.auditor), b"");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/plain"), "{head}");
    let text = String::from_utf8(body).unwrap();
    let line = |prefix: &str, labels: &[&str]| {
        text.lines()
            .find(|l| l.starts_with(prefix) && labels.iter().all(|x| l.contains(x)))
            .unwrap_or_else(|| panic!("no {prefix} {labels:?} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        line(
            "cordon_invocations_total{",
            &["tool=\"echo\"", "outcome=\"ok\""]
        ),
        "3"
    );
    assert_eq!(
        line(
            "cordon_invocations_total{",
            &["tool=\"infinite-loop\"", "outcome=\"fuel_exhausted\""]
        ),
        "1"
    );
    assert_eq!(
        line(
            "cordon_rejected_requests_total{",
            &["reason=\"unauthenticated\""]
        ),
        "1"
    );
    assert_eq!(
        line(
            "cordon_invocation_duration_seconds_count{",
            &["tool=\"echo\""]
        ),
        "3"
    );
    let fuel: u64 = line("cordon_fuel_consumed_total{", &["tool=\"infinite-loop\""])
        .parse()
        .unwrap();
    assert_eq!(fuel, 1_000_000_000);
    // The journal's group commits: the 4 records (one at a time here), each in some group.
    let records: f64 = line("cordon_journal_group_records_sum", &[])
        .parse()
        .unwrap();
    let groups: u64 = line("cordon_journal_group_records_count", &[])
        .parse()
        .unwrap();
    assert_eq!(records, 4.0, "{text}");
    assert!((1..=4).contains(&groups), "{groups} groups");
    let commits: u64 = line("cordon_journal_commit_seconds_count", &[])
        .parse()
        .unwrap();
    assert_eq!(commits, groups);
    assert_eq!(s.json("GET", "/metrics", None, b"").0, 401);
    assert_eq!(s.json("GET", "/metrics", Some(&f.invoker), b"").0, 403);
}

#[test]
fn config_file_then_environment_then_flags() {
    let f = fixture("srv-config");
    let config = f.data.join("cordon.toml");
    std::fs::write(&config, "store_inputs = true\nmax_in_flight = 7\n").unwrap();
    let stored_input = |s: &Server| {
        let (_, body) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            br#"{"k":1}"#,
        );
        let id = body["execution_id"].as_str().unwrap().to_owned();
        s.json(
            "GET",
            &format!("/v1/executions/{id}"),
            Some(&f.auditor),
            b"",
        )
        .1["input"]
            .clone()
    };
    // The file alone: inputs are stored.
    let s = Server::start_with(&f.data, &["--config", config.to_str().unwrap()]);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    assert_eq!(stored_input(&s), json!(r#"{"k":1}"#));
    drop(s);
    // The environment beats the file.
    let s = Server::start_env(
        &f.data,
        &["--config", config.to_str().unwrap()],
        &[("CORDON_STORE_INPUTS", "false")],
    );
    assert_eq!(stored_input(&s), Value::Null);
    drop(s);
    // A flag beats the environment.
    let s = Server::start_env(
        &f.data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--store-inputs",
            "true",
        ],
        &[("CORDON_STORE_INPUTS", "false")],
    );
    assert_eq!(stored_input(&s), json!(r#"{"k":1}"#));
    // An unknown key in the file is an error that names it.
    std::fs::write(&config, "store_input = true\n").unwrap();
    let out = cordon()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data",
            f.data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `store_input`"));
}

#[test]
fn policies_reload_on_sighup_without_a_restart() {
    let f = fixture("srv-reload");
    let policies = f.data.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let policy = policies.join("infinite-loop.toml");
    std::fs::write(&policy, "[limits]\nfuel = 2_000_000\n").unwrap();
    let log = f.data.join("server.log");
    let s = Server::start_full(
        &f.data,
        &["--policies", policies.to_str().unwrap()],
        &[],
        std::fs::File::create(&log).unwrap().into(),
    );
    assert_eq!(
        s.publish(&f.admin, &f.signed.join("infinite_loop.wasm")).0,
        201
    );
    let fuel_error = || {
        s.json(
            "POST",
            "/v1/tools/infinite-loop/invoke",
            Some(&f.invoker),
            b"{}",
        )
        .1["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(fuel_error(), "fuel exhausted after 2000000 units");

    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &s.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    std::fs::write(&policy, "[limits]\nfuel = 3_000_000\n").unwrap();
    hup();
    let mut seen = String::new();
    for _ in 0..50 {
        seen = fuel_error();
        if seen.contains("3000000") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(seen, "fuel exhausted after 3000000 units");
    // The operator sees what the reload changed, at the default log level.
    let text = std::fs::read_to_string(&log).unwrap();
    let reloaded = text
        .lines()
        .find(|l| l.contains("policy changed"))
        .unwrap_or_else(|| panic!("no reload line in\n{text}"));
    let hash = |t: &str| cordon_server::clock::sha256_hex(t.as_bytes());
    assert!(
        reloaded.contains("tool=\"infinite-loop\"") || reloaded.contains("tool=infinite-loop"),
        "{reloaded}"
    );
    assert!(
        reloaded.contains(&hash("[limits]\nfuel = 2_000_000\n")),
        "{reloaded}"
    );
    assert!(
        reloaded.contains(&hash("[limits]\nfuel = 3_000_000\n")),
        "{reloaded}"
    );
    assert!(
        text.contains("SIGHUP: policies re-read (1 changed and in force, 0 refused)"),
        "{text}"
    );

    // A broken policy is refused and the previous one stays in force.
    std::fs::write(&policy, "[limits]\nfuel = \"lots\"\n").unwrap();
    hup();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(fuel_error(), "fuel exhausted after 3000000 units");
}

#[test]
fn sigterm_finishes_in_flight_calls_and_exits_cleanly() {
    let f = fixture("srv-shutdown");
    let mut s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("sleep.wasm")).0, 201);
    std::thread::scope(|scope| {
        let call =
            scope.spawn(|| s.json("POST", "/v1/tools/sleep/invoke", Some(&f.invoker), b"{}"));
        std::thread::sleep(std::time::Duration::from_millis(500));
        let ok = Command::new("kill")
            .args(["-TERM", &s.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        // The call in flight still gets its answer (cut at its deadline), and is recorded.
        let (status, body) = call.join().unwrap();
        assert_eq!((status, body["outcome"].as_str()), (504, Some("timeout")));
    });
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let s = Server::start(&f.data);
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(s.count(&f.auditor, "execution"), 1);
    // Both runs started and stopped, in order, and the stop came after the call it waited for.
    let (_, page) = s.json(
        "GET",
        "/v1/audit/events?after=0&limit=1000",
        Some(&f.auditor),
        b"",
    );
    let kinds: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| !k.starts_with("key."))
        .collect();
    assert_eq!(
        kinds,
        [
            "server.start",
            "tool.publish",
            "execution",
            "server.stop",
            "server.start"
        ]
    );
}

#[test]
fn waiting_calls_run_side_by_side_not_one_after_another() {
    let f = fixture("srv-overlap");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("nap.wasm")).0, 201);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let (status, r) = s.json(
                        "POST",
                        "/v1/tools/nap-0000/invoke",
                        Some(&f.invoker),
                        br#"{"ms":300}"#,
                    );
                    assert_eq!(status, 200, "{r}");
                    assert_eq!(r["output"]["ms"], 300);
                    assert!(r["usage"]["wall_time_us"].as_u64().unwrap() >= 300_000);
                    r["execution_id"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    // Every call started before any finished: they overlapped rather than queueing behind one
    // another (or behind a blocked async worker).
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for id in &ids {
        let (_, r) = s.json(
            "GET",
            &format!("/v1/executions/{id}"),
            Some(&f.auditor),
            b"",
        );
        starts.push(r["started_at_ms"].as_i64().unwrap());
        ends.push(r["finished_at_ms"].as_i64().unwrap());
    }
    let last_start = starts.iter().max().unwrap();
    let first_end = ends.iter().min().unwrap();
    assert!(last_start < first_end, "starts {starts:?}, ends {ends:?}");
    // Over the limit is the tool's own refusal.
    let (status, r) = s.json(
        "POST",
        "/v1/tools/nap-0000/invoke",
        Some(&f.invoker),
        br#"{"ms":10001}"#,
    );
    assert_eq!(
        (status, r["outcome"].as_str()),
        (422, Some("invalid_input")),
        "{r}"
    );

    // A client that hangs up mid-call stops it (issue 26): the call is recorded, `cancelled`
    // by its caller, with what it used until then.
    let body = br#"{"ms": 400}"#; // 11 bytes: told apart from the calls above by its size
    let mut gone = TcpStream::connect(&s.addr).unwrap();
    write!(
        gone,
        "POST /v1/tools/nap-0000/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        f.invoker,
        body.len()
    )
    .unwrap();
    gone.write_all(body).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(gone);
    let mut recorded = 0;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (_, page) = s.json("GET", "/v1/executions?tool=nap-0000", Some(&f.auditor), b"");
        recorded = page["executions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["input_bytes"] == body.len()
                    && r["outcome"] == "cancelled"
                    && r["error"] == "cancelled by its caller (the connection closed)"
                    && r["usage"]["wall_time_us"].as_u64().unwrap() < 400_000
            })
            .count();
        if recorded > 0 {
            break;
        }
    }
    assert_eq!(recorded, 1, "the abandoned call was not recorded");
}

#[test]
fn concurrent_invocations_are_all_recorded_in_one_intact_chain() {
    let f = fixture("srv-concurrent");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let mut ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (s, key) = (&s, &f.invoker);
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let body = format!("{{\"w\":{w},\"i\":{i}}}");
                            let (status, r) =
                                s.json("POST", "/v1/tools/echo/invoke", Some(key), body.as_bytes());
                            assert_eq!(status, 200, "{r}");
                            r["execution_id"].as_str().unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 80);
    let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(s.count(&f.auditor, "execution"), 80);
}

#[test]
fn a_16_mib_component_publishes_runs_and_survives_a_restart() {
    let f = fixture("srv-big");
    let big = f.signed.join("big_data.wasm");
    assert!(std::fs::metadata(&big).unwrap().len() > 16 << 20);
    let s = Server::start(&f.data);
    let (status, tool) = s.publish(&f.admin, &big);
    assert_eq!(status, 201, "{tool}");
    let (status, r) = s.json(
        "POST",
        "/v1/tools/big-data/invoke",
        Some(&f.invoker),
        br#"{"index":12345678}"#,
    );
    assert_eq!((status, r["output"].as_u64()), (200, Some(7)), "{r}");
    drop(s);
    // After a restart the compiled code comes from the cache in the data directory.
    let cached: Vec<_> = std::fs::read_dir(f.data.join("compiled"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(tool["digest"].as_str().unwrap()))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let s = Server::start(&f.data);
    let (status, r) = s.json(
        "POST",
        "/v1/tools/big-data/invoke",
        Some(&f.invoker),
        br#"{"index":0}"#,
    );
    assert_eq!((status, r["output"].as_u64()), (200, Some(7)), "{r}");
}

/// Reads whatever the server sends until it closes the connection (or 10 s pass).
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut raw = Vec::new();
    let closed = stream.read_to_end(&mut raw);
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&raw).into_owned()
}

#[test]
fn slow_clients_are_cut_off_and_others_are_served() {
    let f = fixture("srv-slow");
    let s = Server::start_with(&f.data, &["--client-timeout-secs", "1"]);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);

    // Headers that never finish: the connection is closed after the deadline.
    let mut slow_head = TcpStream::connect(&s.addr).unwrap();
    write!(slow_head, "GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A body that stops half way: the request fails and the connection closes.
    let mut slow_body = TcpStream::connect(&s.addr).unwrap();
    write!(
        slow_body,
        "POST /v1/tools/echo/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":",
        f.invoker
    )
    .unwrap();
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(&s.addr).unwrap();

    // Meanwhile a well-behaved client is served.
    assert_eq!(s.request("GET", "/healthz", None, b"").0, 200);

    let answer = read_until_closed(&mut slow_head);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    let answer = read_until_closed(&mut slow_body);
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((400..500).contains(&status), "{answer}");
    assert!(answer.contains("\"request_id\""), "{answer}");
    assert_eq!(read_until_closed(&mut idle), "");

    // Nothing was executed for the cut-off invoke.
    let (_, list) = s.json("GET", "/v1/executions", Some(&f.auditor), b"");
    assert_eq!(
        list["executions"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
    assert_eq!(
        s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}")
            .0,
        200
    );
}
