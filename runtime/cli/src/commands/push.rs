//! `cordon push`: puts a signed component in an OCI registry as a Wasm OCI artifact
//! (`cordon_oci::artifact`), the signature inside the component, and prints where it is, pinned
//! by its manifest digest.

use super::registry_args::RegistryArgs;
use clap::Args;
use cordon_oci::OciRef;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The signed component (`cordon sign`).
    pub tool: PathBuf,
    /// Where to push: oci://HOST[:PORT]/REPOSITORY[:TAG] (without a tag: the signed version).
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub async fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let reference = OciRef::parse(&args.reference)?;
    let bytes = super::read_component(&args.tool)?;
    let options = args.registry.options()?;
    let credentials = args.registry.credentials(&reference.registry)?;
    let progress = super::progress::spinner(format!(
        "pushing {} ({:.1} MB) to {reference}",
        args.tool.display(),
        bytes.len() as f64 / 1e6
    ));
    let pushed = cordon_oci::push(&reference, &bytes, &credentials, &options).await;
    progress.finish_and_clear();
    let pushed =
        pushed.map_err(|e| super::registry_args::explain(e, &reference, &args.registry))?;
    println!("pushed:  {}", pushed.reference);
    println!("digest:  {}", pushed.manifest_digest);
    println!("size:    {} bytes", pushed.size);
    Ok(ExitCode::SUCCESS)
}
