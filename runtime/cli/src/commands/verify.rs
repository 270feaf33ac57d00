//! `cordon verify`: checks a component's signature against a trust store and says whether it
//! would be admitted. Exit code 0: trusted; 1: rejected; 2: the command itself failed.

use super::SandboxArgs;
use clap::Args;
use cordon_core::Limits;
use cordon_host::admission::{AdmissionError, SignatureCheck, admit};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed component.
    pub tool: PathBuf,
    /// Trust store: a TOML file or a directory of `<publisher>.pub` files.
    #[arg(long, env = "CORDON_TRUST")]
    pub trust: PathBuf,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let bytes = super::read_component(&args.tool)?;
    let store = cordon_trust::TrustStore::load(&args.trust)?;
    let policy = args.sandbox.policy()?;

    // What the signature claims, shown even when it is not trusted.
    if let Ok(Some(section)) = cordon_trust::find_signature(&bytes) {
        let s = &section.statement;
        // The statement parser refuses stamps past year 9999, so this neither overflows nor
        // fails to format; the fallback is for safety only.
        let when = UNIX_EPOCH
            .checked_add(Duration::from_secs(s.signed_at))
            .filter(|_| s.signed_at <= cordon_trust::MAX_SIGNED_AT)
            .map_or_else(
                || format!("{} s after 1970", s.signed_at),
                |t| humantime::format_rfc3339_seconds(t).to_string(),
            );
        println!("digest:    sha256:{}", s.digest_hex());
        println!("tool:      {} {}", s.name, s.version);
        println!("key id:    {}", s.key);
        println!("signed at: {when}");
    }
    let sandbox = args.sandbox.sandbox()?;
    let check = SignatureCheck::Required {
        store: &store,
        publishers: policy.publishers.as_deref(),
    };
    match admit(&sandbox, &bytes, check, &Limits::default()).await {
        Ok(admitted) => {
            let publisher = admitted.verified.map(|v| v.publisher).unwrap_or_default();
            println!("publisher: {publisher}");
            println!("trusted:   yes");
            Ok(ExitCode::SUCCESS)
        }
        Err(AdmissionError::Signature(rejection)) => {
            println!("trusted:   no ({})", rejection.code());
            eprintln!("error: {rejection}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
