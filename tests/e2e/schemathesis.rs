//! The OpenAPI document and the server cannot drift apart: schemathesis (pinned) generates
//! requests from `/v1/openapi.json` and runs every one of its checks against a real server with
//! its default budgets and published tools, a bounded number of examples per operation, with a
//! fixed seed.
//!
//! Every operation is exercised but publishing (its body is a signed component, which
//! schemathesis cannot generate; the server tests cover it). `DELETE /v1/tools/{name}` gets a
//! tool published for it, so the one the other operations need stays; `DELETE /v1/keys/{id}`
//! revokes the keys schemathesis itself made with `POST /v1/keys`.

use crate::harness::{Server, fixture};
use cordon_test_artifacts as guests;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pinned schemathesis the test runs.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The `schemathesis` command in the test virtual environment (made, or completed, if needed).
fn schemathesis() -> PathBuf {
    let ready = |venv: &Path| {
        Command::new(venv.join("bin/schemathesis"))
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    crate::harness::venv_with(SCHEMATHESIS, ready).join("bin/schemathesis")
}

#[test]
fn the_server_conforms_to_its_openapi_document_under_every_schemathesis_check() {
    let st = schemathesis();
    let f = fixture("schemathesis");
    // The default budgets: the generated requests come fast and many with bad credentials (the
    // `ignored_auth` check), and every 401 and 429 they meet must be as documented.
    let log = std::fs::File::create(f.data.join("server.log")).unwrap();
    let s = Server::start_full(&f.data, &[], &[], Stdio::from(log));
    for tool in ["echo", "word_count"] {
        let (status, v) = s.publish(&f.publisher, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{v}");
    }
    let report = f.data.join("schemathesis-report");
    let config = Path::new(guests::ROOT).join("tests/e2e/schemathesis.toml");
    let out = Command::new(st)
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("http://{}/v1/openapi.json", s.addr),
            "--checks",
            "all",
            "--header",
            &format!("Authorization: Bearer {}", f.admin),
            "--max-examples",
            "10",
            "--seed",
            "1",
            "--workers",
            "1",
            // Publishing takes a signed component (`application/wasm`), which schemathesis
            // cannot generate; the OpenAPI test and the server tests cover it.
            "--exclude-operation-id",
            "publish",
            "--request-timeout",
            "30",
            "--report-dir",
            report.to_str().unwrap(),
        ])
        .env("NO_COLOR", "1")
        // Its cache goes where it runs: the test's own directory, not the checkout.
        .current_dir(&f.data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found the server and its document disagreeing:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It really tested something, the deletions included.
    assert!(stdout.contains("Tested:"), "{stdout}");
    assert!(!stdout.contains("Tested: 0"), "{stdout}");
    let (status, _) = s.json("GET", "/v1/tools/word-count", Some(&f.admin), b"");
    assert_eq!(status, 404, "DELETE /v1/tools/{{name}} was exercised");
    // Keys it made (POST /v1/keys) it revoked again through the links the document gives.
    let (_, keys) = s.json("GET", "/v1/keys", Some(&f.admin), b"");
    let revoked = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "revoked")
        .count();
    assert!(revoked > 0, "DELETE /v1/keys/{{id}} was exercised: {keys}");
    // The tool the other operations need is still there.
    let (status, _) = s.json("GET", "/v1/tools/echo", Some(&f.admin), b"");
    assert_eq!(status, 200);
    // The run went past the address's failed-authentication budget, and every answer after it
    // was still as documented.
    drop(s);
    let server_log = std::fs::read_to_string(f.data.join("server.log")).unwrap();
    let failures = server_log.matches("unauthenticated request").count();
    assert!(
        server_log.contains("failed-authentication budget spent") && failures > 10,
        "{failures} failed authentications"
    );
}
