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
    assert_eq!(receipt["kind"], "receipt");
    let st = &receipt["statement"];
    assert_eq!(st["execution_id"], answer["execution_id"]);
    assert_eq!(st["tool"], "echo");
    assert_eq!(st["outcome"], "ok");
    assert_eq!(st["usage"], answer["usage"]);
    // The record it names is the one the log holds.
    let id = answer["execution_id"].as_str().unwrap();
    let (_, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.auditor),
        b"",
    );
    for field in ["seq", "hash"] {
        assert_eq!(st[field], record[field], "{field}");
    }
    for field in ["digest", "policy_hash", "input_sha256", "output_sha256"] {
        assert_eq!(st[field], record[field], "{field}");
    }

    let dir = f.data.join("receipts");
    std::fs::create_dir_all(&dir).unwrap();
    let answer_file = dir.join("answer.json");
    std::fs::write(&answer_file, serde_json::to_vec_pretty(&answer).unwrap()).unwrap();
    let input_file = dir.join("input.json");
    std::fs::write(&input_file, input).unwrap();
    let output_file = dir.join("output.json");
    std::fs::write(
        &output_file,
        serde_json::to_vec_pretty(&answer["output"]).unwrap(),
    )
    .unwrap();

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

    // Any field of the receipt changed: refused.
    let mut changed = 0;
    for field in st.as_object().unwrap().keys() {
        let mut forged = receipt.clone();
        let v = &mut forged["statement"][field];
        *v = match v.clone() {
            Value::String(s) => Value::String(format!("{s}0")),
            Value::Number(n) => Value::from(n.as_i64().unwrap() + 1),
            Value::Object(mut m) => {
                m.insert("fuel_consumed".into(), Value::from(1));
                Value::Object(m)
            }
            Value::Null => Value::String("00".repeat(32)),
            other => panic!("{field}: {other}"),
        };
        let file = dir.join(format!("forged-{field}.json"));
        std::fs::write(&file, forged.to_string()).unwrap();
        let (code, out) = verify(&file, &key, &[]);
        assert_eq!(code, 1, "{field}: {out}");
        assert!(
            out.contains("does not match the statement"),
            "{field}: {out}"
        );
        changed += 1;
    }
    assert_eq!(changed, 14);
    let mut forged = receipt.clone();
    // The first character replaced by another one (never by itself).
    let sig = receipt["signature"].as_str().unwrap();
    let other = if sig.starts_with('A') { 'B' } else { 'A' };
    forged["signature"] = Value::String(format!("{other}{}", &sig[1..]));
    let file = dir.join("forged-signature.json");
    std::fs::write(&file, forged.to_string()).unwrap();
    assert_eq!(verify(&file, &key, &[]).0, 1);

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
    let seq = st["seq"].as_i64().unwrap();
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
    assert!(out.contains("no longer matches its own hash"), "{out}");
    // A receipt whose record is gone from the log.
    rusqlite::Connection::open(f.data.join("cordon.db"))
        .unwrap()
        .execute("DELETE FROM executions WHERE seq = ?1", [seq])
        .unwrap();
    let (code, out) = verify(&answer_file, &key, &["--data", data]);
    assert_eq!(code, 1);
    assert!(out.contains("holds no execution record"), "{out}");
}
