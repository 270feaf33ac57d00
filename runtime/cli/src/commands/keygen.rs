//! `cordon keygen`: a new ed25519 signing key in a file only its owner can read.

use clap::Args;
use cordon_trust::PrivateKey;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600). Never overwritten.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = PrivateKey::generate()?;
    key.write_new(&args.out)?;
    let id = key.key_id();
    println!("private key: {}", args.out.display());
    // The key id is the public key itself (`ed25519:` and its 32 bytes, base64url): safe to
    // share, and what a trust store names.
    println!("key id:      {id}");
    println!("             (the key id is the public key: share it freely)");
    println!();
    println!("Trust it by adding it to a trust store, e.g. trust.toml:");
    println!("[publishers]");
    println!("me = [\"{id}\"]");
    Ok(ExitCode::SUCCESS)
}
