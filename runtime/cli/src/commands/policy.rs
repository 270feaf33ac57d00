//! `cordon policy`: `check` validates policy files and prints each effective policy (defaults
//! filled in, server caps checked) as JSON, exit code 0 when every file is valid; `apply`
//! puts a folder of policies (`<tool>.toml`, kept in git, say) in force on a server, hence on
//! every node sharing its store; `show` prints a tool's policy and its history.

use super::client::{ServerArgs, agent, enc, finish, key, read_json};
use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_core::{Limits, Policy};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files and print the effective policies.
    Check {
        /// Policy files (`<tool>.toml`; docs/policy.md).
        files: Vec<PathBuf>,
    },
    /// Put every `<tool>.toml` of a folder in force on a server (an admin key in
    /// CORDON_API_KEY): each is checked here first, then set for every version of that tool on
    /// every node. Tools not published yet are skipped (they keep the closed default until
    /// they are, and `apply` runs again).
    Apply {
        /// The folder of `<tool>.toml` policies (the same layout `cordon serve --policies`
        /// reads).
        dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A tool's policy on a server and who changed it when.
    Show {
        /// The tool's published name.
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn policy(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Check { files } => check(files),
        PolicyCommand::Apply { dir, server } => apply(&dir, &server),
        PolicyCommand::Show { name, server } => {
            let response = agent()
                .get(format!("{}/v1/tools/{}/policy", server.server, enc(&name)))
                .header("authorization", format!("Bearer {}", key()?))
                .call()
                .with_context(|| format!("cannot reach {}", server.server))?;
            finish(response)
        }
    }
}

fn check(files: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in files {
        let checked = Policy::load(&path).and_then(|p| {
            let limits = p.effective_limits(&Limits::default(), &Limits::server_caps(), &path)?;
            Ok((p.describe(&limits), p.warnings()))
        });
        match checked {
            Ok((effective, warnings)) => {
                for w in &warnings {
                    eprintln!("warning: {}: {w}", path.display());
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "file": path,
                        "policy": effective,
                        "warnings": warnings,
                    }))?
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What `apply` did with one file.
enum Applied {
    Changed(usize),
    Unchanged,
    NotPublished,
}

fn apply(dir: &Path, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let key = key()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("no <tool>.toml policies in {}", dir.display());
    }
    let progress = super::progress::spinner(format!(
        "applying {} policies to {}: each tool is admitted again under its policy",
        files.len(),
        server.server
    ));
    let mut failed = 0;
    let mut lines = Vec::new();
    for path in &files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match apply_one(path, &name, server, &key) {
            Ok(Applied::Changed(n)) => {
                lines.push(format!("{name}: set ({n} versions now run under it)"))
            }
            Ok(Applied::Unchanged) => lines.push(format!("{name}: unchanged")),
            Ok(Applied::NotPublished) => {
                lines.push(format!("{name}: skipped, not published on this server"))
            }
            Err(e) => {
                failed += 1;
                lines.push(format!("{name}: refused: {e:#}"));
            }
        }
    }
    progress.finish_and_clear();
    for line in lines {
        eprintln!("{line}");
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} policies refused; the others are in force",
            files.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn apply_one(path: &Path, name: &str, server: &ServerArgs, key: &str) -> anyhow::Result<Applied> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The same checks as `policy check`, before anything is sent.
    let policy = Policy::parse(&text, path, path.parent().unwrap_or(Path::new(".")))?;
    policy.effective_limits(&Limits::default(), &Limits::server_caps(), path)?;
    let response = agent()
        .put(format!("{}/v1/tools/{}/policy", server.server, enc(name)))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/toml")
        .send(text.as_bytes())
        .with_context(|| format!("cannot reach {}", server.server))?;
    let status = response.status().as_u16();
    let answer = read_json(response)?;
    match status {
        200 => Ok(match answer["versions_changed"].as_u64() {
            Some(0) | None => Applied::Unchanged,
            Some(n) => Applied::Changed(n as usize),
        }),
        404 => Ok(Applied::NotPublished),
        _ => anyhow::bail!(
            "{} ({})",
            answer["error"]["message"].as_str().unwrap_or("refused"),
            answer["error"]["code"].as_str().unwrap_or("error")
        ),
    }
}
