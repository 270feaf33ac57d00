//! Tries filesystem operations it is told to and reports each result instead of stopping at the
//! first error: the tests use it to probe every way out of (or into) a mount.

use cordon_sdk::Error;
use serde::{Deserialize, Serialize};
use std::fs;

#[derive(Deserialize, schemars::JsonSchema)]
struct Input {
    ops: Vec<Op>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Op {
    /// read, write, create, append, delete, rename, mkdir, rmdir, list, symlink, hardlink, stat
    op: String,
    path: String,
    /// Second path (rename, symlink and hardlink targets) or text to write.
    #[serde(default)]
    arg: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Outcome {
    op: String,
    path: String,
    ok: bool,
    detail: String,
}

fn run(op: &Op) -> std::io::Result<String> {
    match op.op.as_str() {
        "read" => fs::read_to_string(&op.path),
        "write" => fs::write(&op.path, &op.arg).map(|()| String::new()),
        "create" => fs::File::create_new(&op.path).map(|_| String::new()),
        "append" => {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(&op.path)?;
            f.write_all(op.arg.as_bytes()).map(|()| String::new())
        }
        "delete" => fs::remove_file(&op.path).map(|()| String::new()),
        "rename" => fs::rename(&op.path, &op.arg).map(|()| String::new()),
        "mkdir" => fs::create_dir(&op.path).map(|()| String::new()),
        "rmdir" => fs::remove_dir(&op.path).map(|()| String::new()),
        "list" => {
            let mut names: Vec<String> = fs::read_dir(&op.path)?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()?;
            names.sort();
            Ok(names.join(","))
        }
        "symlink" => symlink(&op.arg, &op.path).map(|()| String::new()),
        "hardlink" => fs::hard_link(&op.arg, &op.path).map(|()| String::new()),
        "stat" => fs::metadata(&op.path).map(|m| m.len().to_string()),
        other => Err(std::io::Error::other(format!("unknown op {other}"))),
    }
}

/// `std` has no stable symlink call on WASI: find the mount holding `link` and ask it directly.
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    for (dir, mount) in wasip2::filesystem::preopens::get_directories() {
        let prefix = format!("{}/", mount.trim_end_matches('/'));
        if let Some(relative) = link.strip_prefix(&prefix) {
            return dir
                .symlink_at(target, relative)
                .map_err(|e| std::io::Error::other(format!("{e:?}")));
        }
    }
    Err(std::io::Error::other("no mount holds the link path"))
}

#[cordon_sdk::tool(name = "fs-probe")]
fn probe(input: Input) -> Result<Vec<Outcome>, Error> {
    Ok(input
        .ops
        .iter()
        .map(|op| {
            let (ok, detail) = match run(op) {
                Ok(d) => (true, d),
                Err(e) => (false, e.to_string()),
            };
            Outcome {
                op: op.op.clone(),
                path: op.path.clone(),
                ok,
                detail,
            }
        })
        .collect())
}
