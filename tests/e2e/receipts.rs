//! Execution receipts: every invoke answer carries one, signed with the log key; it verifies
//! offline, any change to it fails, and against the log it fails once the record is edited.

use crate::harness::{Server, cordon, fixture};
use serde_json::Value;
use std::path::Path;

/// `cordon receipt verify FILE --key KEY ...`: (exit code, stdout).
fn verify(file: &Path, key: &str, extra: &[&str]) -> (i32, String) {
    let out = cordon()
        .args(["receipt", "verify", file.to_str().unwrap(), "--key", key])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Writes `value` to `dir/name.json` and returns its path.
/// `GET /v1/executions/{id}/receipt`, asked again while no signed checkpoint covers the record
/// yet (each refusal checked: 409 `not_checkpointed` with a Retry-After).
fn later_receipt(s: &Server, key: &str, id: &str) -> (u16, Value) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, head, body) = s.request(
            "GET",
            &format!("/v1/executions/{id}/receipt"),
            Some(key),
            b"",
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        if body["error"]["code"] != "not_checkpointed" || std::time::Instant::now() > until {
            return (status, body);
        }
        assert_eq!(status, 409);
        assert!(head.contains("retry-after: "), "{head}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// The execution id inside a receipt's record.
fn receipt_record_id(receipt: &Value) -> String {
    let record: Value = serde_json::from_str(receipt["record"].as_str().unwrap()).unwrap();
    record["id"].as_str().unwrap().to_owned()
}

fn save(dir: &Path, name: &str, value: &Value) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    file
}

/// `receipt` with its record's field `field` changed (inside the record's string), and, when
/// `rehash`, its hash recomputed to match.
fn with_record_field(receipt: &Value, field: &str, rehash: bool) -> Value {
    let mut record: Value = serde_json::from_str(receipt["record"].as_str().unwrap()).unwrap();
    record[field] = match record[field].clone() {
        Value::String(s) => Value::String(format!("{s}0")),
        Value::Number(n) => Value::from(n.as_i64().unwrap() + 1),
        Value::Object(mut m) => {
            m.insert("fuel_consumed".into(), Value::from(1));
            Value::Object(m)
        }
        Value::Null => Value::String("00".repeat(32)),
        other => panic!("{field}: {other}"),
    };
    let mut forged = receipt.clone();
    let body = record.to_string();
    if rehash {
        forged["hash"] = Value::String(cordon_core::link::link_hash(
            receipt["prev_hash"].as_str().unwrap(),
            receipt["seq"].as_i64().unwrap(),
            &body,
        ));
    }
    forged["record"] = Value::String(body);
    forged
}

#[test]
fn receipts_verify_offline_and_against_the_log_and_any_change_fails() {
    let f = fixture("receipts");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let input = br#"{"message":"prove it"}"#;
    let (status, answer) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), input);
    assert_eq!(status, 200, "{answer}");
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    let key = key["key"].as_str().unwrap().to_owned();
    let receipt = &answer["receipt"];
    assert_eq!(receipt["batch"]["kind"], "batch");
    let claims: Value = serde_json::from_str(receipt["record"].as_str().unwrap()).unwrap();
    assert_eq!(claims["id"], answer["execution_id"]);
    assert_eq!(claims["tool"], "echo");
    assert_eq!(claims["outcome"], "ok");
    assert_eq!(claims["usage"], answer["usage"]);
    // The record it carries is the one the log holds.
    let id = answer["execution_id"].as_str().unwrap();
    let (_, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.auditor),
        b"",
    );
    for field in ["seq", "hash", "prev_hash"] {
        assert_eq!(receipt[field], record[field], "{field}");
    }
    for field in [
        "digest",
        "policy_hash",
        "input_sha256",
        "output_sha256",
        "caller_name",
    ] {
        assert_eq!(claims[field], record[field], "{field}");
    }

    let dir = f.data.join("receipts");
    std::fs::create_dir_all(&dir).unwrap();
    let answer_file = save(&dir, "answer", &answer);
    let input_file = dir.join("input.json");
    std::fs::write(&input_file, input).unwrap();
    let output_file = save(&dir, "output", &answer["output"]);

    // Offline: the answer as saved, with its input and output.
    let (code, out) = verify(
        &answer_file,
        &key,
        &[
            "--input",
            input_file.to_str().unwrap(),
            "--output",
            output_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("valid: echo 0.1.0 ran as"), "{out}");
    // The bare receipt, re-indented, is the same receipt.
    assert_eq!(verify(&save(&dir, "bare", receipt), &key, &[]).0, 0);
    // Another input is not the one it was for.
    std::fs::write(dir.join("other.json"), br#"{"message":"other"}"#).unwrap();
    let (code, out) = verify(
        &answer_file,
        &key,
        &["--input", dir.join("other.json").to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(out.contains("is not the input"), "{out}");
    // Another key.
    let other = cordon_trust::PrivateKey::generate()
        .unwrap()
        .key_id()
        .to_string();
    let (code, out) = verify(&answer_file, &other, &[]);
    assert_eq!(code, 1);
    assert!(out.contains("not by the log key"), "{out}");

    // Any field of the record changed: refused, whether or not its hash is made to match.
    let mut changed = 0;
    for field in claims.as_object().unwrap().keys() {
        for (rehash, reason) in [
            (false, "does not match its hash"),
            (true, "audit path does not lead"),
        ] {
            let file = save(
                &dir,
                &format!("forged-{field}-{rehash}"),
                &with_record_field(receipt, field, rehash),
            );
            let (code, out) = verify(&file, &key, &[]);
            assert_eq!(code, 1, "{field}: {out}");
            assert!(out.contains(reason), "{field} (rehash {rehash}): {out}");
        }
        changed += 1;
    }
    assert!(changed >= 17, "{changed} fields");
    // Its place in the chain, its path, its batch.
    let mut forged = receipt.clone();
    forged["seq"] = Value::from(forged["seq"].as_i64().unwrap() + 1);
    let (code, out) = verify(&save(&dir, "forged-seq", &forged), &key, &[]);
    assert!(
        code == 1 && out.contains("does not match its hash"),
        "{out}"
    );
    for field in ["first_seq", "size", "head", "root", "time_ms", "log_id"] {
        let mut forged = receipt.clone();
        let v = &mut forged["batch"]["statement"][field];
        *v = match v.clone() {
            Value::String(s) => Value::String(format!("{s}0")),
            Value::Number(n) => Value::from(n.as_i64().unwrap() + 1),
            other => panic!("{field}: {other}"),
        };
        let (code, out) = verify(
            &save(&dir, &format!("forged-batch-{field}"), &forged),
            &key,
            &[],
        );
        assert_eq!(code, 1, "{field}: {out}");
        assert!(
            out.contains("does not match the statement"),
            "{field}: {out}"
        );
    }
    let mut forged = receipt.clone();
    forged["path"] = serde_json::json!(["00".repeat(32)]);
    let (code, out) = verify(&save(&dir, "forged-path", &forged), &key, &[]);
    assert!(
        code == 1 && out.contains("audit path does not lead"),
        "{out}"
    );
    let mut forged = receipt.clone();
    // The first character replaced by another one (never by itself).
    let sig = receipt["batch"]["signature"].as_str().unwrap();
    let other = if sig.starts_with('A') { 'B' } else { 'A' };
    forged["batch"]["signature"] = Value::String(format!("{other}{}", &sig[1..]));
    assert_eq!(
        verify(&save(&dir, "forged-signature", &forged), &key, &[]).0,
        1
    );

    // Against the live log, with a key that may read it.
    let url = format!("http://{}", s.addr);
    let out = cordon()
        .args([
            "receipt",
            "verify",
            answer_file.to_str().unwrap(),
            "--key",
            &key,
        ])
        .args(["--server", &url])
        .env("CORDON_API_KEY", &f.auditor)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Against the data directory; then the record is edited, and the receipt no longer holds.
    let data = f.data.to_str().unwrap();
    let (code, out) = verify(&answer_file, &key, &["--data", data]);
    assert_eq!(code, 0, "{out}");
    let id = receipt_record_id(receipt);
    let seq = receipt["seq"].as_i64().unwrap();
    rusqlite::Connection::open(f.data.join("cordon.db"))
        .unwrap()
        .execute(
            "UPDATE executions SET fuel = fuel + 1 WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    let (code, out) = verify(&answer_file, &key, &["--data", data]);
    assert_eq!(code, 1);
    assert!(out.contains("differs from the receipt in usage"), "{out}");
    // The server signs no receipt of a record that no longer matches its hash.
    let (status, refused) = later_receipt(&s, &f.auditor, &id);
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "record_changed");
    assert!(out.contains("no longer matches its own hash"), "{out}");
    // The record's stored hash replaced too (a rewrite that recomputes hashes would): the
    // batch statement the receipt carries is a checkpoint the log no longer matches.
    rusqlite::Connection::open(f.data.join("cordon.db"))
        .unwrap()
        .execute(
            "UPDATE executions SET hash = zeroblob(32) WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    let (code, out) = verify(&answer_file, &key, &["--data", data]);
    assert_eq!(code, 1);
    assert!(
        out.contains("is no longer the one its batch signed"),
        "{out}"
    );
    // A receipt whose record is gone from the log.
    rusqlite::Connection::open(f.data.join("cordon.db"))
        .unwrap()
        .execute("DELETE FROM executions WHERE seq = ?1", [seq])
        .unwrap();
    let (code, out) = verify(&answer_file, &key, &["--data", data]);
    assert_eq!(code, 1);
    assert!(out.contains("holds no execution record"), "{out}");
}

/// Concurrent calls share a group commit and its one signature; each receipt still verifies on
/// its own, and names only its own record.
#[test]
fn receipts_of_one_group_commit_share_a_signature_and_each_verifies_alone() {
    let f = fixture("receipts-batch");
    let s = Server::start(&f.data);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    let key = cordon_trust::KeyId::parse(key["key"].as_str().unwrap()).unwrap();
    let dir = f.data.join("receipts");
    std::fs::create_dir_all(&dir).unwrap();
    // Rounds of 24 simultaneous calls until one group commit held several of them (each round
    // almost always does; the bound keeps a slow machine from looping forever).
    let mut shared = None;
    let mut total = 0;
    for round in 0..10 {
        let answers: Vec<Value> = std::thread::scope(|scope| {
            let calls: Vec<_> = (0..24)
                .map(|i| {
                    let s = &s;
                    let inv = &f.invoker;
                    scope.spawn(move || {
                        let body = format!(r#"{{"message":"call {round}-{i}"}}"#);
                        let (status, a) =
                            s.json("POST", "/v1/tools/echo/invoke", Some(inv), body.as_bytes());
                        assert_eq!(status, 200, "{a}");
                        a
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        let mut by_batch: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
        for a in answers {
            let r = cordon_trust::Receipt::parse(a["receipt"].clone()).unwrap();
            let batch = r.verify(&key).unwrap();
            let record = r.record_json().unwrap();
            assert_eq!(record["id"], a["execution_id"]);
            assert_eq!(record["output_sha256"].as_str().unwrap().len(), 64);
            assert!(batch.first_seq <= r.seq && r.seq <= batch.size);
            total += 1;
            by_batch
                .entry(
                    a["receipt"]["batch"]["signature"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
                .or_default()
                .push(a);
        }
        if let Some(group) = by_batch.into_values().find(|g| g.len() > 1) {
            shared = Some(group);
            break;
        }
    }
    let group = shared.expect("no two of 240 simultaneous calls shared a group commit");
    // Two receipts of one batch: one signature, different records and paths, each valid through
    // the command line on its own.
    let (a, b) = (&group[0]["receipt"], &group[1]["receipt"]);
    assert_eq!(a["batch"], b["batch"]);
    assert_ne!(a["record"], b["record"]);
    assert_ne!(a["path"], b["path"]);
    let statement = &a["batch"]["statement"];
    let len = statement["size"].as_i64().unwrap() - statement["first_seq"].as_i64().unwrap() + 1;
    assert!(len >= group.len() as i64, "{statement}");
    for (i, answer) in group.iter().take(2).enumerate() {
        let file = save(&dir, &format!("shared-{i}"), answer);
        let out = cordon()
            .args([
                "receipt",
                "verify",
                file.to_str().unwrap(),
                "--key",
                &key.to_string(),
            ])
            .args(["--server", &format!("http://{}", s.addr)])
            .env("CORDON_API_KEY", &f.auditor)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    // One receipt's path swapped for another's of the same batch: refused.
    let mut forged = a.clone();
    forged["path"] = b["path"].clone();
    let (code, out) = verify(&save(&dir, "swapped-path", &forged), &key.to_string(), &[]);
    assert!(
        code == 1 && out.contains("audit path does not lead"),
        "{total} calls: {out}"
    );
}

/// A receipt of a record already in the log: the seal of its group, exactly the receipt its
/// caller got, while the group as stored still holds against it. It verifies offline like the
/// answer's own; a record rewritten in the database with its hash recomputed gets none.
#[test]
fn a_stored_record_gets_a_receipt_only_while_the_log_holds_up_to_a_checkpoint() {
    let f = fixture("receipts-later");
    let s = Server::start_with(&f.data, &["--checkpoint-secs", "1"]);
    assert_eq!(s.publish(&f.admin, &f.signed.join("echo.wasm")).0, 201);
    let mut answers = Vec::new();
    for n in 0..2 {
        let body = format!("{{\"n\":{n}}}");
        let (status, answer) = s.json(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&f.invoker),
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        answers.push(answer);
    }
    let (_, key) = s.json("GET", "/v1/audit/key", Some(&f.invoker), b"");
    let key = key["key"].as_str().unwrap().to_owned();
    let first = &answers[0]["receipt"];
    let id = receipt_record_id(first);

    // The caller itself, or an auditor, gets one; another invoker key does not.
    let (status, later) = later_receipt(&s, &f.invoker, &id);
    assert_eq!(status, 200, "{later}");
    // It is the receipt the call answered with: its group's seal, kept with the group.
    assert_eq!(later, *first);
    let (status, _) = later_receipt(&s, &f.publisher, &id);
    assert_eq!(status, 404);
    let data = f.data.to_str().unwrap();
    let file = save(&f.data, "later-receipt.json", &later);
    let (code, out) = verify(&file, &key, &["--data", data]);
    assert_eq!(code, 0, "{out}");
    // The same from the command line: `cordon receipt get`, then `verify` on what it printed.
    let url = format!("http://{}", s.addr);
    let got = cordon()
        .args(["receipt", "get", &id, "--server", &url])
        .env("CORDON_API_KEY", &f.invoker)
        .output()
        .unwrap();
    assert_eq!(got.status.code(), Some(0), "{got:?}");
    let fetched: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(fetched["record"], first["record"]);
    let file = save(&f.data, "got-receipt.json", &fetched);
    let (code, out) = verify(&file, &key, &[]);
    assert_eq!(code, 0, "{out}");

    // The record rewritten with its hash recomputed (what a database writer without the log
    // key can do): it matches its own hash, but no longer links to the next record, and the
    // server refuses to vouch for it.
    let seq = first["seq"].as_i64().unwrap();
    let record = first["record"].as_str().unwrap();
    let fuel: Value =
        serde_json::from_str::<Value>(record).unwrap()["usage"]["fuel_consumed"].clone();
    let fuel = fuel.as_u64().unwrap();
    let forged = record.replacen(
        &format!("\"fuel_consumed\":{fuel}"),
        &format!("\"fuel_consumed\":{}", fuel + 1),
        1,
    );
    let hash = cordon_core::link::link_hash(first["prev_hash"].as_str().unwrap(), seq, &forged);
    rusqlite::Connection::open(f.data.join("cordon.db"))
        .unwrap()
        .execute(
            &format!("UPDATE executions SET fuel = fuel + 1, hash = X'{hash}' WHERE seq = ?1"),
            [seq],
        )
        .unwrap();
    let (status, stored) = s.json(
        "GET",
        &format!("/v1/executions/{id}?record=true"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(stored["hash"], hash.as_str(), "the rewrite took: {stored}");
    let (status, refused) = later_receipt(&s, &f.auditor, &id);
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "record_changed");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not hold"), "{message}");
    let got = cordon()
        .args(["receipt", "get", &id, "--server", &url])
        .env("CORDON_API_KEY", &f.auditor)
        .output()
        .unwrap();
    assert_eq!(got.status.code(), Some(1), "{got:?}");
    assert!(
        String::from_utf8_lossy(&got.stderr).contains("409 record_changed"),
        "{got:?}"
    );
}
