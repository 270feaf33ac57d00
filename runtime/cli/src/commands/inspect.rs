//! `cordon inspect`: runs `describe()` under the sandbox's limits and prints it as JSON, with the
//! component's digest. For authors and operators looking at a component they hold; it does not
//! check signatures (`cordon verify` does).

use super::SandboxArgs;
use clap::Args;
use cordon_host::admission::{SignatureCheck, admit};
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
    let bytes = super::read_component(&args.tool)?;
    let sandbox = args.sandbox.sandbox()?;
    let limits = args.sandbox.limits(&args.sandbox.policy()?, &sandbox)?;
    let admitted = admit(&sandbox, &bytes, SignatureCheck::AllowUnsigned, &limits).await?;
    let toolbox = &admitted.toolbox;
    let mut value = serde_json::json!({
        "name": toolbox.name,
        "version": toolbox.version,
        "description": toolbox.description,
        "contract": admitted.tool.contract(),
        "digest": admitted.tool.digest(),
        "tools": toolbox.tools,
    });
    // A component of one tool shows its schemas at the top, as before toolboxes.
    if let [only] = toolbox.tools.as_slice() {
        value["input_schema"] = only.input_schema.clone();
        value["output_schema"] = serde_json::to_value(&only.output_schema)?;
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(ExitCode::SUCCESS)
}
