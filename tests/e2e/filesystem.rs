//! Filesystem policy under a hostile guest: nothing outside the mounts, no escape through `..`
//! or links, read-only means read-only, and the guest sees only its own mounts.

use crate::common::{SANDBOX, temp_dir, tool};
use cordon_core::{Limits, Outcome, Policy};
use cordon_test_artifacts as guests;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Host directories for one test: `ro/` (read-only, holds `hello.txt`) and `rw/` (read-write),
/// and a file outside both that must stay unreachable.
struct Dirs {
    root: PathBuf,
    ro: PathBuf,
    rw: PathBuf,
}

fn dirs(name: &str) -> Dirs {
    let root = temp_dir(name);
    let ro = root.join("ro");
    let rw = root.join("rw");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("hello.txt"), "hello from the mount").unwrap();
    std::fs::write(root.join("outside.txt"), "must never be read").unwrap();
    Dirs { root, ro, rw }
}

fn policy(d: &Dirs) -> Policy {
    let text = format!(
        "[[filesystem.mounts]]\nhost = {:?}\nguest = \"/ro\"\nmode = \"read-only\"\n\n\
         [[filesystem.mounts]]\nhost = {:?}\nguest = \"/rw\"\nmode = \"read-write\"\n",
        d.ro.display().to_string(),
        d.rw.display().to_string()
    );
    Policy::parse(&text, Path::new("fs.toml"), Path::new("/")).unwrap()
}

/// Runs the probe with `ops` and returns (ok, detail) per op.
async fn probe(d: &Dirs, ops: Value) -> Vec<(bool, String)> {
    probe_exec(d, ops).await.1
}

/// Runs the probe and also returns the execution (for its usage report).
async fn probe_exec(d: &Dirs, ops: Value) -> (cordon_core::Execution, Vec<(bool, String)>) {
    let grants = policy(d)
        .grants(Limits::default(), |_| None, Path::new("fs.toml"))
        .unwrap();
    let exec = SANDBOX
        .call(
            &tool(guests::FS_PROBE),
            &json!({ "ops": ops }).to_string(),
            &grants,
        )
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    let results = exec
        .output
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["ok"].as_bool().unwrap(),
                o["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (exec, results)
}

fn op(op: &str, path: &str, arg: &str) -> Value {
    json!({ "op": op, "path": path, "arg": arg })
}

#[tokio::test]
async fn reads_inside_the_mount_work() {
    let d = dirs("fs-read");
    let r = probe(
        &d,
        json!([op("read", "/ro/hello.txt", ""), op("list", "/ro", "")]),
    )
    .await;
    assert_eq!(r[0], (true, "hello from the mount".to_owned()));
    assert_eq!(r[1], (true, "hello.txt".to_owned()));
}

#[tokio::test]
async fn nothing_outside_the_mounts_is_reachable() {
    let d = dirs("fs-outside");
    let outside = d.root.join("outside.txt").display().to_string();
    let paths = [
        "/etc/passwd",
        "/proc/self/environ",
        "outside.txt",
        "../outside.txt",
        "/ro/../outside.txt",
        "/ro/../../etc/passwd",
        "/rw/../../../../etc/passwd",
        outside.as_str(),
    ];
    let ops: Vec<Value> = paths.iter().map(|p| op("read", p, "")).collect();
    let r = probe(&d, Value::Array(ops)).await;
    for (path, (ok, detail)) in paths.iter().zip(&r) {
        assert!(!ok, "{path} was readable: {detail}");
        assert!(
            !detail.contains("must never be read") && !detail.contains("root:"),
            "{detail}"
        );
    }
    // The root is not a mount: the guest cannot list anything but its own mounts.
    let r = probe(&d, json!([op("list", "/", ""), op("list", "/rw/..", "")])).await;
    assert!(!r[0].0 && !r[1].0, "{r:?}");
}

#[tokio::test]
async fn read_only_mount_refuses_every_mutation() {
    let d = dirs("fs-readonly");
    let (exec, r) = probe_exec(
        &d,
        json!([
            op("write", "/ro/hello.txt", "overwritten"),
            op("append", "/ro/hello.txt", "more"),
            op("create", "/ro/new.txt", ""),
            op("delete", "/ro/hello.txt", ""),
            op("rename", "/ro/hello.txt", "/ro/renamed.txt"),
            op("mkdir", "/ro/sub", ""),
            op("symlink", "/ro/link", "hello.txt"),
            op("hardlink", "/ro/hard", "/ro/hello.txt"),
        ]),
    )
    .await;
    for (i, (ok, detail)) in r.iter().enumerate() {
        assert!(
            !ok,
            "mutation {i} succeeded under a read-only mount: {detail}"
        );
    }
    // Each refusal the host made is in the usage report.
    let denials: Vec<String> = exec
        .usage
        .denials
        .iter()
        .map(|d| {
            assert_eq!(d.kind, cordon_core::DenialKind::Filesystem);
            format!("{}: {}", d.target, d.reason)
        })
        .collect();
    for expected in [
        "open-at hello.txt: not-permitted",
        "open-at new.txt: not-permitted",
        "unlink-file-at hello.txt: not-permitted",
        "rename-at hello.txt -> renamed.txt: not-permitted",
        "create-directory-at sub: not-permitted",
    ] {
        assert!(
            denials.iter().any(|d| d == expected),
            "{expected} not in {denials:?}"
        );
    }
    // The host directory is untouched.
    assert_eq!(
        std::fs::read_to_string(d.ro.join("hello.txt")).unwrap(),
        "hello from the mount"
    );
    let mut names: Vec<_> = std::fs::read_dir(&d.ro)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["hello.txt"]);
}

