//! The policy files and the secret store as an operator uses them through the `cordon` binary.

use crate::cli::{cordon, stdout_json};
use crate::common::temp_dir;
use cordon_test_artifacts as guests;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn policies() -> std::path::PathBuf {
    Path::new(cordon_test_artifacts::ROOT).join("policies")
}

#[test]
fn every_shipped_policy_checks_and_shows_its_grants() {
    let mut files: Vec<String> = std::fs::read_dir(policies())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let mut args = vec!["policy", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = cordon(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // One pretty JSON document per file.
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(docs.len(), files.len());
    let read_file = docs
        .iter()
        .find(|d| d["file"].as_str().unwrap().ends_with("read-file.toml"))
        .unwrap();
    let mount = &read_file["policy"]["filesystem"]["mounts"][0];
    assert_eq!(mount["guest"], "/data");
    assert_eq!(mount["mode"], "read-only");
    assert!(
        mount["host"]
            .as_str()
            .unwrap()
            .ends_with("policies/data/read-file")
    );
    let http_get = docs
        .iter()
        .find(|d| d["file"].as_str().unwrap().ends_with("http-get.toml"))
        .unwrap();
    assert_eq!(
        http_get["policy"]["network"]["allow"][0],
        "https://example.com:443"
    );
    assert_eq!(http_get["policy"]["limits"]["max_http_requests"], 4);
}

#[test]
fn policy_check_reports_the_file_and_key() {
    let dir = temp_dir("policy-check-bad");
    let bad = dir.join("http-get.toml");
    std::fs::write(
        &bad,
        "[network]\nallow = [\"https://api.github.com\", \"https//api.x\"]\n",
    )
    .unwrap();
    let out = cordon(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "error: {}: network.allow[1]: \"https//api.x\" is not a host pattern: a scheme must be followed by `://`",
            bad.display()
        )
    );
}

#[test]
fn read_file_does_its_job_under_its_policy_and_nothing_more() {
    let policy = policies().join("read-file.toml");
    let run = |path: &str| {
        let input = serde_json::json!({ "path": path }).to_string();
        stdout_json(&cordon(&[
            "run",
            "--allow-unsigned",
            guests::READ_FILE,
            "--policy",
            policy.to_str().unwrap(),
            "--input",
            &input,
            "--json",
        ]))
    };
    let ok = run("/data/hello.txt");
    assert_eq!(ok["outcome"], "ok");
    assert!(
        ok["output"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Hello from the read-file sample")
    );
    let denied = run("/etc/passwd");
    assert_eq!(denied["outcome"], "tool_error");
    let escape = run("/data/../../read-file.toml");
    assert_eq!(escape["outcome"], "tool_error");
}

#[test]
fn secrets_come_from_stdin_are_encrypted_at_rest_and_never_leave_the_sandbox() {
    let data = temp_dir("secret-store");
    let key = String::from_utf8(cordon(&["secret", "new-key"]).stdout).unwrap();
    let key = key.trim();
    let secret_value = "sk-live-0123456789abcdef";

    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "secret",
            "set",
            "api-token",
            "--data",
            data.to_str().unwrap(),
        ])
        .env("CORDON_SECRET_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret_value}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at_rest = std::fs::read_to_string(data.join("secrets.json")).unwrap();
    assert!(!at_rest.contains(secret_value));

    let policy = data.join("env.toml");
    std::fs::write(&policy, "[env]\nTOKEN = { secret = \"api-token\" }\n").unwrap();
    let run_env_probe = [
        "run",
        "--allow-unsigned",
        guests::ENV_PROBE,
        "--policy",
        policy.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(run_env_probe)
        .args(["--input", r#"{"leak":"TOKEN"}"#])
        .env("CORDON_SECRET_KEY", key)
        .env("CORDON_LOG", "info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["output"]["TOKEN"], "[REDACTED]");
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !everything.contains(secret_value),
        "the secret leaked: {everything}"
    );

    // Without the key the store cannot be opened, and the error says why without the value.
    let out = cordon(&[&run_env_probe[..], &["--input", "{}"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CORDON_SECRET_KEY is not set"));
}
