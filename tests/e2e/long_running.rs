//! Long-running calls over REST through a real `cordon serve`: asynchronous invocation
//! (`Prefer: respond-async`), following it (`GET /v1/executions/{id}`, server-sent events read
//! with curl), cancelling it (`DELETE`, a closed connection), who may see what, and what a stop
//! or a kill leaves in the record.

use crate::harness::{Fixture, Server, fixture};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Publishes the steps and primes guests.
fn serve(name: &str, extra: &[&str]) -> (Fixture, Server) {
    let f = fixture(name);
    let s = Server::start_with(&f.data, extra);
    for tool in ["steps", "primes", "echo"] {
        let (status, body) = s.publish(&f.admin, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    (f, s)
}

/// `POST /v1/tools/{tool}/invoke` with `Prefer: respond-async`: (status, headers, body).
fn start(s: &Server, key: &str, tool: &str, input: &Value, prefer: &str) -> (u16, String, Value) {
    let (status, head, body) = s.request_with(
        "POST",
        &format!("/v1/tools/{tool}/invoke"),
        Some(key),
        &[("Prefer", prefer)],
        input.to_string().as_bytes(),
    );
    (
        status,
        head,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn get(s: &Server, key: &str, id: &str) -> (u16, Value) {
    s.json("GET", &format!("/v1/executions/{id}"), Some(key), b"")
}

/// Polls until the call is finished (at most `within`).
fn finished(s: &Server, key: &str, id: &str, within: Duration) -> Value {
    let until = Instant::now() + within;
    loop {
        let (status, view) = get(s, key, id);
        assert_eq!(status, 200, "{view}");
        if view["status"] == "finished" {
            return view;
        }
        assert!(Instant::now() < until, "still running: {view}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls until the running call has reported progress.
fn progressing(s: &Server, key: &str, id: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, view) = get(s, key, id);
        if view["progress"].is_object() || view["status"] == "finished" {
            return view;
        }
        assert!(Instant::now() < until, "no progress: {view}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_asynchronous_call_is_followed_until_its_answer_with_its_receipt() {
    let (f, s) = serve("lr-async", &[]);
    let input = json!({"steps": 12, "step_ms": 150});
    let (status, head, view) = start(&s, &f.invoker, "steps", &input, "respond-async");
    assert_eq!(status, 202, "{view}");
    let id = view["execution_id"].as_str().unwrap().to_owned();
    assert!(
        head.contains(&format!("location: /v1/executions/{id}")),
        "{head}"
    );
    assert!(head.contains("preference-applied: respond-async"), "{head}");
    assert_eq!(view["status"], "running");
    assert_eq!(view["tool"], "steps");
    assert!(view["poll_interval_ms"].as_u64().unwrap() > 0);

    // Running, with the newest progress (the steps guest reports after each step).
    let running = progressing(&s, &f.invoker, &id);
    assert_eq!(running["status"], "running", "{running}");
    let done = running["progress"]["done"].as_u64().unwrap();
    assert!((1..12).contains(&done), "{running}");
    assert_eq!(running["progress"]["total"], 12);
    assert_eq!(running["progress"]["message"], format!("step {done}"));

    let end = finished(&s, &f.invoker, &id, Duration::from_secs(20));
    assert_eq!(end["outcome"], "ok", "{end}");
    let result = &end["result"];
    assert_eq!(result["execution_id"], id.as_str());
    assert_eq!(result["output"], 12);
    assert_eq!(result["usage"]["progress_reports"], 12);
    assert!(result["receipt"]["seq"].as_i64().unwrap() > 0, "{result}");
    // The finished task shows the last progress the call reported, not an older renewal's.
    assert_eq!(end["progress"]["done"], 12, "{end}");
    assert_eq!(end["progress"]["message"], "step 12", "{end}");
    assert!(end["expires_at_ms"].as_i64().unwrap() > end["started_at_ms"].as_i64().unwrap());

    // The record is the same execution, for an auditor.
    let (status, record) = get(&s, &f.auditor, &id);
    assert_eq!(status, 200);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["usage"]["progress_reports"], 12);
    assert!(record.get("status").is_none(), "{record}");
    // An admin (who may also follow the task) asks for the record explicitly; an invoker
    // cannot read records, its own call's included.
    let (status, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}?record=true"),
        Some(&f.admin),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(record["id"], id.as_str(), "{record}");
    assert!(record.get("status").is_none(), "{record}");
    let (status, _) = s.json(
        "GET",
        &format!("/v1/executions/{id}?record=true"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 404);
    let (status, err) = s.json(
        "GET",
        &format!("/v1/executions/{id}?view=all"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 400, "{err}");

    // Someone else's call is not there at all, running or not; an admin sees it.
    let (status, err) = get(&s, &f.publisher, &id);
    assert_eq!(status, 404, "{err}");
    let other_key = crate::harness::run(&[
        "keys",
        "create",
        "--name",
        "other",
        "--role",
        "invoker",
        "--data",
        f.data.to_str().unwrap(),
    ]);
    // The server reads new keys within a second.
    let until = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let (status, _) = get(&s, other_key.trim(), &id);
        if status != 401 || Instant::now() > until {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 404);
    let (status, _) = s.json(
        "DELETE",
        &format!("/v1/executions/{id}"),
        Some(other_key.trim()),
        b"",
    );
    assert_eq!(status, 404);
    let (status, view) = get(&s, &f.admin, &id);
    assert_eq!((status, &view["status"]), (200, &json!("finished")));
    // An id nobody made.
    let (status, _) = get(&s, &f.admin, "ex_000000000000000000000000");
    assert_eq!(status, 404);
    // Cancelling what ended: 409 with its outcome.
    let (status, err) = s.json(
        "DELETE",
        &format!("/v1/executions/{id}"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "already_finished");
    assert!(
        err["error"]["message"].as_str().unwrap().ends_with(": ok"),
        "{err}"
    );
}

#[test]
fn server_sent_events_stream_progress_then_the_result_to_curl() {
    let (f, s) = serve("lr-sse", &[]);
    let input = json!({"steps": 6, "step_ms": 200});
    let (status, _, view) = start(&s, &f.invoker, "steps", &input, "respond-async");
    assert_eq!(status, 202);
    let id = view["execution_id"].as_str().unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "30",
            "-H",
            &format!("Authorization: Bearer {}", f.invoker),
            &format!("http://{}/v1/executions/{id}/events", s.addr),
        ])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect();
    let progress: Vec<u64> = events
        .iter()
        .filter(|(n, _)| n == "progress")
        .map(|(_, d)| d["done"].as_u64().unwrap())
        .collect();
    assert!(progress.len() >= 3, "{text}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    let (last, result) = events.last().unwrap();
    assert_eq!(last, "result", "{text}");
    assert_eq!(result["status"], "finished");
    assert_eq!(result["result"]["output"], 6);
    // What the stream ends with and what a later read shows agree with its last progress.
    let last_done = *progress.last().unwrap();
    assert_eq!(last_done, 6, "{progress:?}");
    assert_eq!(result["progress"]["done"], last_done, "{result}");
    let (status, read) = get(&s, &f.invoker, id);
    assert_eq!(status, 200);
    assert_eq!(read["progress"]["done"], last_done, "{read}");
    assert_eq!(
        events.iter().filter(|(n, _)| n == "result").count(),
        1,
        "{text}"
    );
    // A finished call streams its result at once; a foreign one is 404.
    let (status, head, body) = s.request(
        "GET",
        &format!("/v1/executions/{id}/events"),
        Some(&f.invoker),
        b"",
    );
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("event: result") && !body.contains("event: progress"),
        "{body}"
    );
    let (status, _, _) = s.request(
        "GET",
        &format!("/v1/executions/{id}/events"),
        Some(&f.publisher),
        b"",
    );
    assert_eq!(status, 404);
}

#[test]
fn a_cancelled_call_stops_at_once_and_is_recorded_with_who_and_what_it_used() {
    let (f, s) = serve("lr-cancel", &[]);
    // Computing (primes) and waiting in a host call (steps): both stop.
    for (tool, input) in [
        ("primes", json!({"below": 12_000_000})),
        ("steps", json!({"steps": 40, "step_ms": 100})),
    ] {
        let (status, _, view) = start(&s, &f.invoker, tool, &input, "respond-async");
        assert_eq!(status, 202, "{view}");
        let id = view["execution_id"].as_str().unwrap().to_owned();
        progressing(&s, &f.invoker, &id);
        let asked = Instant::now();
        let (status, view) = s.json(
            "DELETE",
            &format!("/v1/executions/{id}"),
            Some(&f.invoker),
            b"",
        );
        assert_eq!(status, 202, "{view}");
        let end = finished(&s, &f.invoker, &id, Duration::from_secs(10));
        let seen_after = asked.elapsed();
        assert_eq!(end["outcome"], "cancelled", "{end}");
        let result = &end["result"];
        let error = result["error"].as_str().unwrap();
        assert!(error.starts_with("cancelled by "), "{error}");
        let usage = &result["usage"];
        assert!(usage["fuel_consumed"].as_u64().unwrap() > 0, "{usage}");
        assert!(usage["progress_reports"].as_u64().unwrap() >= 1, "{usage}");
        // Far from its end (primes: seconds of work; steps: 4 s).
        assert!(
            usage["wall_time_us"].as_u64().unwrap() < 3_900_000,
            "{usage}"
        );
        println!("{tool}: cancelled call seen finished {seen_after:?} after the DELETE");
        // The record says the same, for an auditor.
        let (_, record) = get(&s, &f.auditor, &id);
        assert_eq!(record["outcome"], "cancelled");
        assert_eq!(record["error"], error);
    }
}

#[test]
fn a_synchronous_call_whose_client_hangs_up_is_cancelled_and_recorded() {
    use std::io::Write;
    let (f, s) = serve("lr-hangup", &[]);
    let body = json!({"steps": 40, "step_ms": 100}).to_string();
    let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        c,
        "POST /v1/tools/steps/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        f.invoker,
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop(c);
    // Recorded promptly as cancelled by its caller, with what it used.
    let until = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let (_, page) = s.json("GET", "/v1/executions?tool=steps", Some(&f.auditor), b"");
        if let Some(r) = page["executions"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
        {
            break r;
        }
        assert!(Instant::now() < until, "not recorded");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(record["outcome"], "cancelled", "{record}");
    assert_eq!(
        record["error"],
        "cancelled by its caller (the connection closed)"
    );
    let wall = record["usage"]["wall_time_us"].as_u64().unwrap();
    assert!((500_000..3_000_000).contains(&wall), "{wall}");
    assert!(
        record["usage"]["progress_reports"].as_u64().unwrap() >= 4,
        "{record}"
    );
}

#[test]
fn prefer_wait_answers_synchronously_when_the_call_ends_in_time_and_others_are_ignored() {
    let (f, s) = serve("lr-prefer", &[]);
    let quick = json!({"steps": 2, "step_ms": 10});
    let (status, head, answer) = start(&s, &f.invoker, "steps", &quick, "respond-async, wait=10");
    assert_eq!(status, 200, "{answer}");
    assert!(!head.contains("preference-applied"), "{head}");
    assert_eq!(answer["output"], 2);
    assert!(answer["receipt"].is_object());
    // Too slow for the wait: 202 after about a second.
    let slow = json!({"steps": 20, "step_ms": 100});
    let t = Instant::now();
    let (status, _, view) = start(&s, &f.invoker, "steps", &slow, "respond-async, wait=1");
    assert_eq!(status, 202, "{view}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // Other preferences: a synchronous call as ever.
    // (`respond-async; wait=1` is respond-async with a parameter, not the wait preference.)
    for ignored in ["return=minimal", "respond-asynchronously", "wait=5", "?!"] {
        let (status, _, answer) = start(&s, &f.invoker, "steps", &quick, ignored);
        assert_eq!(status, 200, "{ignored}: {answer}");
        assert_eq!(answer["output"], 2);
    }
    // Bad input is refused at once, even asynchronously, and nothing is left running.
    let (status, _, answer) = start(
        &s,
        &f.invoker,
        "steps",
        &json!({"steps": "many"}),
        "respond-async",
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["outcome"], "invalid_input");
}

#[test]
fn running_calls_hold_their_in_flight_slot() {
    let (f, s) = serve("lr-inflight", &["--max-in-flight", "1"]);
    let long = json!({"steps": 30, "step_ms": 100});
    let (status, _, view) = start(&s, &f.invoker, "steps", &long, "respond-async");
    assert_eq!(status, 202);
    let id = view["execution_id"].as_str().unwrap().to_owned();
    let (status, err) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 503, "{err}");
    assert_eq!(err["error"]["code"], "saturated");
    s.json(
        "DELETE",
        &format!("/v1/executions/{id}"),
        Some(&f.admin),
        b"",
    );
    let end = finished(&s, &f.invoker, &id, Duration::from_secs(10));
    assert_eq!(end["outcome"], "cancelled");
    let error = end["result"]["error"].as_str().unwrap().to_owned();
    assert!(error.starts_with("cancelled by "), "{error}");
    let (status, _) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 200);
}

#[test]
fn a_stop_interrupts_what_outlives_the_grace_and_a_kill_is_found_at_the_next_start() {
    // A graceful stop with a one-second grace: the running call is stopped and recorded
    // `interrupted` with what it used.
    let (f, s) = serve("lr-stop", &["--shutdown-grace-secs", "1"]);
    let long = json!({"steps": 100, "step_ms": 100});
    let (_, _, view) = start(&s, &f.invoker, "steps", &long, "respond-async");
    let id = view["execution_id"].as_str().unwrap().to_owned();
    progressing(&s, &f.invoker, &id);
    let addr = s.addr.clone();
    let mut s = s;
    let t = Instant::now();
    unsafe_sigterm(s.child.id());
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let _ = addr;
    let s = Server::start(&f.data);
    let end = finished(&s, &f.invoker, &id, Duration::from_secs(5));
    assert_eq!(end["outcome"], "interrupted", "{end}");
    assert!(
        end["result"]["usage"]["fuel_consumed"].as_u64().unwrap() > 0,
        "{end}"
    );
    let (_, record) = get(&s, &f.auditor, &id);
    assert_eq!(record["outcome"], "interrupted");

    // Killed with a call running: the next start finds it and records it interrupted, and a
    // client polling gets that, not a call running for ever.
    let (_, _, view) = start(&s, &f.invoker, "steps", &long, "respond-async");
    let id = view["execution_id"].as_str().unwrap().to_owned();
    progressing(&s, &f.invoker, &id);
    let data = s.kill9();
    let s = Server::start(&data);
    let end = finished(&s, &f.invoker, &id, Duration::from_secs(5));
    assert_eq!(end["outcome"], "interrupted", "{end}");
    let (_, record) = get(&s, &f.auditor, &id);
    assert_eq!(record["outcome"], "interrupted", "{record}");
    assert_eq!(
        record["error"],
        "interrupted: the node running the call stopped before it ended"
    );
    let (_, verify) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(verify["intact"], true, "{verify}");
}

/// SIGTERM to a child process.
fn unsafe_sigterm(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_running_call_holds_its_concurrent_quota_and_a_cancelled_one_counts_what_it_used() {
    let f = fixture("lr-quota");
    let config = f.data.join("cordon.toml");
    std::fs::write(
        &config,
        "[quotas.roles.invoker]\nconcurrent = 1\nfuel_per_day = 100_000_000_000\n",
    )
    .unwrap();
    let s = Server::start_with(&f.data, &["--config", config.to_str().unwrap()]);
    for tool in ["steps", "echo"] {
        let (status, body) = s.publish(&f.admin, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    let long = json!({"steps": 100, "step_ms": 100});
    let (status, _, view) = start(&s, &f.invoker, "steps", &long, "respond-async");
    assert_eq!(status, 202, "{view}");
    let id = view["execution_id"].as_str().unwrap().to_owned();
    progressing(&s, &f.invoker, &id);
    // The running call holds the one concurrent execution.
    let (status, err) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 429, "{err}");
    assert_eq!(err["error"]["code"], "quota_exceeded");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("concurrent"),
        "{err}"
    );
    s.json(
        "DELETE",
        &format!("/v1/executions/{id}"),
        Some(&f.invoker),
        b"",
    );
    let end = finished(&s, &f.invoker, &id, Duration::from_secs(10));
    assert_eq!(end["outcome"], "cancelled");
    let fuel = end["result"]["usage"]["fuel_consumed"].as_u64().unwrap();
    assert!(fuel > 0);
    // Counted for what it used; its slot free again.
    let (status, mine) = s.json("GET", "/v1/quotas/me", Some(&f.invoker), b"");
    assert_eq!(status, 200, "{mine}");
    let scope = &mine["scopes"][0];
    assert_eq!(scope["executions"], 1, "{mine}");
    assert_eq!(scope["fuel"], fuel, "{mine}");
    assert_eq!(scope["running"], 0, "{mine}");
    let (status, _) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 200);
}

#[test]
fn a_stop_lets_a_call_finish_within_the_grace_however_long_the_node_ran() {
    // The grace runs from the stop: a node up longer than its grace still gives a running call
    // that long to end.
    let (f, s) = serve("lr-grace", &["--shutdown-grace-secs", "4"]);
    std::thread::sleep(Duration::from_secs(5));
    let (_, _, view) = start(
        &s,
        &f.invoker,
        "steps",
        &json!({"steps": 15, "step_ms": 100}),
        "respond-async",
    );
    let id = view["execution_id"].as_str().unwrap().to_owned();
    progressing(&s, &f.invoker, &id);
    let mut s = s;
    unsafe_sigterm(s.child.id());
    assert!(s.child.wait().unwrap().success());
    let s = Server::start(&f.data);
    let end = finished(&s, &f.invoker, &id, Duration::from_secs(5));
    assert_eq!(end["outcome"], "ok", "{end}");
    assert_eq!(end["result"]["output"], 15);
}

#[test]
fn an_event_stream_ends_once_its_key_is_revoked() {
    let (f, s) = serve("lr-sse-revoked", &[]);
    let (status, made) = s.json(
        "POST",
        "/v1/keys",
        Some(&f.admin),
        br#"{"name":"watcher","role":"invoker"}"#,
    );
    assert_eq!(status, 201, "{made}");
    let key = made["secret"].as_str().unwrap().to_owned();
    // 12 s of steps: far longer than the stream should last once its key is revoked.
    let input = json!({"steps": 60, "step_ms": 200});
    let (status, _, view) = start(&s, &key, "steps", &input, "respond-async");
    assert_eq!(status, 202, "{view}");
    let id = view["execution_id"].as_str().unwrap().to_owned();
    let mut curl = std::process::Command::new("curl")
        .args([
            "-sS",
            "-N",
            "--max-time",
            "30",
            "-H",
            &format!("Authorization: Bearer {key}"),
            &format!("http://{}/v1/executions/{id}/events", s.addr),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    // Streaming: progress arrives while the key holds.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(curl.try_wait().unwrap().is_none(), "the stream ended early");
    let revoked_at = Instant::now();
    let (status, _, _) = s.request(
        "DELETE",
        &format!("/v1/keys/{}", made["id"].as_str().unwrap()),
        Some(&f.admin),
        b"",
    );
    assert_eq!(status, 204);
    let ended = loop {
        if curl.try_wait().unwrap().is_some() {
            break revoked_at.elapsed();
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "the stream outlived its revoked key"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // On the node that revoked it the key is out of the table at once; the stream checks four
    // times a second (another node's table follows within a second more).
    assert!(ended < Duration::from_millis(1500), "{ended:?}");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut curl.stdout.take().unwrap(), &mut text).unwrap();
    assert!(text.contains("event: progress"), "{text}");
    assert!(!text.contains("event: result"), "{text}");
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: unauthenticated"), "{text}");
    let data: Value =
        serde_json::from_str(last.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(data["error"]["code"], "unauthenticated");
    // The call itself runs on: its caller's revocation is not a cancellation.
    let (_, running) = get(&s, &f.admin, &id);
    assert_eq!(running["status"], "running", "{running}");
}
