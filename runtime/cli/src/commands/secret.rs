//! `cordon secret`: manage the encrypted secret store. Values are read from stdin, never argv.

use clap::{Args, Subcommand};
use cordon_storage::secrets::{SecretStore, new_key};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(subcommand)]
    pub command: SecretCommand,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Where cordon keeps its state (secret store; later the registry and the execution log).
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data directory (default: $XDG_DATA_HOME/cordon or ~/.local/share/cordon).
    #[arg(long = "data", env = "CORDON_DATA", global = true)]
    pub dir: Option<PathBuf>,
}

impl DataArgs {
    pub fn dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .ok_or_else(|| anyhow::anyhow!("no data directory: give --data or set CORDON_DATA"))?;
        Ok(base.join("cordon"))
    }
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret; the value is read from stdin (a trailing newline is dropped).
    Set {
        /// The secret's name, as a policy's `[[network.credentials]]` or a registry login names
        /// it.
        name: String,
    },
    /// List secret names (never values).
    List,
    /// Delete a secret.
    Rm {
        /// The secret's name (`cordon secret list` shows them).
        name: String,
    },
    /// Print a new random key for CORDON_SECRET_KEY.
    NewKey,
}

pub fn secret(args: SecretArgs) -> anyhow::Result<ExitCode> {
    if let SecretCommand::NewKey = args.command {
        println!("{}", new_key()?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = SecretStore::open(&args.data.dir()?)?;
    match args.command {
        SecretCommand::Set { name } => {
            let mut value = String::new();
            std::io::stdin().read_to_string(&mut value)?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            store.set(&name, value)?;
            eprintln!("stored secret {name}");
        }
        SecretCommand::List => {
            for name in store.names() {
                println!("{name}");
            }
        }
        SecretCommand::Rm { name } => {
            if !store.remove(&name)? {
                anyhow::bail!("no secret named {name}");
            }
        }
        SecretCommand::NewKey => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}
