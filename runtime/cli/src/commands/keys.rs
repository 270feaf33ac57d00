//! `cordon keys`: API keys. With `--server URL` through the server's API (an admin key in
//! `CORDON_API_KEY`); otherwise straight in a store, the data directory's or a shared database
//! (`--database`): how the first admin key is made. A new key is printed once; only its hash
//! is stored.

use super::client::{agent, enc, key as api_key, read_json};
use super::secret::DataArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_core::Role;
use cordon_storage::{Actor, KeySpec, Storage};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;

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
    /// Manage the keys of the server at this URL through its API (an admin key in
    /// CORDON_API_KEY) instead of writing a store directly (--data and --database are then
    /// not used).
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// The audit log's key, to seal the events a change writes in a store whose log a
    /// server already signs [default: <data>/log.key for the data directory's store; none for
    /// --database].
    #[arg(long, env = "CORDON_LOG_KEY", global = true)]
    pub log_key: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it once.
    Create {
        /// Unique, also after a revocation: 1-64 characters of A-Z a-z 0-9 _ . @ -.
        #[arg(long)]
        name: String,
        /// admin, publisher, invoker or auditor.
        #[arg(long)]
        role: String,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
        /// When it stops authenticating: an RFC 3339 time (2027-01-01T00:00:00Z) or a duration
        /// from now (90d, 12h) [default: never].
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<i64>,
    },
    /// List keys (never their secrets): a table, or JSON with --json (the default when stdout
    /// is not a terminal).
    List {
        /// Print JSON (one array of keys) even on a terminal.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or name.
    Revoke {
        /// The key's id (`cordon keys list` shows it) or its name.
        key: String,
    },
}

/// An expiry, in ms since the Unix epoch.
fn parse_expiry(text: &str) -> Result<i64, String> {
    super::client::parse_time(text, true)
}

pub fn keys(args: KeysArgs) -> anyhow::Result<ExitCode> {
    match args.server.clone() {
        Some(server) => over_api(&server, args.command),
        None => {
            if let Some(url) = &args.database {
                super::store::warn_if_on_command_line(url);
            }
            let dir = args.data.dir()?;
            let store = super::store::open(&dir, args.database.as_deref(), true, Some(2))?;
            if !matches!(args.command, KeysCommand::List { .. }) {
                // The data directory's key is its store's; a shared store's key is named.
                let key = args.log_key.clone().or_else(|| {
                    args.database
                        .is_none()
                        .then(|| dir.join(cordon_server::LOG_KEY_FILE))
                });
                seal_with(&store, key.as_deref())?;
            }
            in_store(&store, args.command)
        }
    }
}

/// Has the events this command appends sealed with the log key, when it has the key file. A
/// store no key has claimed yet (no server has started on it) takes them unsealed; one whose
/// log a server signs refuses them without the key, and says so.
fn seal_with(store: &Arc<dyn Storage>, key: Option<&std::path::Path>) -> anyhow::Result<()> {
    let Some(path) = key.filter(|p| p.exists()) else {
        return Ok(());
    };
    let audit = cordon_server::record::audit_log::AuditLog::open(
        path,
        &**store,
        cordon_server::AuditSettings::default(),
    )?;
    store.set_sealer(Arc::new(audit));
    Ok(())
}

fn role(text: &str) -> anyhow::Result<Role> {
    Role::parse(text).ok_or_else(|| {
        anyhow::anyhow!("{text:?} is not a role (admin, publisher, invoker, auditor)")
    })
}

