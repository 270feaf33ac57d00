//! `cordon policy check`: validates policy files and prints each effective policy (defaults
//! filled in, server caps checked) as JSON. Exit code 0 when every file is valid.

use clap::{Args, Subcommand};
use cordon_core::{Limits, Policy};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files and print the effective policies.
    Check { files: Vec<PathBuf> },
}

pub fn policy(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Check { files } = args.command;
    let mut failed = false;
    for path in files {
        let checked = Policy::load(&path).and_then(|p| {
            let limits = p.effective_limits(&Limits::default(), &Limits::server_caps(), &path)?;
            Ok(p.describe(&limits))
        });
        match checked {
            Ok(effective) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "file": path,
                        "policy": effective,
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
