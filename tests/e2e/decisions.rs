//! `cordon decisions` where a bundle is written: the example bundle's tests pass, a failing
//! test fails the command, and `eval` shows what a bundle decides for an input (issue 37's
//! engine, before the server applies bundles).

use crate::cli::cordon;
use crate::common::temp_dir;
use serde_json::{Value, json};

fn example() -> String {
    std::path::Path::new(cordon_test_artifacts::ROOT)
        .join("policies/decisions/example")
        .to_string_lossy()
        .into_owned()
}

fn eval(dir: &str, input: &Value) -> (i32, Value) {
    let file = temp_dir("decisions-eval").join("input.json");
    std::fs::write(&file, input.to_string()).unwrap();
    let out = cordon(&["decisions", "eval", dir, "--input", file.to_str().unwrap()]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

#[test]
fn the_example_bundle_tests_pass_and_its_decisions_are_shown() {
    let out = cordon(&["decisions", "test", &example()]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.ends_with("11 passed, 0 failed\n"), "{printed}");
    assert_eq!(
        printed.matches("PASS data.cordon_test.").count(),
        11,
        "{printed}"
    );

    let call = |roles: &[&str], tool: &str, read_only: bool, hour: u32, paths: &[&str]| {
        json!({
            "action": "invoke",
            "caller": {"name": "ada", "roles": roles},
            "tool": {"name": tool, "read_only": read_only},
            "arguments": {"paths": paths},
            "request": {"hour": hour, "weekday": "Tue"},
        })
    };
    let (code, ok) = eval(&example(), &call(&["invoker"], "notes", false, 10, &[]));
    assert_eq!((code, &ok["permits"]), (0, &json!(true)), "{ok}");
    assert_eq!(ok["bundle"].as_str().unwrap().len(), 64);
    // After hours, a tool that writes is not allowed: no reason, just not allowed.
    // The rules that fired are shown with their values.
    assert_eq!(ok["rules"]["working_hours"], true, "{ok}");
    assert_eq!(ok["rules"]["allow"], true, "{ok}");
    let (code, late) = eval(&example(), &call(&["invoker"], "notes", false, 22, &[]));
    assert!(late["rules"].get("working_hours").is_none(), "{late}");
    assert_eq!(code, 1, "{late}");
    assert_eq!(late["decision"]["allow"], false, "{late}");
    // A reason over the arguments.
    let (code, etc) = eval(
        &example(),
        &call(&["admin"], "read_file", true, 10, &["/etc/shadow"]),
    );
    assert_eq!(code, 1, "{etc}");
    assert_eq!(
        etc["decision"]["deny"],
        json!(["read_file may not read or write under /etc"])
    );
    // Held for an admin's approval (allowed, then waiting).
    let (code, held) = eval(
        &example(),
        &call(&["invoker"], "delete_files", false, 10, &[]),
    );
    assert_eq!(code, 0, "{held}");
    assert_eq!(
        held["decision"]["approval"],
        json!({"approvers": ["role:admin"], "timeout_secs": 900})
    );
}

#[test]
fn a_failing_test_or_a_bundle_without_allow_fails_the_command_and_says_why() {
    let dir = temp_dir("decisions-failing");
    std::fs::write(
        dir.join("policy.rego"),
        "package authz\nimport rego.v1\ndefault allow := false\nallow if input.caller.name == \"ada\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("policy_test.rego"),
        "package authz_test\nimport rego.v1\ntest_bob if data.authz.allow with input as {\"caller\": {\"name\": \"bob\"}}\n",
    )
    .unwrap();
    // Without a manifest the package that decides is `cordon`, which this bundle lacks.
    let out = cordon(&["decisions", "test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("package cordon declares no `allow` rule"),
        "{err}"
    );
    // With one naming `authz`, its own package decides, and the failing test fails the run.
    std::fs::write(dir.join("manifest.json"), r#"{"package": "authz"}"#).unwrap();
    let out = cordon(&["decisions", "test", dir.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("FAIL data.authz_test.test_bob (undefined)"),
        "{printed}"
    );
    assert!(printed.ends_with("0 passed, 1 failed\n"), "{printed}");
    // A field the input document lacks is an error naming it and what there is, not a call
    // silently denied; the schema is printed whole.
    std::fs::write(
        dir.join("policy.rego"),
        "package authz\nimport rego.v1\ndefault allow := false\nallow if input.caller.role == \"admin\"\n",
    )
    .unwrap();
    let out = cordon(&["decisions", "test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.rego:4: input.caller.role is not in the input document"),
        "{err}"
    );
    let out = cordon(&["decisions", "schema"]);
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema["properties"]["request"]["properties"]["weekday"]["enum"][6],
        "Sun"
    );
    // A module that does not parse is named.
    std::fs::write(dir.join("broken.rego"), "package authz\nallow if {").unwrap();
    let out = cordon(&["decisions", "test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.rego"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