fn in_store(store: &Arc<dyn Storage>, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let now = cordon_server::clock::now_ms();
    match command {
        KeysCommand::Create {
            name,
            role: r,
            description,
            expires,
        } => {
            let spec = KeySpec::new(&name, role(&r)?)
                .description(&description)
                .expires_at(expires);
            let new = store.create_key(&spec, now, &Actor::local())?;
            created(&new.key.id, &new.key.name, &r, &new.secret);
        }
        KeysCommand::List { json } => {
            // The same shape as the API's list, state included.
            let keys: Vec<Value> = store
                .keys()?
                .iter()
                .map(|k| {
                    let mut v = serde_json::to_value(k)?;
                    v["state"] = Value::from(k.state(now));
                    Ok(v)
                })
                .collect::<Result<_, serde_json::Error>>()?;
            show(&keys, json)?;
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

fn over_api(server: &str, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let auth = format!("Bearer {}", api_key()?);
    let reach = || format!("cannot reach {server}");
    let (status, answer) = match &command {
        KeysCommand::Create {
            name,
            role,
            description,
            expires,
        } => {
            // The API takes a lifetime: what is left until the expiry asked for, to the second
            // above (an hour from now is 3600 s from the server's now).
            let expires_in_secs = match expires {
                None => None,
                Some(at) => {
                    let left = at.saturating_sub(cordon_server::clock::now_ms());
                    if left <= 0 {
                        anyhow::bail!("the expiry must be in the future");
                    }
                    Some((left + 999) / 1000)
                }
            };
            let body = serde_json::json!({
                "name": name, "role": role, "description": description,
                "expires_in_secs": expires_in_secs,
            });
            let r = agent()
                .post(format!("{server}/v1/keys"))
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes())
                .with_context(reach)?;
            (r.status().as_u16(), read_json(r)?)
        }
        KeysCommand::List { .. } => {
            let r = agent()
                .get(format!("{server}/v1/keys"))
                .header("authorization", &auth)
                .call()
                .with_context(reach)?;
            (r.status().as_u16(), read_json(r)?)
        }
        KeysCommand::Revoke { key } => {
            let r = agent()
                .delete(format!("{server}/v1/keys/{}", enc(key)))
                .header("authorization", &auth)
                .call()
                .with_context(reach)?;
            let status = r.status().as_u16();
            (
                status,
                if status == 204 {
                    Value::Null
                } else {
                    read_json(r)?
                },
            )
        }
    };
    if !(200..300).contains(&status) {
        anyhow::bail!(
            "the server refused ({status} {}): {}",
            answer["error"]["code"].as_str().unwrap_or("error"),
            answer["error"]["message"].as_str().unwrap_or("no detail")
        );
    }
    match command {
        KeysCommand::Create { role, .. } => created(
            answer["id"].as_str().unwrap_or("?"),
            answer["name"].as_str().unwrap_or("?"),
            &role,
            answer["secret"].as_str().unwrap_or_default(),
        ),
        KeysCommand::List { json } => show(
            answer["keys"].as_array().map_or(&[][..], Vec::as_slice),
            json,
        )?,
        KeysCommand::Revoke { key } => eprintln!("revoked {key}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The new key on stdout (alone, for scripts), what it is on stderr.
fn created(id: &str, name: &str, role: &str, secret: &str) {
    eprintln!("created key {id} ({name}, {role}); it is shown only now:");
    println!("{secret}");
}

/// Keys as a table, or their JSON.
fn show(keys: &[Value], json: bool) -> anyhow::Result<()> {
    if super::table::wants_json(json) {
        println!("{}", serde_json::to_string_pretty(keys)?);
        return Ok(());
    }
    use super::table::time;
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let at = |f: &str| k[f].as_i64();
            let state = k["state"].as_str().unwrap_or("?");
            let state = match (state, at("revoked_at_ms"), at("expires_at_ms")) {
                ("revoked", r, _) => format!("revoked {}", time(r)),
                ("expired", _, e) => format!("expired {}", time(e)),
                (s, _, Some(e)) => format!("{s} until {}", time(Some(e))),
                (s, _, None) => s.to_owned(),
            };
            let text = |f: &str| k[f].as_str().unwrap_or("").to_owned();
            vec![
                text("id"),
                text("name"),
                text("role"),
                time(at("created_at_ms")),
                time(at("last_used_at_ms")),
                state,
                text("description"),
            ]
        })
        .collect();
    print!(
        "{}",
        super::table::render(
            &[
                "ID",
                "NAME",
                "ROLE",
                "CREATED",
                "LAST USED",
                "STATE",
                "DESCRIPTION"
            ],
            &rows
        )
    );
    Ok(())
}
