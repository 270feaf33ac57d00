//! The `cordon` binary as a user runs it: exit codes, `--json` reports, policies, logs.

use crate::common::temp_dir;
use cordon_test_artifacts as guests;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::LazyLock;

/// One compiled-component cache for every CLI test of this run, as a user's machine has.
static CACHE: LazyLock<PathBuf> = LazyLock::new(|| temp_dir("cli-cache"));

pub fn cordon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .env("CORDON_CACHE_DIR", &*CACHE)
        .env_remove("CORDON_LOG")
        .env_remove("CORDON_SECRET_KEY")
        .env_remove("CORDON_TRUST")
        .env_remove("CORDON_DATA")
        .output()
        .expect("run cordon")
}

pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn run_prints_the_output_and_exits_zero() {
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        guests::WORD_COUNT,
        "--input",
        r#"{"text":"a b c"}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_json(&out),
        serde_json::json!({"words": 3, "lines": 1, "chars": 5})
    );
}

#[test]
fn run_json_reports_outcome_output_error_and_usage() {
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        guests::ECHO,
        "--input",
        r#"{"x":[1,2]}"#,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["output"], serde_json::json!({"x": [1, 2]}));
    assert_eq!(report["error"], Value::Null);
    let usage = &report["usage"];
    for key in [
        "fuel_consumed",
        "peak_memory_bytes",
        "wall_time_us",
        "input_bytes",
        "output_bytes",
        "stdout_bytes",
        "stderr_bytes",
    ] {
        assert!(usage[key].is_u64(), "usage.{key} missing: {usage}");
    }
    assert!(usage["fuel_consumed"].as_u64().unwrap() > 0);
    assert_eq!(usage["input_bytes"], 11);
}

#[test]
fn a_policy_sets_the_limits_and_a_limit_kill_exits_one() {
    let dir = temp_dir("cli-policy");
    let policy = dir.join("spin.toml");
    std::fs::write(&policy, "[limits]\nfuel = 1000000\n").unwrap();
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        guests::INFINITE_LOOP,
        "--policy",
        policy.to_str().unwrap(),
        "--input",
        "{}",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "fuel_exhausted");
    assert_eq!(report["usage"]["fuel_consumed"], 1_000_000);
}

#[test]
fn a_bad_policy_is_a_clear_error_naming_file_and_key() {
    let dir = temp_dir("cli-bad-policy");
    let policy = dir.join("bad.toml");
    std::fs::write(&policy, "[limits]\nfuel = 0\n").unwrap();
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        guests::ECHO,
        "--policy",
        policy.to_str().unwrap(),
        "--input",
        "{}",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: {}: limits.fuel: must be greater than zero",
            policy.display()
        )
    );
}

#[test]
fn input_file_and_stdin_work() {
    let dir = temp_dir("cli-input");
    let input = dir.join("in.json");
    std::fs::write(&input, r#"{"text":"from a file"}"#).unwrap();
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        guests::WORD_COUNT,
        "--input-file",
        input.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(stdout_json(&out)["output"]["words"], 3);
}

#[test]
fn inspect_prints_describe_with_schemas_and_digest() {
    let out = cordon(&["inspect", guests::WORD_COUNT]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = stdout_json(&out);
    assert_eq!(info["name"], "word-count");
    assert_eq!(info["version"], "0.1.0");
    assert_eq!(
        info["input_schema"]["required"],
        serde_json::json!(["text"])
    );
    assert_eq!(
        info["output_schema"]["properties"]["words"]["type"],
        "integer"
    );
    assert_eq!(info["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn loading_a_non_component_fails_with_exit_two() {
    let dir = temp_dir("cli-junk");
    let junk = dir.join("junk.wasm");
    std::fs::write(&junk, b"definitely not wasm").unwrap();
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        junk.to_str().unwrap(),
        "--input",
        "{}",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a WebAssembly binary"), "{stderr}");
}

#[test]
fn json_logs_carry_one_execution_event_with_usage() {
    let out = cordon(&[
        "run",
        "--allow-unsigned",
        guests::ECHO,
        "--input",
        "{}",
        "--log-format",
        "json",
        "--log",
        "cordon=info",
    ]);
    assert!(out.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
        .filter(|e: &Value| e["target"] == "cordon::execution")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "ok");
    assert_eq!(events[0]["export"], "call");
    assert!(events[0]["fuel_consumed"].as_u64().unwrap() > 0);
    assert_eq!(events[0]["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn ctrl_c_stops_a_running_tool_which_is_reported_cancelled_with_its_usage() {
    let dir = temp_dir("cli-ctrl-c");
    let policy = dir.join("steps.toml");
    std::fs::write(&policy, "[limits]\ntimeout_ms = 60_000\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "run",
            "--allow-unsigned",
            guests::STEPS,
            "--policy",
            policy.to_str().unwrap(),
            "--input",
            r#"{"steps":300,"step_ms":100}"#,
            "--json",
        ])
        .env("CORDON_CACHE_DIR", &*CACHE)
        .env("CORDON_LOG", "warn,cordon::commands::run=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the tool runs (past compiling, however long that takes on a busy machine) and has
    // done some of its 30 s of work, SIGINT as a terminal sends it.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(read > 0, "cordon run ended before the tool ran: {seen}");
        seen.push_str(&line);
        if line.contains("the tool runs") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    assert_eq!(out.status.code(), Some(1), "{seen}");
    let report = stdout_json(&out);
    assert_eq!(report["outcome"], "cancelled", "{report}");
    assert_eq!(report["error"], "cancelled by the user (Ctrl-C)");
    assert!(
        report["usage"]["fuel_consumed"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(
        report["usage"]["progress_reports"].as_u64().unwrap() > 0,
        "{report}"
    );
}

/// Errors a first-time user meets say how to get past them.
#[test]
fn first_errors_name_their_fix() {
    // `cordon run` with no trust store names both ways forward.
    let out = cordon(&["run", guests::ECHO, "--input", "{}"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--trust FILE") && err.contains("--allow-unsigned"),
        "{err}"
    );
    // A client command with no API key names the variable and where a key comes from.
    let out = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "invoke",
            "echo",
            "--input",
            "{}",
            "--server",
            "http://127.0.0.1:9",
        ])
        .env_remove("CORDON_API_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CORDON_API_KEY is not set")
            && err.contains("cordon keys create")
            && err.contains("admin.key"),
        "{err}"
    );
}

/// `cordon keygen` says once what the public key is: its key id.
#[test]
fn keygen_names_the_public_key_once() {
    let dir = temp_dir("cli-keygen");
    let key = dir.join("k.pem");
    let out = cordon(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .unwrap()
        .trim()
        .to_owned();
    // Read as scripts read it (`sed -n 's/^key id: *//p'`): the id alone on its line.
    assert!(id.starts_with("ed25519:") && !id.contains(' '), "{text}");
    // Printed as the key id and in the trust-store line, never twice under two names.
    assert_eq!(text.matches(id.as_str()).count(), 2, "{text}");
    assert!(text.contains("the public key"), "{text}");
    assert!(text.contains(&format!("me = [\"{id}\"]")), "{text}");
}
