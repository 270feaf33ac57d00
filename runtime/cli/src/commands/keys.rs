//! `cordon keys`: API keys for the server, managed directly in its data directory. A new key is
//! printed once; only its hash is stored.

use super::secret::DataArgs;
use clap::{Args, Subcommand};
use cordon_core::Role;
use cordon_storage::{Embedded, Storage};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, publisher, invoker or auditor.
        #[arg(long)]
        role: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or name.
    Revoke { key: String },
}

pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.dir()?;
    std::fs::create_dir_all(&dir)?;
    let store = Embedded::open(&dir, true)?;
    let now = crate::server::state::now_ms();
    match args.command {
        KeysCommand::Create { name, role } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("{role:?} is not a role (admin, publisher, invoker, auditor)")
            })?;
            let new = store.create_key(&name, role, now)?;
            eprintln!(
                "created key {} ({}, {}); it is shown only now:",
                new.key.id, new.key.name, role
            );
            println!("{}", new.secret);
        }
        KeysCommand::List => {
            for k in store.keys()? {
                let state = if k.revoked_at_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{}", k.id, k.name, k.role, state);
            }
        }
        KeysCommand::Revoke { key } => {
            if !store.revoke_key(&key, now)? {
                anyhow::bail!("no active key {key}");
            }
            eprintln!("revoked {key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
