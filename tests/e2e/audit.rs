//! The audit log end to end: administrative actions are events with their actor, checkpoints
//! are signed, copied to a file the operator keeps and verified against, and each way of
//! tampering with the database is caught and named by `cordon audit verify`.

use crate::harness::{Server, cordon, fixture};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The public id of an API key (`cordon_<id>_<secret>`).
fn key_id(secret: &str) -> &str {
    &secret[7..19]
}

fn events(s: &Server, key: &str, query: &str) -> Vec<Value> {
    let (status, page) = s.json("GET", &format!("/v1/audit/events?{query}"), Some(key), b"");
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn stop(mut s: Server) -> PathBuf {
    let ok = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(s.child.wait().unwrap().success());
    s.data.clone()
}

/// `cordon audit verify` on `data`: (exit code, report).
fn verify(data: &Path, extra: &[&str]) -> (i32, Value) {
    let out = cordon()
        .args(["audit", "verify", "--data", data.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no report: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn problems(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

fn invoke_echo(s: &Server, key: &str, n: usize) {
    for i in 0..n {
        let (status, body) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(key),
            format!(r#"{{"n":{i}}}"#).as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn administrative_actions_are_events_with_their_actor() {
    let f = fixture("audit-admin");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.publisher, &f.signed.join("echo.wasm")).0, 201);
    let (status, _, _) = s.request(
        "POST",
        "/v1/tools/echo/quarantine",
        Some(&f.admin),
        br#"{"reason":"checking it"}"#,
    );
    assert_eq!(status, 204);
    assert_eq!(
        s.request("POST", "/v1/tools/echo/release", Some(&f.admin), b"")
            .0,
        204
    );
    invoke_echo(&s, &f.invoker, 2);
    assert_eq!(
        s.request("DELETE", "/v1/tools/echo", Some(&f.publisher), b"")
            .0,
        204
    );

    let all = events(&s, &f.auditor, "after=0");
    assert_eq!(
        kinds(&all),
        [
            "key.create",
            "key.create",
            "key.create",
            "key.create",
            "server.start",
            "tool.publish",
            "tool.quarantine",
            "tool.release",
            "execution",
            "execution",
            "tool.delete"
        ]
    );
    // Who did it, by key id and name; the command-line key creation by the local user.
    let by = |e: &Value| {
        (
            e["actor"]["key_id"].as_str().unwrap().to_owned(),
            e["actor"]["name"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(by(&all[0]).0, "local");
    assert_eq!(
        by(&all[4]),
        ("server".to_owned(), "cordon serve".to_owned())
    );
    assert_eq!(
        by(&all[5]),
        (key_id(&f.publisher).to_owned(), "pub".to_owned())
    );
    assert_eq!(
        by(&all[6]),
        (key_id(&f.admin).to_owned(), "admin".to_owned())
    );
    assert_eq!(
        by(&all[8]),
        (key_id(&f.invoker).to_owned(), "inv".to_owned())
    );
    assert_eq!(all[6]["event"]["action"]["reason"], "checking it");
    assert_eq!(all[10]["event"]["action"]["versions"][0], "0.1.0");
    // Key events carry the id, name and role, never the secret.
    assert_eq!(all[2]["event"]["action"]["name"], "inv");
    assert_eq!(all[2]["event"]["action"]["role"], "invoker");
    let text = serde_json::to_string(&all).unwrap();
    for secret in [&f.admin, &f.publisher, &f.invoker, &f.auditor] {
        assert!(!text.contains(&secret[20..]));
    }
    // Sequence numbers are contiguous and each links to the one before.
    for pair in all.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_i64(),
            pair[0]["seq"].as_i64().map(|s| s + 1)
        );
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }

    // Filters: kind, actor, tool, newest first with a cursor.
    assert_eq!(
        kinds(&events(&s, &f.auditor, "kind=tool.publish")),
        ["tool.publish"]
    );
    let by_admin = events(&s, &f.auditor, &format!("actor={}", key_id(&f.admin)));
    assert_eq!(kinds(&by_admin), ["tool.release", "tool.quarantine"]);
    assert_eq!(events(&s, &f.auditor, "tool=echo&limit=2").len(), 2);
    let (_, page) = s.json("GET", "/v1/audit/events?limit=3", Some(&f.auditor), b"");
    assert_eq!(page["events"][0]["kind"], "tool.delete");
    let cursor = page["next_cursor"].as_i64().unwrap();
    let older = events(&s, &f.auditor, &format!("limit=3&cursor={cursor}"));
    assert_eq!(older[0]["seq"].as_i64(), Some(cursor - 1));
    // Wrong filters say how to fix them; an invoker may not read the log.
    let (status, body) = s.json("GET", "/v1/audit/events?kind=bogus", Some(&f.auditor), b"");
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tool.publish"),
        "{body}"
    );
    assert_eq!(
        s.request("GET", "/v1/audit/events", Some(&f.invoker), b"")
            .0,
        403
    );
    // The command line lists the same.
    let out = cordon()
        .args(["audit", "events", "--kind", "tool.quarantine", "--json"])
        .args(["--server", &format!("http://{}", s.addr)])
        .env("CORDON_API_KEY", &f.auditor)
        .output()
        .unwrap();
    assert!(out.status.success());
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed["events"][0]["event"]["action"]["reason"],
        "checking it"
    );
}

#[test]
fn checkpoints_are_signed_copied_and_hold_the_log_to_its_past() {
    let f = fixture("audit-checkpoints");
    let copies = f.data.join("checkpoints.jsonl");
    let s = Server::start_with(
        &f.data,
        &[
            "--checkpoint-file",
            copies.to_str().unwrap(),
            "--checkpoint-secs",
            "1",
        ],
    );
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    invoke_echo(&s, &f.invoker, 3);
    // A checkpoint within the interval, signed by the key the server shows.
    let mut checkpoint = Value::Null;
    for _ in 0..50 {
        let (status, body) = s.json("GET", "/v1/audit/checkpoint", Some(&f.invoker), b"");
        if status == 200 && body["statement"]["size"].as_i64() >= Some(9) {
            checkpoint = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(checkpoint["kind"], "checkpoint", "{checkpoint}");
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    assert_eq!(checkpoint["key"], key["key"]);
    assert_eq!(checkpoint["statement"]["log_id"], key["log_id"]);
    let printed = cordon()
        .args(["audit", "key", "--data", f.data.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap().trim(),
        key["key"].as_str().unwrap()
    );
    // The key file is the owner's alone.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f.data.join("log.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let data = stop(s);
    // The final checkpoint, made at shutdown, covers the server's stop event.
    let lines: Vec<Value> = std::fs::read_to_string(&copies)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    let last = lines.last().unwrap();
    let (code, report) = verify(&data, &["--checkpoint", copies.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["size"], last["statement"]["size"]);
    assert!(report["checkpoints_checked"].as_u64().unwrap() >= lines.len() as u64);
    let size = report["size"].as_i64().unwrap();

    // Each way of tampering, on its own copy of the data directory.
    let tampered = |name: &str, sql: &str| -> PathBuf {
        let dir = data.with_file_name(format!(
            "{}-{name}",
            data.file_name().unwrap().to_str().unwrap()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&data).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
            }
        }
        rusqlite::Connection::open(dir.join("cordon.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        dir
    };
    let check = |dir: &Path| verify(dir, &["--checkpoint", copies.to_str().unwrap()]);

    // The newest record deleted (the stop event), and the log's own checkpoints with it: only
    // the copy outside catches it.
    let dir = tampered(
        "last",
        &format!("DELETE FROM events WHERE seq = {size}; DELETE FROM checkpoints;"),
    );
    assert_eq!(verify(&dir, &[]).0, 0, "the database alone cannot tell");
    let (code, report) = check(&dir);
    assert_eq!(code, 1);
    assert!(
        problems(&report)[0].starts_with(&format!(
            "the log ends at record {}, but checkpoint {size}",
            size - 1
        )),
        "{report}"
    );
    // A truncated log.
    let dir = tampered(
        "truncated",
        "DELETE FROM executions WHERE seq > 6; DELETE FROM events WHERE seq > 6; DELETE FROM checkpoints;",
    );
    let (code, report) = check(&dir);
    assert_eq!(code, 1);
    assert!(
        problems(&report)[0].starts_with("the log ends at record 6"),
        "{report}"
    );
    // An execution's outcome edited: named by record and field.
    let dir = tampered(
        "outcome",
        "UPDATE executions SET outcome = 2 WHERE seq = 8;",
    );
    let (code, report) = check(&dir);
    assert_eq!(code, 1);
    assert!(
        problems(&report)[0].contains("field outcome was edited"),
        "{report}"
    );
    // An administrative event's actor name edited.
    let dir = tampered(
        "actor",
        "UPDATE events SET body = replace(body, '\"admin\"', '\"someone\"') WHERE seq = 6;",
    );
    let (code, report) = check(&dir);
    assert_eq!(code, 1);
    assert!(
        problems(&report)[0].contains("record 6 (tool.publish): field actor.name was edited"),
        "{report}"
    );

    // A checkpoint signed by another key is refused, even for the right log and head.
    let other = cordon_trust::PrivateKey::generate().unwrap();
    let mut statement: cordon_trust::Checkpoint =
        serde_json::from_value(last["statement"].clone()).unwrap();
    statement.time_ms += 1;
    let forged = data.join("forged.json");
    std::fs::write(&forged, statement.sign(&other).unwrap().to_json()).unwrap();
    let (code, report) = verify(&data, &["--checkpoint", forged.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        problems(&report)[0].contains("not by the log key"),
        "{report}"
    );
    // A log key swapped in the data directory does not pass against the key kept elsewhere.
    let dir = tampered("key", "SELECT 1;");
    std::fs::remove_file(dir.join("log.key")).unwrap();
    other.write_new(&dir.join("log.key")).unwrap();
    let (code, report) = verify(
        &dir,
        &[
            "--checkpoint",
            copies.to_str().unwrap(),
            "--key",
            key["key"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        code, 0,
        "the kept key still verifies the true log: {report}"
    );
    let (code, report) = verify(&dir, &["--checkpoint", copies.to_str().unwrap()]);
    assert_eq!(code, 1, "{report}");

    // An exported copy checks on its own against the same checkpoints, without the database.
    let s = Server::start(&data);
    let export = data.join("export.jsonl");
    let out = cordon()
        .args(["audit", "export", "--server", &format!("http://{}", s.addr)])
        .env("CORDON_API_KEY", &f.auditor)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(&export, &out.stdout).unwrap();
    stop(s);
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        lines.lines().count() as i64,
        size + 1,
        "every event, and the restart"
    );
    let check_export = |file: &Path| {
        let out = cordon()
            .args(["audit", "verify", "--export", file.to_str().unwrap()])
            .args(["--checkpoint", copies.to_str().unwrap()])
            .args(["--key", key["key"].as_str().unwrap()])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), report)
    };
    let (code, report) = check_export(&export);
    assert_eq!(code, 0, "{report}");
    assert!(report["checkpoints_checked"].as_u64().unwrap() >= 2);
    // One exported execution claimed to have failed: caught, by record.
    let edited = lines.replacen(r#""outcome":"ok""#, r#""outcome":"trap""#, 1);
    assert_ne!(edited, lines);
    let forged_export = data.join("export-edited.jsonl");
    std::fs::write(&forged_export, edited).unwrap();
    let (code, report) = check_export(&forged_export);
    assert_eq!(code, 1);
    assert!(
        problems(&report)[0].contains("contents do not match its hash"),
        "{report}"
    );
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_event_and_the_checkpoints_still_verify() {
    let f = fixture("audit-kill9");
    let copies = f.data.join("checkpoints.jsonl");
    let args = [
        "--checkpoint-file",
        copies.to_str().unwrap(),
        "--checkpoint-secs",
        "1",
        // The callers and the administrator share one address: no rate limit in the way.
        "--rate-per-ip",
        "1000000",
        "--rate-per-key",
        "1000000",
    ];
    let s = Server::start_with(&f.data, &args);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let (status, nap) = s.publish(&f.admin, &f.signed.join("nap.wasm"));
    assert_eq!(status, 201);
    let nap = nap["name"].as_str().unwrap().to_owned();
    // Every caller stops by itself after this long, so a failed assertion cannot hang the test.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (executions, quarantines) = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut acknowledged = Vec::new();
                    while !done.load(std::sync::atomic::Ordering::Relaxed)
                        && std::time::Instant::now() < give_up
                    {
                        // A refused connection or a cut answer is not acknowledged.
                        let Ok(mut conn) = std::net::TcpStream::connect(&s.addr) else {
                            break;
                        };
                        let body = br#"{"k":"v"}"#;
                        let head = format!(
                            "POST /v1/tools/echo/invoke HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            s.addr,
                            f.invoker,
                            body.len()
                        );
                        use std::io::{Read, Write};
                        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(body).is_err() {
                            break;
                        }
                        let mut raw = Vec::new();
                        let _ = conn.read_to_end(&mut raw);
                        let text = String::from_utf8_lossy(&raw);
                        if !text.starts_with("HTTP/1.1 200") {
                            break;
                        }
                        let json = &text[text.find("\r\n\r\n").unwrap() + 4..];
                        let v: Value = serde_json::from_str(json).unwrap();
                        acknowledged.push(v["execution_id"].as_str().unwrap().to_owned());
                    }
                    acknowledged
                })
            })
            .collect();
        // Administrative changes interleaved with the calls, each acknowledged by its 204.
        let mut quarantines = 0;
        for i in 0..6 {
            let reason = format!(r#"{{"reason":"round {i}"}}"#);
            let (q, _, _) = s.request(
                "POST",
                &format!("/v1/tools/{nap}/quarantine"),
                Some(&f.admin),
                reason.as_bytes(),
            );
            let (r, _, _) = s.request(
                "POST",
                &format!("/v1/tools/{nap}/release"),
                Some(&f.admin),
                b"",
            );
            assert_eq!((q, r), (204, 204));
            quarantines += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
        // SIGKILL in the middle of the calls.
        let pid = s.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success()
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let acknowledged: Vec<String> = callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        (acknowledged, quarantines)
    });
    drop(s);
    assert!(
        executions.len() > 10,
        "only {} calls made it",
        executions.len()
    );

    let s = Server::start_with(&f.data, &args);
    for id in &executions {
        let (status, _, _) = s.request(
            "GET",
            &format!("/v1/executions/{id}"),
            Some(&f.auditor),
            b"",
        );
        assert_eq!(status, 200, "acknowledged execution {id} lost");
    }
    assert_eq!(s.count(&f.auditor, "tool.quarantine"), quarantines);
    assert_eq!(s.count(&f.auditor, "tool.release"), quarantines);
    let data = stop(s);
    let lines = std::fs::read_to_string(&copies).unwrap().lines().count();
    assert!(lines >= 2, "{lines} checkpoints");
    let (code, report) = verify(&data, &["--checkpoint", copies.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert!(report["checkpoints_checked"].as_u64().unwrap() >= lines as u64);
}

/// A one-route HTTP receiver for the checkpoint webhook: every POST body it gets, in order.
fn receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/checkpoints", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(
                request_line.starts_with("POST /checkpoints "),
                "{request_line}"
            );
            let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            if tx.send(String::from_utf8(body).unwrap()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn checkpoints_reach_the_webhook_and_the_last_one_covers_the_stop() {
    let f = fixture("audit-webhook");
    let (url, received) = receiver();
    let s = Server::start_with(
        &f.data,
        &["--checkpoint-webhook", &url, "--checkpoint-secs", "1"],
    );
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    invoke_echo(&s, &f.invoker, 2);
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    let key = cordon_trust::KeyId::parse(key["key"].as_str().unwrap()).unwrap();
    // The first comes right after the start; one within the interval covers the calls.
    let mut cp: cordon_trust::Checkpoint;
    loop {
        let body = received
            .recv_timeout(Duration::from_secs(10))
            .expect("a checkpoint within the interval");
        cp = cordon_trust::Signed::parse(&body)
            .unwrap()
            .verify("checkpoint", &key)
            .unwrap();
        if cp.size >= 8 {
            break;
        }
    }
    let data = stop(s);
    // The final checkpoint, made after the stop event, was delivered before the process exited.
    let mut last = cp;
    while let Ok(body) = received.recv_timeout(Duration::from_secs(2)) {
        last = cordon_trust::Signed::parse(&body)
            .unwrap()
            .verify("checkpoint", &key)
            .unwrap();
    }
    let (code, report) = verify(&data, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["size"].as_i64(), Some(last.size));
    assert_eq!(report["head"].as_str(), Some(last.head.as_str()));
}

#[test]
fn export_follow_writes_new_events_as_they_are_recorded() {
    use std::io::{BufRead, BufReader};
    let f = fixture("audit-follow");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let mut follower = cordon()
        .args([
            "audit",
            "export",
            "--follow",
            "--server",
            &format!("http://{}", s.addr),
        ])
        .env("CORDON_API_KEY", &f.auditor)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel::<Value>();
    let out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || {
        lines
            .recv_timeout(Duration::from_secs(10))
            .expect("an event")
    };
    // What was there: four keys, the start, the publish.
    let seen: Vec<Value> = (0..6).map(|_| next()).collect();
    assert_eq!(seen[5]["kind"], "tool.publish");
    // Then each new event as it happens, without asking again.
    invoke_echo(&s, &f.invoker, 1);
    let e = next();
    assert_eq!(
        (e["kind"].as_str(), e["seq"].as_i64()),
        (Some("execution"), Some(7))
    );
    assert_eq!(e["prev_hash"], seen[5]["hash"]);
    let (status, _, _) = s.request(
        "POST",
        "/v1/tools/echo/quarantine",
        Some(&f.admin),
        br#"{"reason":"followed"}"#,
    );
    assert_eq!(status, 204);
    assert_eq!(next()["event"]["action"]["reason"], "followed");
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn retention_prunes_to_a_checkpoint_and_the_rest_still_verifies() {
    let f = fixture("audit-retention");
    let copies = f.data.join("checkpoints.jsonl");
    let copy = ["--checkpoint-file", copies.to_str().unwrap()];
    let s = Server::start_with(&f.data, &copy);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    invoke_echo(&s, &f.invoker, 3);
    let data = stop(s);
    let (_, before) = verify(&data, &[]);
    let size = before["size"].as_i64().unwrap();
    // Retention of zero days: everything before now goes, up to the last checkpoint (the one
    // made at the stop), which becomes the anchor.
    let mut args = copy.to_vec();
    args.extend(["--retention-days", "0"]);
    let s = Server::start_with(&f.data, &args);
    let mut pruned = false;
    for _ in 0..50 {
        let (_, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
        if report["records"].as_i64() < Some(size) {
            pruned = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pruned, "nothing was pruned");
    invoke_echo(&s, &f.invoker, 1);
    let data = stop(s);
    let (code, report) = verify(&data, &["--checkpoint", copies.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    // The copies made since the anchor were checked; the anchor is the stop's checkpoint.
    assert!(
        report["checkpoints_checked"].as_u64().unwrap() >= 2,
        "{report}"
    );
    assert!(report["records"].as_i64().unwrap() < report["size"].as_i64().unwrap());
    let first_kept: i64 = rusqlite::Connection::open(data.join("cordon.db"))
        .unwrap()
        .query_row(
            "SELECT MIN(seq) FROM (SELECT seq FROM executions UNION ALL SELECT seq FROM events)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(first_kept, size + 1);
}
