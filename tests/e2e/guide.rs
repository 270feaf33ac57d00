//! `docs/authoring.md` runs as written: its commands and files are extracted from the page and
//! run in order, in one shell, in a fresh directory outside the checkout, from an empty
//! directory to a tool published on a real server and invoked there.
//!
//! What the test changes, and why: `cargo install`, the build of `cordon` and `rustup target
//! add` are skipped (the `cordon` just built is put first on `PATH`, the test command's demo
//! check runs that same build, and the target is installed by the test command);
//! `/path/to/cordon` becomes this checkout; the server's port becomes a free one; the guest's
//! build directory is a persistent one under `target/` (`CARGO_TARGET_DIR`), so later runs
//! reuse the compiled dependencies.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// The script a page's blocks make: ```` ```sh ```` blocks are commands, ```` ```LANG file=PATH
/// ```` blocks are files written where the shell is at that point, ```` ```text output ````
/// blocks are text the run must print. Returns (script, expected outputs).
fn script(page: &str, repo: &str, port: u16, target_dir: &str) -> (String, Vec<String>) {
    let subst = |line: &str| {
        line.replace("/path/to/cordon", repo)
            .replace("127.0.0.1:7878", &format!("127.0.0.1:{port}"))
            .replace(
                "target/wasm32-wasip2/release/",
                &format!("{target_dir}/wasm32-wasip2/release/"),
            )
    };
    let mut out =
        String::from("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n");
    let mut expected = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let words: Vec<&str> = info.split_whitespace().collect();
        match words.as_slice() {
            ["sh"] => {
                for cmd in body {
                    let skipped = cmd.starts_with("cargo install")
                        || cmd.starts_with("rustup target add")
                        || cmd.contains("cargo build -p cordon");
                    if !skipped {
                        writeln!(out, "{}", subst(cmd)).unwrap();
                    }
                }
            }
            [_, file] if file.starts_with("file=") => {
                let path = &file["file=".len()..];
                writeln!(out, "cat > {path} <<'GUIDE_EOF'").unwrap();
                for l in body {
                    writeln!(out, "{}", subst(l)).unwrap();
                }
                writeln!(out, "GUIDE_EOF").unwrap();
            }
            ["text", "output"] => expected.push(body.join("\n")),
            _ => {}
        }
    }
    (out, expected)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_authoring_guide_runs_as_written_from_an_empty_directory() {
    let repo = cordon_test_artifacts::ROOT;
    let page = std::fs::read_to_string(Path::new(repo).join("docs/authoring.md")).unwrap();
    let target_dir = Path::new(repo).join("target/guide");
    let (script, expected) = script(&page, repo, free_port(), target_dir.to_str().unwrap());
    assert!(
        script.contains("cordon publish"),
        "the guide must publish:\n{script}"
    );
    assert!(
        script.contains("cordon invoke"),
        "the guide must invoke:\n{script}"
    );
    assert!(!expected.is_empty(), "the guide shows what run prints");

    let dir = std::env::temp_dir().join(format!("cordon-guide-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_cordon"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The whole walk is bounded: a step that waits for ever fails the test instead of hanging it.
    let out = Command::new("timeout")
        .args(["600", "bash", "-c"])
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CORDON_API_KEY")
        .env_remove("CORDON_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the guide failed\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for text in &expected {
        assert!(
            stdout.contains(text.as_str()),
            "the guide shows {text:?}; the run printed\n{stdout}"
        );
    }
    // The invoke on the server answered with the tool's output and a recorded execution.
    let answer = stdout
        .match_indices("\n{\n")
        .filter_map(|(at, _)| {
            serde_json::Deserializer::from_str(&stdout[at..])
                .into_iter::<serde_json::Value>()
                .next()
                .and_then(Result::ok)
        })
        .filter(|v| v.get("execution_id").is_some())
        .last()
        .unwrap_or_else(|| panic!("no invoke answer in\n{stdout}"));
    assert_eq!(answer["outcome"], "ok", "{answer}");
    assert_eq!(answer["output"]["text"], "HELLO", "{answer}");
    let _ = std::fs::remove_dir_all(&dir);
}
