//! `cordon inspect`: runs `describe()` under the sandbox's limits and prints it as JSON.

use super::SandboxArgs;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The tool component (.wasm).
    pub tool: PathBuf,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub async fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let (sandbox, tool, limits) = args.sandbox.load(&args.tool)?;
    let info = sandbox.describe(&tool, &limits).await?;
    let mut value = serde_json::to_value(&info)?;
    value["digest"] = tool.digest().into();
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}
