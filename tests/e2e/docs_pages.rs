//! Every command the documentation shows is run by a test. `docs/authoring.md` runs as one
//! script (`guide.rs`); the other pages with commands run here, line by line, with the
//! placeholders a reader fills in (a host, a key, an execution id) filled in by the test, in a
//! directory of their own. A page whose commands no test runs fails
//! `every_page_with_commands_is_run_by_a_test`.

use crate::common::temp_dir;
use crate::harness::{Server, fixture};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Pages whose commands run elsewhere, and where.
const RUN_ELSEWHERE: &[(&str, &str)] = &[
    ("authoring.md", "guide.rs runs the page as one script"),
    (
        "fuzzing.md",
        "scripts/test.sh runs scripts/fuzz.sh, whose per-target command is the page's",
    ),
    (
        "deploy.md",
        "deploy.rs: the_nodes_run_with_the_least_privileges_the_deploy_files_grant",
    ),
];

/// Pages run by a test of this file.
const RUN_HERE: &[&str] = &[
    "signing.md",
    "long-running.md",
    "distribution.md",
    "decisions.md",
];

fn docs() -> PathBuf {
    Path::new(cordon_test_artifacts::ROOT).join("docs")
}

/// The commands of a page's ```` ```sh ```` blocks (indented ones too, as inside a list), one
/// per command: continued lines joined, blank lines and comment lines left out.
pub fn commands(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(docs().join(page)).unwrap();
    let mut out = Vec::new();
    let mut inside = false;
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed == "```sh";
            continue;
        }
        if !inside || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(trimmed);
        out.push(std::mem::take(&mut pending));
    }
    out
}

