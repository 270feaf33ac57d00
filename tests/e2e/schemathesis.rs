//! The OpenAPI document and the server cannot drift apart: schemathesis (pinned) generates
//! requests from `/v1/openapi.json` and runs every one of its checks against a real server with
//! a published tool, a bounded number of examples per operation, with a fixed seed.
//!
//! `DELETE` is left out (it would delete the tool the other operations need), and publishing
//! (its body is a signed component, which schemathesis cannot generate); every other operation
//! is exercised.

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
    // The generated requests come fast and many without a valid key (the `ignored_auth`
    // check): budgets out of the way, so every answer is the endpoint's own.
    let s = Server::start_with(
        &f.data,
        &[
            "--rate-per-key",
            "1000000",
            "--rate-per-ip",
            "1000000",
            "--auth-failures-per-minute",
            "1000000",
        ],
    );
    let (status, v) = s.publish(&f.publisher, &f.signed.join("echo.wasm"));
    assert_eq!(status, 201, "{v}");
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
            "--exclude-method",
            "DELETE",
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
    // It really tested something.
    assert!(stdout.contains("Tested:"), "{stdout}");
    assert!(!stdout.contains("Tested: 0"), "{stdout}");
}
