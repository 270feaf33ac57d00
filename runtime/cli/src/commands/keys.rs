//! `cordon keys`: API keys for the server, managed directly in its store (the data directory's,
//! or a shared database with `--database`): how the first admin key is made. A new key is
//! printed once; only its hash is stored.

use super::secret::DataArgs;
use clap::{Args, Subcommand};
use cordon_core::Role;
use cordon_storage::Actor;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub data: DataArgs,
    /// The shared PostgreSQL store (`postgres://...`) instead of the data directory's; prefer
    /// the environment variable, a flag's value shows in the process list.
    #[arg(long, env = "CORDON_DATABASE", hide_env_values = true, global = true)]
    pub database: Option<String>,
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
    /// List keys (never their secrets): a table, or JSON with --json (the default when stdout
    /// is not a terminal).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or name.
    Revoke { key: String },
}

pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.database {
        super::store::warn_if_on_command_line(url);
    }
    let store = super::store::open(&args.data.dir()?, args.database.as_deref(), true, Some(2))?;
    let now = crate::server::state::now_ms();
    match args.command {
        KeysCommand::Create { name, role } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("{role:?} is not a role (admin, publisher, invoker, auditor)")
            })?;
            let new = store.create_key(&name, role, now, &Actor::local())?;
            eprintln!(
                "created key {} ({}, {}); it is shown only now:",
                new.key.id, new.key.name, role
            );
            println!("{}", new.secret);
        }
        KeysCommand::List { json } => {
            let keys = store.keys()?;
            if super::table::wants_json(json) {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                use super::table::time;
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        let state = match k.revoked_at_ms {
                            Some(at) => format!("revoked {}", time(Some(at))),
                            None => "active".to_owned(),
                        };
                        vec![
                            k.id.clone(),
                            k.name.clone(),
                            k.role.to_string(),
                            time(Some(k.created_at_ms)),
                            time(k.last_used_at_ms),
                            state,
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    super::table::render(
                        &["ID", "NAME", "ROLE", "CREATED", "LAST USED", "STATE"],
                        &rows
                    )
                );
            }
        }
        KeysCommand::Revoke { key } => {
            if !store.revoke_key(&key, now, &Actor::local())? {
                anyhow::bail!("no active key {key}");
            }
            eprintln!("revoked {key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