/// Runs one command line in `dir` with `env`, the `cordon` just built first on `PATH`; returns
/// its output after asserting it succeeded.
pub(crate) fn run_line(line: &str, dir: &Path, env: &[(String, String)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_cordon")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["120", "bash", "-euo", "pipefail", "-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("CORDON_API_KEY")
        .env_remove("CORDON_LOG")
        // The test command's build settings are for cordon's crates, not a page's builds.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a trust store naming the key `cordon keygen` printed, as the page's reader does.
fn trust_the_key_of(keygen: &Output, trust: &Path) {
    let key_id = stdout(keygen)
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .unwrap_or_else(|| panic!("no key id in {}", stdout(keygen)))
        .trim()
        .to_owned();
    std::fs::write(trust, format!("[publishers]\nauthor = [\"{key_id}\"]\n")).unwrap();
}

/// The first JSON object in a text (a curl answer after its headers).
fn json_in(text: &str) -> Value {
    let at = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {text}"));
    serde_json::Deserializer::from_str(&text[at..])
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap()
}

#[test]
fn every_page_with_commands_is_run_by_a_test() {
    let mut pages: Vec<String> = std::fs::read_dir(docs())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .filter(|n| !commands(n).is_empty())
        .collect();
    pages.sort();
    let mut covered: Vec<String> = RUN_HERE
        .iter()
        .copied()
        .chain(RUN_ELSEWHERE.iter().map(|(p, _)| *p))
        .map(str::to_owned)
        .collect();
    covered.sort();
    assert_eq!(
        pages, covered,
        "each page with ```sh commands needs a test that runs them (tests/e2e/docs_pages.rs)"
    );
    // fuzzing.md: what it shows is what scripts/fuzz.sh (run by the test command) runs.
    let fuzzing = commands("fuzzing.md");
    assert!(
        fuzzing.iter().any(|c| c.ends_with("./scripts/fuzz.sh")),
        "{fuzzing:?}"
    );
    let root = Path::new(cordon_test_artifacts::ROOT);
    let script = std::fs::read_to_string(root.join("scripts/fuzz.sh")).unwrap();
    assert!(
        script.contains(
            r#"cargo fuzz run --fuzz-dir fuzz "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \"#
        ),
        "scripts/fuzz.sh runs the command docs/fuzzing.md shows"
    );
    let one = fuzzing
        .iter()
        .find(|c| c.contains("cargo fuzz run"))
        .unwrap();
    assert!(
        one.contains("cargo fuzz run --fuzz-dir fuzz authority target/fuzz-corpus/authority fuzz/corpus/authority -- -max_total_time="),
        "{one}"
    );
    let test_sh = std::fs::read_to_string(root.join("scripts/test.sh")).unwrap();
    assert!(
        test_sh.contains("./scripts/fuzz.sh"),
        "the test command fuzzes"
    );
}

/// docs/signing.md: make a key, sign an unsigned component, verify it, run it.
#[test]
fn the_signing_page_runs_as_written() {
    let lines = commands("signing.md");
    assert_eq!(lines.len(), 4, "{lines:?}");
    let dir = temp_dir("docs-signing");
    // The page's `tool.wasm`: any unsigned component; here the echo example.
    std::fs::copy(cordon_test_artifacts::ECHO, dir.join("tool.wasm")).unwrap();
    let keygen = run_line(&lines[0], &dir, &[]);
    // The trust store the page's reader writes, naming the key keygen printed.
    trust_the_key_of(&keygen, &dir.join("trust.toml"));
    run_line(&lines[1], &dir, &[]);
    assert!(dir.join("tool.signed.wasm").is_file());
    run_line(&lines[2], &dir, &[]);
    let ran = stdout(&run_line(&lines[3], &dir, &[]));
    assert_eq!(json_in(&ran), serde_json::json!({}), "{ran}");
}

/// docs/decisions.md: the example bundle's tests, then one decision, from the checkout; then the
/// bundle put in force on a server, and a call it holds approved.
#[test]
fn the_decisions_page_runs_as_written() {
    let lines = commands("decisions.md");
    assert_eq!(lines.len(), 6, "{lines:?}");
    let root = Path::new(cordon_test_artifacts::ROOT);
    let tested = stdout(&run_line(&lines[0], root, &[]));
    assert!(tested.ends_with("11 passed, 0 failed\n"), "{tested}");
    let decided = json_in(&stdout(&run_line(&lines[1], root, &[])));
    assert_eq!(decided["permits"], true, "{decided}");
    assert_eq!(
        decided["decision"]["approval"],
        serde_json::json!({"approvers": ["role:admin"], "timeout_secs": 900})
    );

    // In force on a server: the conformance toolbox's confirm_delete (it deletes, by its name)
    // waits for an admin when an invoker calls it.
    let f = fixture("docs-decisions");
    let s = Server::start(&f.data);
    let (status, body) = s.publish(&f.publisher, &f.signed.join("conformance.wasm"));
    assert_eq!(status, 201, "{body}");
    let admin = [("CORDON_API_KEY".to_owned(), f.admin.clone())];
    let on = |line: &str, id: &str| {
        line.replace("127.0.0.1:7878", &s.addr.to_string())
            .replace("ex_019ae7c4d2a81f3b9c04e2d1", id)
    };
    let applied = run_line(&on(&lines[2], ""), root, &admin);
    let said = String::from_utf8_lossy(&applied.stderr).into_owned();
    assert!(
        applied.status.success() && said.contains("in force on"),
        "{said}"
    );
    let shown = json_in(&stdout(&run_line(&on(&lines[3], ""), root, &admin)));
    assert_eq!(shown["bundle"]["package"], "cordon", "{shown}");
    // It decides publishing too: a publisher's tool that reaches the network is refused (the
    // repository's policies open http-get's), one that does not is published.
    let (status, refused) = s.publish(&f.publisher, &f.signed.join("http_get.wasm"));
    assert_eq!(
        (status, &refused["error"]["code"]),
        (403, &serde_json::json!("denied_by_policy")),
        "{refused}"
    );
    let (status, body) = s.publish(&f.publisher, &f.signed.join("echo.wasm"));
    assert_eq!(status, 201, "{body}");
    let (status, held) = s.json(
        "POST",
        "/v1/tools/confirm_delete/invoke",
        Some(&f.invoker),
        br#"{"filename": "report.txt"}"#,
    );
    assert_eq!(
        (status, &held["status"]),
        (202, &serde_json::json!("awaiting_approval")),
        "{held}"
    );
    let id = held["execution_id"].as_str().unwrap();
    let listed = json_in(&stdout(&run_line(&on(&lines[4], id), root, &admin)));
    assert_eq!(listed["approvals"][0]["execution_id"], id, "{listed}");
    let approved = json_in(&stdout(&run_line(&on(&lines[5], id), root, &admin)));
    assert_eq!(approved["state"], "approved", "{approved}");
    assert_eq!(approved["reason"], "ticket 4711", "{approved}");
    assert_eq!(s.count(&f.auditor, "approval.grant"), 1);
}

/// docs/long-running.md: `cordon run` with progress, then an asynchronous call followed by
/// polling and by its events, and a cancel, against a server with the primes tool.
#[test]
fn the_long_running_page_runs_as_written() {
    let lines = commands("long-running.md");
    assert_eq!(lines.len(), 5, "{lines:?}");
    let root = Path::new(cordon_test_artifacts::ROOT);
    // `cordon run` from the checkout, as the page says.
    let ran = stdout(&run_line(&lines[0], root, &[]));
    assert_eq!(json_in(&ran)["primes"], 664_579, "{ran}");

    let f = fixture("docs-long-running");
    let s = Server::start(&f.data);
    let (status, body) = s.publish(&f.publisher, &f.signed.join("primes.wasm"));
    assert_eq!(status, 201, "{body}");
    let env = [("KEY".to_owned(), f.invoker.clone())];
    let dir = temp_dir("docs-long-running-dir");
    let at = |line: &str, id: &str| {
        line.replace("127.0.0.1:7878", &s.addr.to_string())
            .replace("ex_019ae7c4d2a81f3b9c04e2d1", id)
            .replace("ex_...", id)
    };
    let started = stdout(&run_line(&at(&lines[1], ""), &dir, &env));
    assert!(started.starts_with("HTTP/1.1 202"), "{started}");
    let id = json_in(&started)["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let polled = json_in(&stdout(&run_line(&at(&lines[2], &id), &dir, &env)));
    assert_eq!(polled["execution_id"], id.as_str(), "{polled}");
    // The events stream ends with the result.
    let events = stdout(&run_line(&at(&lines[3], &id), &dir, &env));
    assert!(events.contains("event: result"), "{events}");
    assert!(events.contains("\"primes\":664579"), "{events}");
    // A cancel, of a call still running (the one above has ended).
    let again = stdout(&run_line(&at(&lines[1], ""), &dir, &env));
    let running = json_in(&again)["execution_id"].as_str().unwrap().to_owned();
    let cancelled = json_in(&stdout(&run_line(&at(&lines[4], &running), &dir, &env)));
    assert_eq!(cancelled["execution_id"], running.as_str(), "{cancelled}");
    assert!(
        cancelled["cancel_requested_by"].is_string()
            || cancelled["outcome"] == "cancelled"
            || cancelled["status"] == "finished",
        "{cancelled}"
    );
}

/// docs/distribution.md: an author builds, signs and pushes to a registry (over TLS with a CA of
/// its own, credentials from a Docker config as `docker login` leaves them), a publisher has a
/// server pull and publish it; then a push without a tag.
#[test]
fn the_distribution_page_runs_as_written() {
    use crate::oci_publish::{PASSWORD, USER, serve};
    use cordon_test_registry::{Options, TestCa, TestRegistry};
    let lines = commands("distribution.md");
    assert_eq!(lines.len(), 7, "{lines:?}");
    let f = fixture("docs-distribution");
    let ca = TestCa::new().unwrap();
    let registry = TestRegistry::start(&Options {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..ca.options()
    })
    .unwrap();
    let host = registry.host();
    let dir = temp_dir("docs-distribution-dir");
    // What `docker login` leaves, and the registry's CA for the author's machine.
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({ "auths": { host.clone(): { "auth": auth } } }).to_string(),
    )
    .unwrap();
    let ca_file = f.data.join("registry-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let mut env = vec![
        ("DOCKER_CONFIG".to_owned(), docker.display().to_string()),
        (
            "CORDON_REGISTRY_CA".to_owned(),
            ca_file.display().to_string(),
        ),
    ];
    let root = cordon_test_artifacts::ROOT;
    let mut server: Option<Server> = None;
    let mut outputs = Vec::new();
    for line in &lines {
        let mut line = line
            .replace("registry.example.com", &host)
            .replace("/path/to/cordon", root);
        if let Some(assignment) = line.strip_prefix("export ") {
            let (name, _) = assignment.split_once('=').unwrap();
            assert_eq!(name, "CORDON_API_KEY", "{line}");
            env.push((name.to_owned(), f.publisher.clone()));
            continue;
        }
        if line.contains("cordon publish") {
            // The fleet: a server trusting the author's key, reaching the registry with its
            // CA and its own login.
            trust_the_key_of(&outputs[0], &f.data.join("trust.toml"));
            let secret_key = crate::harness::new_secret_key();
            crate::harness::set_secret(&f.data, &secret_key, "registry-password", PASSWORD);
            let s = serve(
                &f,
                &secret_key,
                &format!(
                    "[registries]\nallow_private = [\"127.0.0.0/8\"]\nca = [\"registry-ca.pem\"]\n\
                     [[registries.login]]\nregistry = \"{host}\"\nusername = \"{USER}\"\n\
                     password_secret = \"registry-password\"\n"
                ),
                &[],
                "docs-distribution",
            );
            line = line.replace("https://cordon.example.com", &format!("http://{}", s.addr));
            server = Some(s);
        }
        outputs.push(run_line(&line, &dir, &env));
    }
    let pushed = stdout(&outputs[3]);
    assert!(
        pushed.contains(&format!("oci://{host}/tools/echo:0.1.0@sha256:")),
        "{pushed}"
    );
    // The server published what the author pushed, pinned by digest, as the page shows.
    let s = server.expect("the page publishes");
    let (status, tool) = s.json("GET", "/v1/tools/echo", Some(&f.publisher), b"");
    assert_eq!(status, 200, "{tool}");
    let text = tool.to_string();
    assert!(text.contains("\"version\":\"0.1.0\""), "{text}");
    assert!(
        text.contains(&format!("oci://{host}/tools/echo:0.1.0@sha256:")),
        "{text}"
    );
    // Without a tag, the tag is the signed version.
    let untagged = stdout(outputs.last().unwrap());
    assert!(
        untagged.contains(&format!("oci://{host}/tools/echo:0.1.0@sha256:")),
        "{untagged}"
    );
}
