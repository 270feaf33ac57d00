//! The server confines itself: with Landlock and a seccomp filter in force (on by default), a
//! compromised server process cannot open a file outside what it kept, nor start a program (the
//! test-only probe, served by a debug build started with `CORDON_TEST_CONFINEMENT_PROBE=1`,
//! tries both from inside the server); the kernel shows the filter; a policy whose mount the
//! process did not keep is refused until a restart; `--no-confine` turns it off and says so.

use crate::common::temp_dir;
use crate::harness::{Server, fixture};
use serde_json::{Value, json};
use std::process::Stdio;

/// The environment that makes a (debug) server serve the probe.
const PROBE: &[(&str, &str)] = &[("CORDON_TEST_CONFINEMENT_PROBE", "1")];

fn proc_status(s: &Server) -> String {
    std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap()
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map_or("", str::trim)
}

fn probe(s: &Server, key: &str, what: Value) -> Value {
    let (status, body) = s.json(
        "POST",
        "/v1/test/confinement",
        Some(key),
        what.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn a_confined_server_cannot_open_files_outside_its_set_nor_start_programs() {
    let f = fixture("confined");
    let outside = temp_dir("confined-outside");
    let secret = outside.join("not-a-mount.txt");
    std::fs::write(&secret, "the operator's file").unwrap();
    // Without the variable that asks for it, there is no probe.
    {
        let plain = Server::start(&f.data);
        let (status, _, _) = plain.request("POST", "/v1/test/confinement", Some(&f.admin), b"{}");
        assert_eq!(status, 404);
    }
    let s = Server::start_env(&f.data, &[], PROBE);
    // The kernel shows the filter in force, and no new privileges.
    let status = proc_status(&s);
    assert_eq!(field(&status, "Seccomp"), "2", "{status}");
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    let (_, _, ready) = s.request("GET", "/readyz", None, b"");
    let ready = String::from_utf8(ready).unwrap();
    assert!(
        ready.contains("confined (landlock fully enforced; seccomp filter in force)"),
        "{ready}"
    );
    // From inside: a file in a temporary directory that is no mount cannot be opened, the trust
    // store can (it was kept), and no program starts.
    let tried = probe(&s, &f.admin, json!({"read": secret, "exec": "/bin/true"}));
    assert!(
        tried["read"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{tried}"
    );
    assert!(
        tried["exec"]
            .as_str()
            .unwrap()
            .contains("Operation not permitted"),
        "{tried}"
    );
    let kept = probe(&s, &f.admin, json!({"read": f.data.join("trust.toml")}));
    assert_eq!(kept["read"], "ok", "{kept}");
    let system = probe(
        &s,
        &f.admin,
        json!({"read": "/etc/shadow", "exec": "/bin/sh"}),
    );
    assert!(
        system["read"].as_str().unwrap().starts_with("error:"),
        "{system}"
    );
    assert!(
        system["exec"]
            .as_str()
            .unwrap()
            .contains("Operation not permitted"),
        "{system}"
    );
    // The server still does its work: publish and invoke.
    let (status, body) = s.publish(&f.publisher, &f.signed.join("echo.wasm"));
    assert_eq!(status, 201, "{body}");
    let (status, body) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        br#"{"message":"confined"}"#,
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_mount_the_process_did_not_keep_is_refused_until_a_restart() {
    let f = fixture("confined-mount");
    let policies = temp_dir("confined-mount-policies");
    let mounted = temp_dir("confined-mount-data");
    std::fs::write(mounted.join("hello.txt"), "hello").unwrap();
    let with_mount = format!(
        "[[filesystem.mounts]]\nhost = \"{}\"\nguest = \"/data\"\nmode = \"read-only\"\n",
        mounted.display()
    );
    let start = |f: &crate::harness::Fixture| {
        Server::start_full(
            &f.data,
            &["--policies", policies.to_str().unwrap()],
            PROBE,
            Stdio::null(),
        )
    };
    let s = start(&f);
    let (status, body) = s.publish(&f.publisher, &f.signed.join("echo.wasm"));
    assert_eq!(status, 201, "{body}");
    let (status, body) = s.json(
        "PUT",
        "/v1/tools/echo/policy",
        Some(&f.admin),
        with_mount.as_bytes(),
    );
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("outside what this server kept")
            && message.contains("restart cordon serve"),
        "{message}"
    );
    drop(s);
    // The policy in the folder: a restarted server keeps its mount, and the policy applies.
    std::fs::write(policies.join("echo.toml"), &with_mount).unwrap();
    let s = start(&f);
    let (status, body) = s.json(
        "PUT",
        "/v1/tools/echo/policy",
        Some(&f.admin),
        with_mount.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    let kept = probe(&s, &f.admin, json!({"read": mounted.join("hello.txt")}));
    assert_eq!(kept["read"], "ok", "{kept}");
}

#[test]
fn no_confine_turns_it_off_and_says_so() {
    let f = fixture("unconfined");
    let log = std::fs::File::create(f.data.join("server.log")).unwrap();
    let s = Server::start_full(&f.data, &["--no-confine"], PROBE, Stdio::from(log));
    assert_eq!(field(&proc_status(&s), "Seccomp"), "0");
    let (_, _, ready) = s.request("GET", "/readyz", None, b"");
    assert!(
        String::from_utf8(ready)
            .unwrap()
            .contains("NOT confined: turned off with --no-confine")
    );
    let outside = temp_dir("unconfined-outside").join("file.txt");
    std::fs::write(&outside, "x").unwrap();
    assert_eq!(probe(&s, &f.admin, json!({"read": outside}))["read"], "ok");
    let log = std::fs::read_to_string(f.data.join("server.log")).unwrap();
    assert!(
        log.contains("cordon::security")
            && log.contains("confinement turned off with --no-confine"),
        "{log}"
    );
}

#[test]
fn cordon_run_is_confined_too() {
    // A tool run locally reads its mount, and the process cannot read beside it.
    let dir = temp_dir("run-confined");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/hello.txt"), "hello from a mount").unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[[filesystem.mounts]]\nhost = \"data\"\nguest = \"/data\"\nmode = \"read-only\"\n",
    )
    .unwrap();
    let out = crate::harness::cordon()
        .args([
            "run",
            "--allow-unsigned",
            cordon_test_artifacts::FS_PROBE,
            "--policy",
            policy.to_str().unwrap(),
            "--cache-dir",
            dir.join("cache").to_str().unwrap(),
            "--json",
            "--input",
            r#"{"ops":[{"op":"read","path":"/data/hello.txt"}]}"#,
        ])
        .env("CORDON_LOG", "cordon::security=info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("process confined"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(report["outcome"], "ok", "{report} {err}");
    assert!(
        report.to_string().contains("hello from a mount"),
        "{report}"
    );
}
