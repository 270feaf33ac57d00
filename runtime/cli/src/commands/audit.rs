//! `cordon audit verify --data DIR`: walks the execution log on disk and says whether it is
//! intact, naming every broken record. Exit code 0: intact; 1: tampered.

use super::secret::DataArgs;
use clap::{Args, Subcommand};
use cordon_storage::{Embedded, Storage};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of the execution log.
    Verify,
}

pub fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify = args.command;
    let dir = args.data.dir()?;
    let db = dir.join("cordon.db");
    anyhow::ensure!(db.exists(), "no execution log at {}", db.display());
    let report = Embedded::open(&dir, true)?.verify_log()?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
