//! `cordon sign`: signs a component for the name and version its own `describe()` returns.

use super::SandboxArgs;
use clap::Args;
use cordon_core::Limits;
use cordon_trust::PrivateKey;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The component to sign (an existing signature is replaced).
    pub tool: PathBuf,
    /// The private key file (from `cordon keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the signed component (default: TOOL with `.signed.wasm`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub async fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = PrivateKey::read(&args.key)?;
    let bytes = super::read_component(&args.tool)?;
    // The name and version come from the component itself, run in the sandbox, so a signature
    // cannot claim to be another tool.
    let sandbox = args.sandbox.sandbox()?;
    let progress = super::progress::spinner(format!(
        "signing {} ({:.1} MB): compiling it and asking it its name and version",
        args.tool.display(),
        bytes.len() as f64 / 1e6
    ));
    let admitted = cordon_host::admission::admit(
        &sandbox,
        &bytes,
        cordon_host::admission::SignatureCheck::AllowUnsigned,
        &Limits::default(),
    )
    .await;
    progress.finish_and_clear();
    let admitted = admitted?;
    let info = &admitted.toolbox;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let signed = cordon_trust::sign_component(&bytes, &key, &info.name, &info.version, now)
        .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
    let out = args
        .out
        .unwrap_or_else(|| args.tool.with_extension("signed.wasm"));
    std::fs::write(&out, &signed)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    println!("signed:  {}", out.display());
    println!("digest:  sha256:{}", admitted.tool.digest());
    println!("tool:    {} {}", info.name, info.version);
    if info.tools.len() > 1 {
        let names: Vec<&str> = info.tools.iter().map(|t| t.name.as_str()).collect();
        println!("tools:   {}", names.join(", "));
    }
    println!("key id:  {}", key.key_id());
    Ok(ExitCode::SUCCESS)
}