#[tokio::test]
async fn read_write_mount_writes_but_links_cannot_escape() {
    let d = dirs("fs-readwrite");
    // A symlink planted inside the read-write mount that points outside it.
    std::os::unix::fs::symlink(d.root.join("outside.txt"), d.rw.join("planted")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.rw.join("planted-abs")).unwrap();
    let (exec, r) = probe_exec(
        &d,
        json!([
            op("write", "/rw/note.txt", "written by the guest"),
            op("read", "/rw/note.txt", ""),
            op("read", "/rw/planted", ""),
            op("read", "/rw/planted-abs", ""),
            op("symlink", "/rw/escape", "../outside.txt"),
            op("read", "/rw/escape", ""),
            op("symlink", "/rw/escape-abs", "/etc/passwd"),
            op("read", "/rw/escape-abs", ""),
            op("hardlink", "/rw/pw", "/etc/passwd"),
            op("hardlink", "/rw/copy", "/ro/hello.txt"),
            op("rename", "/rw/note.txt", "/ro/note.txt"),
            op("hardlink", "/rw/planted-again", "/rw/planted"),
            op("symlink", "/rw/inside", "note.txt"),
            op("read", "/rw/inside", ""),
        ]),
    )
    .await;
    assert!(r[0].0, "{:?}", r[0]);
    assert_eq!(r[1], (true, "written by the guest".to_owned()));
    // A link that stays in the mount is made and works.
    assert!(r[12].0, "{:?}", r[12]);
    assert_eq!(r[13], (true, "written by the guest".to_owned()));
    for (i, (ok, detail)) in r.iter().enumerate().skip(2).take(10) {
        // Links pointing out are not even created (they would stay on the host for other
        // programs to follow), and nothing follows one out.
        assert!(!ok, "op {i} escaped the mount: {detail}");
        assert!(
            !detail.contains("must never be read") && !detail.contains("root:"),
            "{detail}"
        );
    }
    // Following a link out of the mount reached the host and was refused there: reported.
    let targets: Vec<&str> = exec
        .usage
        .denials
        .iter()
        .map(|d| d.target.as_str())
        .collect();
    assert!(targets.contains(&"open-at planted"), "{targets:?}");
    let reason = |target: &str| {
        exec.usage
            .denials
            .iter()
            .find(|d| d.target == target)
            .map(|d| d.reason.clone())
            .unwrap_or_else(|| panic!("no denial for {target}: {targets:?}"))
    };
    assert_eq!(
        reason("symlink-at ../outside.txt -> escape"),
        "symbolic link target is absolute or climbs with .."
    );
    assert_eq!(
        reason("symlink-at /etc/passwd -> escape-abs"),
        "symbolic link target is absolute or climbs with .."
    );
    assert_eq!(
        reason("link-at planted -> planted-again"),
        "hard link to a symbolic link"
    );
    for made in ["escape", "escape-abs", "planted-again"] {
        assert!(
            std::fs::symlink_metadata(d.rw.join(made)).is_err(),
            "{made} exists on the host"
        );
    }
    assert_eq!(
        std::fs::read_to_string(d.rw.join("note.txt")).unwrap(),
        "written by the guest"
    );
    assert!(!d.ro.join("note.txt").exists());
}
