//! A record rewritten in the database before the next checkpoint, its chain hash and check bytes
//! recomputed (all a database writer without the log key can do): the server never signs over
//! it. The next checkpoint is refused, the record gets no receipt, verification names it, and
//! one `audit.tampered` event and a log line say which link it is.

use crate::harness::{Server, fixture};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The sequence number the newest checkpoint covers (0 before the first).
fn checkpoint_size(s: &Server, key: &str) -> i64 {
    let (status, cp) = s.json("GET", "/v1/audit/checkpoint", Some(key), b"");
    if status == 404 {
        return 0;
    }
    assert_eq!(status, 200, "{cp}");
    cp["statement"]["size"].as_i64().unwrap()
}

fn tampered_events(s: &Server, key: &str) -> Vec<Value> {
    let (status, page) = s.json(
        "GET",
        "/v1/audit/events?kind=audit.tampered&limit=100",
        Some(key),
        b"",
    );
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().unwrap().clone()
}

#[test]
fn a_record_rewritten_before_its_checkpoint_is_never_signed_over() {
    let f = fixture("tamper-tail");
    let log = f.data.join("server.log");
    let s = Server::start_full(
        &f.data,
        &["--checkpoint-secs", "1", "--log-format", "json"],
        &[],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);

    // A call whose record no checkpoint covers yet (another call if one just did).
    let mut found = None;
    for n in 0..10 {
        let (status, answer) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            format!("{{\"n\":{n}}}").as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        let receipt = answer["receipt"].clone();
        let seq = receipt["seq"].as_i64().unwrap();
        // Rewritten at once: fuel + 1, the chain hash and the check bytes recomputed.
        let record = receipt["record"].as_str().unwrap();
        let fuel = serde_json::from_str::<Value>(record).unwrap()["usage"]["fuel_consumed"]
            .as_u64()
            .unwrap();
        let forged = record.replacen(
            &format!("\"fuel_consumed\":{fuel}"),
            &format!("\"fuel_consumed\":{}", fuel + 1),
            1,
        );
        assert_ne!(forged, record);
        let hash =
            cordon_core::link::link_hash(receipt["prev_hash"].as_str().unwrap(), seq, &forged);
        let checks = cordon_storage::chain::field_checks(&forged);
        rusqlite::Connection::open(f.data.join("cordon.db"))
            .unwrap()
            .execute(
                &format!(
                    "UPDATE executions SET fuel = fuel + 1, hash = X'{hash}', checks = ?2 WHERE seq = ?1"
                ),
                rusqlite::params![seq, checks],
            )
            .unwrap();
        if checkpoint_size(&s, &f.auditor) < seq {
            found = Some((seq, answer["execution_id"].as_str().unwrap().to_owned()));
            break;
        }
        // A checkpoint came between the call and the rewrite: that one was signed over the
        // record as committed; put it back and try with the next call.
        rusqlite::Connection::open(f.data.join("cordon.db"))
            .unwrap()
            .execute(
                &format!(
                    "UPDATE executions SET fuel = fuel - 1, hash = X'{}', checks = ?2 WHERE seq = ?1",
                    receipt["hash"].as_str().unwrap()
                ),
                rusqlite::params![seq, cordon_storage::chain::field_checks(record)],
            )
            .unwrap();
    }
    let (seq, id) = found.expect("a call not yet checkpointed");

    // The next checkpoints are refused: one event names the link, and no checkpoint covers it.
    let until = Instant::now() + Duration::from_secs(20);
    while tampered_events(&s, &f.auditor).is_empty() {
        assert!(Instant::now() < until, "no audit.tampered event");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3)); // three more checkpoint intervals
    let events = tampered_events(&s, &f.auditor);
    assert_eq!(events.len(), 1, "one event per finding: {events:?}");
    let action = &events[0]["event"]["action"];
    assert_eq!(action["seq"], seq, "{action}");
    assert!(action["why"].as_str().unwrap().contains("seal"), "{action}");
    assert!(
        checkpoint_size(&s, &f.auditor) < seq,
        "a checkpoint was signed over the rewritten record"
    );
    // The detection rule shipped on by default raised one critical alert for it.
    let (status, alerts) = s.json("GET", "/v1/alerts", Some(&f.auditor), b"");
    assert_eq!(status, 200, "{alerts}");
    let raised = alerts["alerts"].as_array().unwrap();
    assert_eq!(raised.len(), 1, "{alerts}");
    assert_eq!(raised[0]["rule"], "chain_broken");
    assert_eq!(raised[0]["severity"], "critical");
    assert_eq!(
        raised[0]["details"]["executions"],
        serde_json::json!([format!("seq {seq}")])
    );

    // No receipt for it: the seal its group was committed under no longer holds.
    let (status, refused) = s.json(
        "GET",
        &format!("/v1/executions/{id}/receipt"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "record_changed");

    // Verification says so, naming the link, though every hash and check byte was redone.
    let (status, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(status, 200);
    assert_eq!(report["intact"], false, "{report}");
    let problems = report["problems"].to_string();
    assert!(problems.contains(&format!("link {seq}")), "{problems}");

    // The server keeps serving, and its log names the link.
    let (status, answer) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert_eq!(status, 200, "{answer}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("changed after it was committed")
                && l.contains(&format!("\"seq\":{seq}"))),
        "{text}"
    );
}
