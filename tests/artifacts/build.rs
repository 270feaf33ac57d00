//! Builds every guest (the example tools in `tools/` and the hostile programs in
//! `tests/guests/examples/`) for wasm32-wasip2 and writes one path constant per guest.
//!
//! The guests are built by a nested cargo in their own workspace and target directory
//! (`target/wasm`), so this never contends for the host build's lock.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .join("../..")
        .canonicalize()
        .expect("repository root");
    for dir in ["tools", "tests/guests", "sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root.join("tools")).args([
        "build",
        "--release",
        "--workspace",
        "--lib",
        "--examples",
    ]);
    // The outer build's settings are for the host; the guests get their own.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the guests");
    assert!(
        status.success(),
        "building the guests failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );

    let out = root.join("target/wasm/wasm32-wasip2/release");
    let mut code = String::new();
    let mut tools = Vec::new();
    for entry in sorted_dir(&root.join("tools")) {
        if entry.join("Cargo.toml").is_file() {
            let name = file_name(&entry);
            tools.push(name.clone());
            constant(
                &mut code,
                &name,
                &out.join(format!("{}.wasm", name.replace('-', "_"))),
            );
        }
    }
    let mut hostile = Vec::new();
    for entry in sorted_dir(&root.join("tests/guests/examples")) {
        let name = file_name(&entry).trim_end_matches(".rs").to_owned();
        hostile.push(name.clone());
        constant(&mut code, &name, &out.join(format!("examples/{name}.wasm")));
    }
    // Components kept as they were built, to prove older ones still run (see the README there).
    for entry in sorted_dir(&root.join("tests/guests/prebuilt")) {
        let name = file_name(&entry);
        if let Some(stem) = name.strip_suffix(".wasm") {
            constant(&mut code, &stem.replace('.', "_"), &entry);
        }
    }
    let list = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("(\"{n}\", {})", n.replace('-', "_").to_uppercase()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(code, "/// Example tools: (crate name, path).").unwrap();
    writeln!(
        code,
        "pub const TOOLS: &[(&str, &str)] = &[{}];",
        list(&tools)
    )
    .unwrap();
    writeln!(code, "/// Hostile guests: (file stem, path).").unwrap();
    writeln!(
        code,
        "pub const HOSTILE: &[(&str, &str)] = &[{}];",
        list(&hostile)
    )
    .unwrap();
    writeln!(code, "/// The repository root.").unwrap();
    writeln!(
        code,
        "pub const ROOT: &str = {:?};",
        root.display().to_string()
    )
    .unwrap();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
}

fn sorted_dir(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    entries
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("named").to_string_lossy().into_owned()
}

fn constant(code: &mut String, name: &str, path: &Path) {
    assert!(
        path.is_file(),
        "guest {name} was not built at {}",
        path.display()
    );
    writeln!(code, "/// `{}`", path.display()).unwrap();
    writeln!(
        code,
        "pub const {}: &str = {:?};",
        name.replace('-', "_").to_uppercase(),
        path.display().to_string()
    )
    .unwrap();
}
